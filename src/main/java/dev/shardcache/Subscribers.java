package dev.shardcache;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.AcknowledgeRequest;
import dev.shardcache.internal.proto.Invalidations;
import dev.shardcache.internal.proto.SubscribeRequest;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The client-only members subscribed to this member's invalidations, and the pushes to them.
 *
 * <p>A client-only member is in nobody's peer list, so the near-cache invalidations members send
 * each other ({@link Replication#invalidateNearCaches}) cannot reach it. Instead it keeps one
 * {@code Subscribe} stream open to each member, and a member pushes to its subscribers what its own
 * peers are sent: the keys of every write it applies as a holder (to the subscribers that asked for
 * the cache), and each clear it records. Pushes of hot keys are acknowledged ({@code Acknowledge}),
 * and the write waits for them as it waits for its peers; pushes of a near cache's keys are not, as
 * peers' are not.
 *
 * <p>Bounded: at most {@code max} subscribers at once (the next is refused with {@code
 * RESOURCE_EXHAUSTED} naming {@link ShardcacheNode.Builder#maxSubscribedClients}), each with at
 * most {@code maxQueuedBytes} waiting for the transport ({@link Subscriber}). Subscription ids are
 * random 64-bit numbers, so one client cannot acknowledge another's pushes by guessing.
 *
 * <p>Thread-safe. Nothing here blocks: a push only queues, and a member without subscribers pays
 * one map lookup per write.
 */
final class Subscribers implements AutoCloseable {
  /** The most bytes of invalidations one subscriber may fall behind before it is dropped. */
  static final int MAX_QUEUED_BYTES = 256 * 1024;

  /** The most caches one subscription may name. */
  static final int MAX_CACHES = 10_000;

  private final int max;
  private final int maxQueuedBytes;
  private final Supplier<String> self;
  private final Map<Long, Subscriber> byId = new ConcurrentHashMap<>();
  private final SecureRandom random = new SecureRandom();
  private boolean closed; // guarded by this

  /** A test's lossy network: pushes are dropped without a trace while true. */
  volatile boolean dropPushes;

  /**
   * @param self this node's address, for the messages of refusals
   */
  Subscribers(int max, int maxQueuedBytes, Supplier<String> self) {
    this.max = max;
    this.maxQueuedBytes = maxQueuedBytes;
    this.self = self;
  }

  /**
   * Serves a {@code Subscribe} call: registers the stream and sends its first message.
   *
   * @throws io.grpc.StatusRuntimeException {@code RESOURCE_EXHAUSTED} past the bound, {@code
   *     INVALID_ARGUMENT} for a malformed request, {@code UNAVAILABLE} once this node is closing
   */
  synchronized void subscribe(
      SubscribeRequest request, ServerCallStreamObserver<Invalidations> call) {
    if (closed) {
      throw Status.UNAVAILABLE
          .withDescription("node " + self.get() + " is closing; subscribe to the other members")
          .asRuntimeException();
    }
    Set<String> caches = new HashSet<>(request.getCachesList());
    if (caches.isEmpty() || caches.size() > MAX_CACHES) {
      throw Status.INVALID_ARGUMENT
          .withDescription(
              "a subscription names 1 to " + MAX_CACHES + " caches, got " + caches.size())
          .asRuntimeException();
    }
    if (byId.size() >= max) {
      throw Status.RESOURCE_EXHAUSTED
          .withDescription(
              "node "
                  + self.get()
                  + " already serves "
                  + max
                  + " client-only members, its maxSubscribedClients; raise"
                  + " ShardcacheNode.Builder.maxSubscribedClients on the members (each costs at"
                  + " most "
                  + maxQueuedBytes
                  + " bytes of queued invalidations), or use fewer clients")
          .asRuntimeException();
    }
    long id;
    do {
      id = random.nextLong();
    } while (id == 0 || byId.containsKey(id));
    long key = id;
    AtomicReference<@Nullable Subscriber> made = new AtomicReference<>();
    Subscriber subscriber =
        new Subscriber(
            id,
            request.getCaller(),
            caches,
            call,
            maxQueuedBytes,
            () -> {
              Subscriber ended = made.get();
              if (ended != null) {
                byId.remove(key, ended);
              }
            });
    made.set(subscriber);
    byId.put(id, subscriber);
    subscriber.start();
  }

  /**
   * Pushes an invalidation of {@code keys} of {@code cache} to the subscribers that asked for the
   * cache. With {@code acknowledged}, returns a future that completes once each has dropped its
   * copies (or its stream ended), or null if no subscriber wants the cache; without, returns null.
   */
  @Nullable CompletableFuture<Void> push(
      String cache, List<ByteString> keys, boolean acknowledged) {
    if (byId.isEmpty() || dropPushes) {
      return null;
    }
    List<CompletableFuture<Void>> acks = new ArrayList<>();
    for (Subscriber subscriber : byId.values()) {
      if (subscriber.wants(cache)) {
        CompletableFuture<Void> ack = subscriber.push(cache, keys, false, acknowledged);
        if (ack != null) {
          acks.add(ack);
        }
      }
    }
    return acks.isEmpty()
        ? null
        : CompletableFuture.allOf(acks.toArray(new CompletableFuture<?>[0]));
  }

  /** Tells the subscribers that asked for {@code cache} that it was cleared. */
  void pushClear(String cache) {
    if (dropPushes) {
      return;
    }
    for (Subscriber subscriber : byId.values()) {
      if (subscriber.wants(cache)) {
        CompletableFuture<Void> unused = subscriber.push(cache, List.of(), true, false);
      }
    }
  }

  /** Serves an {@code Acknowledge} call; an unknown subscription (it ended) is ignored. */
  void acknowledge(AcknowledgeRequest request) {
    Subscriber subscriber = byId.get(request.getSubscription());
    if (subscriber != null) {
      subscriber.acknowledge(request.getAck());
    }
  }

  /** The subscribers now; for tests and diagnostics. */
  int count() {
    return byId.size();
  }

  /** Ends every stream ({@code UNAVAILABLE}) and refuses new ones: this node is closing. */
  @Override
  public void close() {
    synchronized (this) {
      closed = true;
    }
    for (Subscriber subscriber : byId.values()) {
      subscriber.end(
          Status.UNAVAILABLE.withDescription(
              "node " + self.get() + " is closing; its subscribers drop their near copies"));
    }
  }
}
