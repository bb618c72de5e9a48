package dev.shardcache;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import dev.shardcache.internal.proto.AcknowledgeRequest;
import dev.shardcache.internal.proto.AcknowledgeResponse;
import dev.shardcache.internal.proto.Invalidations;
import io.grpc.Status;
import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * A client-only node's subscriptions to the members' invalidations, and the gate of its near-cache
 * and hot-key copies.
 *
 * <h2>Why</h2>
 *
 * A client-only node is in nobody's peer list, so the near-cache invalidations members send each
 * other never reach it. Instead it keeps one {@code Subscribe} stream open to each member it knows
 * ({@link Subscription}), naming the caches it keeps copies of (those with a near cache or hot
 * keys), and each member pushes it the keys of the writes it applies and its clears ({@link
 * Subscribers}); hot keys' pushes are acknowledged, so a write of a hot key waits for this node as
 * it waits for members.
 *
 * <h2>The gate</h2>
 *
 * A cache keeps a copy only while the cache is <em>covered</em>: every member of the current ring
 * (every member this node may read a key from, hence every member that may apply a write of it) has
 * an open stream naming the cache. The covered set is recomputed whenever a stream opens or ends
 * and whenever the ring changes, and each cache that leaves or enters it has every copy dropped and
 * every read in flight detached ({@link RemoteReads#detachAll}): on leaving <em>after</em> it is
 * out of the set, on entering <em>before</em> it is in. So a copy that is kept was read wholly
 * within one period in which every ring member had registered this node's stream: a read in flight
 * across either edge is detached and not kept, and a write any member applies after the read pushes
 * its key here, in order with everything else on that stream. A stream that ends, for any reason
 * (the member closed or dropped it as too slow, the connection broke, the link was replaced), drops
 * every copy of its caches at once as well; the next stream opens after a back-off. Whatever
 * happens to the streams, a copy is never older than its cache's TTL (the near cache's, or the hot
 * keys' 1 s).
 *
 * <p>Streams are opened, replaced and closed by a tick every {@value #TICK_MILLIS} ms on one daemon
 * thread ({@code shardcache-subscriptions}): a stream for each configured member whose link is idle
 * and past its back-off; a stream replaced when the caches that keep copies change (a cache defined
 * after start); the link of a member that is no longer configured closed. Callbacks of the streams
 * run on gRPC threads and never block.
 *
 * <p>Thread-safe.
 */
final class Subscriptions implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(Subscriptions.class.getName());

  static final long TICK_MILLIS = 100;

  /** The deadline of one {@code Acknowledge}; the member waits less than this anyway. */
  static final Duration ACK_TIMEOUT = Duration.ofSeconds(5);

  private final String self;
  private final Supplier<Cluster> clusters;
  private final Supplier<Collection<DefaultDistributedCache<?, ?>>> caches;
  private final Function<String, @Nullable DefaultDistributedCache<?, ?>> cacheNamed;
  private final Map<String, Subscription> links = new ConcurrentHashMap<>();
  private final LogRateLimit refusals = new LogRateLimit(10_000);
  private final Subscription.Events events = new Events();
  private final ScheduledExecutorService thread =
      Executors.newSingleThreadScheduledExecutor(
          new ThreadFactoryBuilder()
              .setNameFormat("shardcache-subscriptions")
              .setDaemon(true)
              .build());

  private final Object gateLock = new Object();
  private volatile Set<String> covered = Set.of(); // written under gateLock

  /**
   * @param self this node's name, sent with each subscription
   * @param clusters the node's cluster; throws {@link IllegalStateException} while it does not run
   */
  Subscriptions(
      String self,
      Supplier<Cluster> clusters,
      Supplier<Collection<DefaultDistributedCache<?, ?>>> caches,
      Function<String, @Nullable DefaultDistributedCache<?, ?>> cacheNamed) {
    this.self = self;
    this.clusters = clusters;
    this.caches = caches;
    this.cacheNamed = cacheNamed;
  }

  /** Starts the tick. */
  void start() {
    ScheduledFuture<?> unused = // runs until close() shuts the thread down
        thread.scheduleWithFixedDelay(this::tick, 0, TICK_MILLIS, TimeUnit.MILLISECONDS);
  }

  /** Whether {@code cache} may keep copies now (the gate; see the class documentation). */
  boolean covers(String cache) {
    return covered.contains(cache);
  }

  /** The ring changed: a member that joined it may have no open stream yet. */
  void onRingChange() {
    updateGate();
  }

  private void tick() {
    try {
      Cluster cluster = clusters.get();
      Set<String> wanted = wantedCaches();
      Set<String> members = cluster.peers();
      links
          .entrySet()
          .removeIf(
              link -> {
                if (members.contains(link.getKey())) {
                  return false;
                }
                link.getValue().close();
                dropCopies(wanted);
                return true;
              });
      long now = System.nanoTime();
      for (String member : members) {
        Subscription link = links.computeIfAbsent(member, m -> new Subscription(m, events));
        PeerClient client = cluster.client(member);
        if (wanted.isEmpty() || client == null) {
          link.close();
        } else if (!link.carries(wanted) && (!link.isIdle() || link.mayOpen(now))) {
          // idle past its back-off, or running for other caches (one defined since): open anew
          link.open(client, self, wanted);
        }
      }
      updateGate();
    } catch (IllegalStateException notRunning) {
      // the node is starting or closing
    } catch (RuntimeException e) {
      logger.log(Level.WARNING, "Subscriptions of client " + self + " failed a round", e);
    }
  }

  /** The caches that keep copies of other holders' values. */
  private Set<String> wantedCaches() {
    Set<String> wanted = new HashSet<>();
    for (DefaultDistributedCache<?, ?> cache : caches.get()) {
      if (cache.keepsCopies()) {
        wanted.add(cache.name());
      }
    }
    return wanted;
  }

  /** Recomputes the covered caches and drops the copies of each that leaves or enters it. */
  private void updateGate() {
    synchronized (gateLock) {
      Set<String> next = coveredNow();
      Set<String> before = covered;
      if (next.equals(before)) {
        return;
      }
      Set<String> kept = new HashSet<>(before);
      kept.retainAll(next);
      Set<String> left = new HashSet<>(before);
      left.removeAll(next);
      Set<String> entered = new HashSet<>(next);
      entered.removeAll(before);
      covered = Set.copyOf(kept); // first out of the gate, then dropped
      dropCopies(left);
      dropCopies(entered); // first dropped, then into the gate
      covered = Set.copyOf(next);
    }
  }

  private Set<String> coveredNow() {
    Cluster cluster;
    try {
      cluster = clusters.get();
    } catch (IllegalStateException notRunning) {
      return Set.of();
    }
    Set<String> wanted = wantedCaches();
    for (String member : cluster.ring().nodes()) {
      Subscription link = links.get(member);
      if (link == null || !link.isOpenFor(wanted)) {
        return Set.of();
      }
    }
    return wanted;
  }

  private void dropCopies(Set<String> names) {
    for (String name : names) {
      DefaultDistributedCache<?, ?> cache = cacheNamed.apply(name);
      if (cache != null) {
        cache.dropAllCopies();
      }
    }
  }

  /** Cancels every stream and stops the tick; the node is closing. */
  @Override
  public void close() {
    thread.shutdownNow();
    links.values().forEach(Subscription::close);
    synchronized (gateLock) {
      covered = Set.of();
    }
  }

  /** What the streams tell: opened, a push, an end. */
  private final class Events implements Subscription.Events {
    @Override
    public void opened(Subscription link) {
      updateGate();
    }

    @Override
    public void pushed(Subscription link, long subscription, Invalidations message) {
      DefaultDistributedCache<?, ?> cache = cacheNamed.apply(message.getCache());
      if (cache != null) {
        if (message.getAll()) {
          cache.dropAllCopies();
        } else {
          cache.dropCopies(message.getKeysList());
        }
      }
      if (message.getAck() != 0) {
        acknowledge(link.member(), subscription, message.getAck());
      }
    }

    @Override
    public void ended(Subscription link, Set<String> streamCaches, Status status) {
      dropCopies(streamCaches);
      updateGate();
      if ((status.getCode() == Status.Code.RESOURCE_EXHAUSTED
              || status.getCode() == Status.Code.UNAUTHENTICATED
              || status.getCode() == Status.Code.UNIMPLEMENTED)
          && refusals.tryPass(System.currentTimeMillis())) {
        logger.log(
            Level.WARNING,
            "Client {0}: member {1} ended its subscription ({2}: {3}); near and hot copies are not"
                + " kept until it subscribes again",
            new Object[] {self, link.member(), status.getCode(), status.getDescription()});
      }
    }
  }

  /** Confirms a push to its member, so a write waiting for this node may answer. */
  private void acknowledge(String member, long subscription, long ack) {
    try {
      Cluster cluster = clusters.get();
      AcknowledgeRequest request =
          AcknowledgeRequest.newBuilder()
              .setCaller(self)
              .setSubscription(subscription)
              .setAck(ack)
              .build();
      CompletableFuture<AcknowledgeResponse> unused =
          PeerCalls.call(
              cluster.client(member),
              member,
              ACK_TIMEOUT,
              PeerCalls.Counter.NONE,
              stub -> stub.acknowledge(request));
    } catch (IllegalStateException closing) {
      // the node is closing: the member stops waiting at its own deadline
    }
  }
}
