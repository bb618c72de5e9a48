package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.RefreshRequest;
import dev.shardcache.internal.proto.RefreshResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Refresh-ahead ({@code refreshAfterWrite}) of one cache on this node: a read of a value written
 * too long ago answers it at once and starts one background reload of the key for the whole
 * cluster.
 *
 * <h2>One reload for the whole cluster</h2>
 *
 * A read that finds a due value calls {@link #onHit} (a hit in this node's shard, as the key's
 * owner or a replica, for its own caller or for a peer's {@code Get}) or {@link #onNearHit} (a hit
 * in its near cache). The key's first reachable holder decides, as for {@code compareAndSet}: the
 * owner, unless it is down. If that is this node it reloads the key here; otherwise it sends the
 * decider one {@code Refresh} call, which the decider serves as if one of its own readers had found
 * the key due. Each node keeps at most one refresh of a key in flight, its own reload or its call
 * to the decider, in one map, so its concurrent readers start at most one, and the decider's own
 * readers and every peer's call share its one reload. A node that holds no copy reads the key from
 * its owner with a {@code Get}, which is a hit there: that costs no call of its own.
 *
 * <p>The reload re-checks that the value is due when it starts, because of this interleaving: (1) a
 * replica's reader finds the old value due; (2) the owner's reload stores the new value, sends it
 * to the replica and leaves the map; (3) the replica's call arrives. The owner's value is fresh by
 * (3), so the call is answered at once and loads nothing.
 *
 * <h2>Never over a newer write</h2>
 *
 * The reload remembers the version of the value it refreshes, is stamped with a new version when it
 * starts (as a load is, so a write made while it runs is newer), and is stored with {@link
 * Shard#replaceIfVersion}: only if the live value still has the version it started from. In this
 * interleaving (1) the reload starts from v1, stamped v2; (2) a put is applied here, at v3; (3) the
 * reload ends, finds v3 and stores nothing. If the put is applied on a replica instead and reaches
 * this node after (3), it carries v3, newer than v2, and wins the merge here and on every holder. A
 * stored reload is then sent to the key's other holders and awaited as a write is ({@link
 * Replication#sendBeforeAck}), and every member's near cache drops the key.
 *
 * <h2>Cost, threads and failures</h2>
 *
 * A hit of a value that is not due costs one comparison of this node's clock with the value's write
 * time, and nothing when the cache does not refresh; nothing is allocated until a value is due.
 * Reloads run on the node's load executor, so they count against {@code maxConcurrentLoads}; when
 * it is full the refresh is skipped and a later read starts it. A peer's call never blocks a gRPC
 * thread: it is answered when the reload ends. A reload that fails keeps the old value; the failure
 * is logged at most once every {@value #LOG_INTERVAL_MILLIS} ms per cache (with the count of the
 * others), and a later read tries again.
 *
 * <p>Thread-safe. {@link #onHit} and {@link #onNearHit} never block and never throw.
 */
final class Refreshes<K, V> {
  private static final Logger logger = Logger.getLogger(Refreshes.class.getName());
  private static final long LOG_INTERVAL_MILLIS = 10_000;
  private static final RefreshResponse NOT_REFRESHED = RefreshResponse.getDefaultInstance();

  private final CacheScope<K, V> scope;
  private final Loads<K, V> loads;
  private final Replication<K, V> replication;
  private final LoadFlights<K, V> flights;
  private final LoadFlights<K, V> copies;
  private final RemoteReads<K, V> remote;

  /** {@code refreshAfterWrite} in milliseconds; -1 when the cache does not refresh. */
  private final long refreshMillis;

  /** This node's refresh of each key in flight: its reload, or its call to the decider. */
  private final ConcurrentMap<K, CompletableFuture<Boolean>> inFlight = new ConcurrentHashMap<>();

  /** When a failure was last logged; 0 (long ago) before the first. */
  private final AtomicLong lastLogMillis = new AtomicLong();

  private final AtomicLong unloggedFailures = new AtomicLong();

  Refreshes(
      CacheScope<K, V> scope,
      Loads<K, V> loads,
      Replication<K, V> replication,
      LoadFlights<K, V> flights,
      LoadFlights<K, V> copies,
      RemoteReads<K, V> remote) {
    this.scope = scope;
    this.loads = loads;
    this.replication = replication;
    this.flights = flights;
    this.copies = copies;
    this.remote = remote;
    this.refreshMillis = scope.config().refreshAfterWrite().map(Duration::toMillis).orElse(-1L);
  }

  /** A read found {@code held} in this node's shard: refreshes it if it is due. */
  void onHit(K key, Shard.Held<V> held) {
    if (refreshMillis >= 0 && isDue(held.writtenAtMillis)) {
      start(key);
    }
  }

  /** A read found {@code near} in this node's near cache: refreshes the key if it is due. */
  void onNearHit(K key, NearCache.Near<V> near) {
    if (refreshMillis >= 0 && isDue(near.writtenAtMillis())) {
      start(key);
    }
  }

  private boolean isDue(long writtenAtMillis) {
    return System.currentTimeMillis() - writtenAtMillis >= refreshMillis;
  }

  /**
   * The age to report with {@code value} when answering a peer's read of {@code key}: that of the
   * value this node holds, if it is that value; 0 otherwise, or when the cache does not refresh.
   */
  long ageOf(K key, V value) {
    if (refreshMillis < 0) {
      return 0;
    }
    Shard.Held<V> held = scope.shard().peek(key);
    return held != null && held.entry.value() == value ? scope.shard().ageMillis(held) : 0;
  }

  /** Starts the refresh of a due key, unless this node has one in flight; see the class doc. */
  private void start(K key) {
    if (inFlight.containsKey(key)) {
      return;
    }
    try {
      Cluster cluster = scope.clusters().get();
      KeyRoute route = scope.router().route(cluster, key);
      String decider = ReadPath.firstReachableHolder(cluster, route);
      if (decider == null) {
        return; // no holder can reload it now; a later read tries again
      }
      if (cluster.isSelf(decider)) {
        reloadHere(key);
      } else {
        ask(cluster, decider, key, route);
      }
    } catch (IllegalStateException closing) {
      // the node is closing: nothing is refreshed any more
    } catch (RuntimeException e) {
      failed(key, e); // a refresh never fails the read that found the value due
    }
  }

  /** Sends the decider one {@code Refresh} call for {@code key}, as this node's refresh of it. */
  private void ask(Cluster cluster, String decider, K key, KeyRoute route) {
    CompletableFuture<Boolean> mine = new CompletableFuture<>();
    if (inFlight.putIfAbsent(key, mine) != null) {
      return;
    }
    RefreshRequest request =
        RefreshRequest.newBuilder()
            .setCache(scope.name())
            .setKey(ByteString.copyFrom(route.keyBytes()))
            .setCaller(cluster.self())
            .build();
    scope.counters().refreshCalls.increment();
    Completions.whenDone(
        PeerCalls.read(
            cluster.client(decider),
            decider,
            scope.config().loadTimeout().plus(scope.config().remoteTimeout()),
            scope.counters(),
            stub -> stub.refresh(request)),
        (response, failure) -> {
          if (failure instanceof PeerCalls.PeerCallException call && !call.isUnreachable()) {
            failed(key, call); // an unreachable decider is logged by the peer's client
          }
          inFlight.remove(key, mine);
          mine.complete(response != null && response.getRefreshed());
        });
  }

  /**
   * Serves a peer's {@code Refresh} call: joins or starts this node's reload of the key if this
   * node holds it under its ring and its value is due; otherwise answers at once. Never blocks.
   */
  CompletableFuture<RefreshResponse> serve(RefreshRequest request) {
    scope.counters().peerRequests.increment();
    K key = scope.codec().decodeKey(request.getKey());
    if (refreshMillis < 0) {
      return CompletableFuture.completedFuture(NOT_REFRESHED);
    }
    KeyRoute route = scope.router().route(scope.clusters().get(), request.getKey().toByteArray());
    Shard.Held<V> held = route.holdsHere() ? scope.shard().peek(key) : null;
    if (held == null || !isDue(held.writtenAtMillis)) {
      return CompletableFuture.completedFuture(NOT_REFRESHED);
    }
    return reloadHere(key).thenApply(refreshed -> refreshed ? refreshedResponse() : NOT_REFRESHED);
  }

  private static RefreshResponse refreshedResponse() {
    return RefreshResponse.newBuilder().setRefreshed(true).build();
  }

  /**
   * Returns this node's reload of {@code key}, starting it on the load executor if none is in
   * flight; completes with whether it stored a new value.
   */
  private CompletableFuture<Boolean> reloadHere(K key) {
    CompletableFuture<Boolean> mine = new CompletableFuture<>();
    CompletableFuture<Boolean> running = inFlight.putIfAbsent(key, mine);
    if (running != null) {
      return running;
    }
    try {
      scope
          .executor()
          .execute(
              () -> {
                boolean refreshed = false;
                try {
                  refreshed = reload(key);
                } catch (IllegalStateException closing) {
                  // the node closed while the reload ran
                } catch (RuntimeException e) {
                  failed(key, e);
                } finally {
                  inFlight.remove(key, mine);
                  mine.complete(refreshed);
                }
              });
    } catch (RejectedExecutionException full) {
      inFlight.remove(key, mine); // every load thread is busy: a later read refreshes it
      mine.complete(false);
    }
    return mine;
  }

  /** The reload itself, on a load thread; returns whether it stored a new value. */
  private boolean reload(K key) {
    Cluster cluster = scope.clusters().get();
    KeyRoute route = scope.router().route(cluster, key);
    Shard.Held<V> held = route.holdsHere() ? scope.shard().peek(key) : null;
    if (held == null || !isDue(held.writtenAtMillis)) {
      return false; // moved away, gone, or refreshed by a reload that just ended
    }
    CacheLoader<K, V> loader =
        requireNonNull(scope.loader(), "CacheConfig refuses refreshAfterWrite without a loader");
    Version from = held.entry.version();
    Version version = new Version(cluster.clock().now(), cluster.writerId());
    Loads.LoadedValue<V> loaded = loads.callLoader(key, loader);
    Versioned<V> stored =
        scope
            .shard()
            .replaceIfVersion(key, from, Versioned.of(loaded.value(), version), route.epoch());
    if (stored == null) {
      scope.counters().refreshesDropped.increment();
      return false;
    }
    flights.detach(key);
    copies.detach(key);
    remote.detach(key);
    VersionedEntry wire =
        EntryCodec.toWire(ByteString.copyFrom(route.keyBytes()), loaded.bytes(), version, 0);
    boolean markedElsewhere = replication.sendBeforeAck(cluster, route.holders(), wire);
    replication.invalidateNearCaches(cluster, wire.getKey(), markedElsewhere);
    scope.counters().refreshes.increment();
    return true;
  }

  /** Counts a failed refresh and logs it, at most once every 10 s for this cache. */
  private void failed(K key, RuntimeException failure) {
    scope.counters().refreshFailures.increment();
    long now = System.currentTimeMillis();
    long last = lastLogMillis.get();
    if (now - last < LOG_INTERVAL_MILLIS || !lastLogMillis.compareAndSet(last, now)) {
      unloggedFailures.incrementAndGet();
      return;
    }
    long others = unloggedFailures.getAndSet(0);
    logger.log(
        Level.WARNING,
        "Refresh of key "
            + Loads.describe(key)
            + " of cache '"
            + scope.name()
            + "' failed; the old value is kept and a later read tries again"
            + (others > 0 ? " (" + others + " other refreshes failed since the last message)" : "")
            + " (logged at most every 10 s)",
        failure);
  }
}
