package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import org.jspecify.annotations.Nullable;

/**
 * The reads of one key of one cache on this node: {@code get}, {@code getIfPresent}, {@code
 * getAsync} and {@code get(key, loader)}. {@link BatchReads} builds {@code getAll} on them.
 *
 * <h2>Where a read is answered</h2>
 *
 * <ol>
 *   <li><b>The shard</b>, only for a key this node holds under its current ring. A held value
 *       remembers the ring epoch at which holdership was last confirmed, so a hit under an
 *       unchanged ring costs no encoding, hashing or ring lookup; the first read after a ring
 *       change re-checks, and a key that moved away is no longer answered here (its entry stays
 *       only until hand-off has copied it). This is what keeps read-your-writes through one node
 *       while members join and leave.
 *   <li><b>The near cache</b>, for keys held elsewhere: if configured, every value read from a
 *       holder; else the values the holder marked hot ({@link HotKeys}).
 *   <li><b>The holders</b>, in ring order, sharing one call among this node's concurrent readers of
 *       a key ({@link RemoteReads}). A holder that cannot be reached is skipped; a holder that is
 *       slow is waited for ({@code loadTimeout} when it may load, {@code remoteTimeout} when not),
 *       never skipped: routing around a live owner would load the key a second time.
 *   <li><b>A local load</b> ({@link LoadFlights}, {@link Loads}): kept when this node is the first
 *       reachable holder, only answered when no holder can be reached. Never on a client-only node,
 *       which holds no key and whose cache configuration's loader is never called: it asks the
 *       holders to load (with their loaders), and with none reachable a read that would load fails
 *       with {@link PeerUnavailableException}.
 * </ol>
 *
 * <p>A hit in the shard or the near cache is also shown to {@link Refreshes}, which reloads the key
 * in the background if its value is due ({@code refreshAfterWrite}); the hit answers at once.
 *
 * <p>Thread-safe. Blocking methods wait at most {@code loadTimeout} for a load and the call
 * deadlines for peers; asynchronous continuations never run on gRPC threads.
 */
final class ReadPath<K, V> {
  private final CacheScope<K, V> scope;
  private final LoadFlights<K, V> flights;
  private final LoadFlights<K, V> copies;
  private final Loads<K, V> loads;
  private final RemoteReads<K, V> remote;
  private final Refreshes<K, V> refreshes;

  /**
   * @param flights resolutions that may load
   * @param copies resolutions that only look for copies (reads without a loader); kept apart so a
   *     reader that may load never joins one that may not, and the other way round
   */
  ReadPath(
      CacheScope<K, V> scope,
      LoadFlights<K, V> flights,
      LoadFlights<K, V> copies,
      Loads<K, V> loads,
      RemoteReads<K, V> remote,
      Refreshes<K, V> refreshes) {
    this.scope = scope;
    this.flights = flights;
    this.copies = copies;
    this.loads = loads;
    this.remote = remote;
    this.refreshes = refreshes;
  }

  /** The held value of a key this node holds under the current ring, or null. */
  Shard.@Nullable Held<V> confirmedHit(Cluster cluster, K key) {
    return confirmed(cluster, key, scope.shard().get(key));
  }

  private Shard.@Nullable Held<V> confirmed(Cluster cluster, K key, Shard.@Nullable Held<V> held) {
    if (held != null && held.confirmedEpoch == cluster.ringEpoch()) {
      refreshes.onHit(key, held);
      return held;
    }
    return null;
  }

  /**
   * The value of {@code key} this node answers without routing the read, or null to route it: the
   * shard's value if it is confirmed under the current ring (counted as a hit), or, when the shard
   * has no entry for the key at all, the near cache's.
   *
   * <p>Looking at the near cache before routing spares a near hit the key's encoding, its hash and
   * the ring lookup, which were most of its cost. It answers no staler than routing first would: a
   * key can be near-cached here and held here only across a ring change, and the near copy is
   * bounded by the near cache's TTL and cleared by writes through this node either way. A key the
   * shard has an entry for is routed as before, so a holder's own copy is never shadowed by an
   * older near copy.
   */
  @Nullable V answerBeforeRouting(Cluster cluster, K key) {
    Shard.Held<V> held = scope.shard().get(key);
    if (held == null) {
      return nearHit(key);
    }
    Shard.Held<V> hit = confirmed(cluster, key, held);
    if (hit == null) {
      return null;
    }
    scope.counters().hits.increment();
    return hit.value();
  }

  /** The held value of {@code key} if {@code route} says this node holds it; confirms it. */
  Shard.@Nullable Held<V> heldUnder(KeyRoute route, K key) {
    if (!route.holdsHere()) {
      return null;
    }
    Shard.Held<V> held = scope.shard().get(key);
    if (held != null) {
      held.confirmedEpoch = route.epoch();
      refreshes.onHit(key, held);
    }
    return held;
  }

  /** The near-cached value of {@code key}, or null; a hit is shown to {@link Refreshes}. */
  @Nullable V nearHit(K key) {
    NearCache.Near<V> near = scope.near().get(key);
    if (near == null) {
      return null;
    }
    refreshes.onNearHit(key, near);
    return near.value();
  }

  private Duration readDeadline() {
    return scope.loader() != null ? scope.config().loadTimeout() : scope.config().remoteTimeout();
  }

  /** What a reader waits at most for a read that may load: the load, plus a call to the owner. */
  Duration readWait() {
    return scope.config().loadTimeout().plus(scope.config().remoteTimeout());
  }

  @Nullable V get(K key) {
    Cluster cluster = scope.clusters().get();
    V answer = answerBeforeRouting(cluster, key);
    if (answer != null) {
      return answer;
    }
    KeyRoute route = scope.router().route(cluster, key);
    Shard.Held<V> held = heldUnder(route, key);
    if (held != null) {
      scope.counters().hits.increment();
      return held.value();
    }
    if (route.holdsHere() && cluster.isSelf(route.owner())) {
      scope.counters().misses.increment();
      return LoadFlights.await(
          resolveHere(cluster, key, route), scope.config().loadTimeout(), scope.name());
    }
    return LoadFlights.await(readFromHolders(key, route), readWait(), scope.name());
  }

  /** Resolves a miss of a key this node holds: copies, then the cache's loader, once. */
  CompletableFuture<@Nullable V> resolveHere(Cluster cluster, K key, KeyRoute route) {
    CacheLoader<K, V> loader = scope.loader();
    if (loader != null) {
      return flights.join(key, () -> loads.resolve(key, route, loader, true));
    }
    if (cluster.recentRings().isEmpty()) {
      return CompletableFuture.completedFuture(null); // nobody else can have it
    }
    return copies.join(key, () -> loads.resolve(key, route, null, true));
  }

  @Nullable V getIfPresent(K key) {
    Cluster cluster = scope.clusters().get();
    V answer = answerBeforeRouting(cluster, key);
    if (answer != null) {
      return answer;
    }
    KeyRoute route = scope.router().route(cluster, key);
    if (route.holdsHere()) {
      Shard.Held<V> held = heldUnder(route, key);
      if (held != null) {
        scope.counters().hits.increment();
        return held.value();
      }
      scope.counters().misses.increment();
      if (cluster.recentRings().isEmpty()) {
        return null;
      }
      return LoadFlights.await(
          copies.join(key, () -> loads.resolve(key, route, null, true)),
          scope.config().loadTimeout(),
          scope.name());
    }
    V near = nearHit(key);
    if (near != null) {
      return near;
    }
    GetRequest request = getRequest(cluster, route, false);
    Duration deadline = scope.config().remoteTimeout();
    for (String holder : route.holders()) {
      try {
        GetResponse response =
            PeerCalls.await(
                PeerCalls.get(
                    cluster.client(holder), holder, deadline, scope.counters(), request, false));
        return response.getFound() ? scope.codec().decodeValue(response.getValue(), holder) : null;
      } catch (PeerCalls.PeerCallException e) {
        if (!e.isUnreachable()) {
          throw e.forRead(scope.name(), false, deadline);
        }
      }
    }
    return null;
  }

  CompletableFuture<@Nullable V> getAsync(K key) {
    try {
      Cluster cluster = scope.clusters().get();
      V answer = answerBeforeRouting(cluster, key);
      if (answer != null) {
        return CompletableFuture.completedFuture(answer);
      }
      KeyRoute route = scope.router().route(cluster, key);
      Shard.Held<V> held = heldUnder(route, key);
      if (held != null) {
        scope.counters().hits.increment();
        return CompletableFuture.completedFuture(held.value());
      }
      if (route.holdsHere() && cluster.isSelf(route.owner())) {
        scope.counters().misses.increment();
        return resolveHere(cluster, key, route); // completes on the node's executor
      }
      return onExecutor(readFromHolders(key, route));
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /** Hands a future completed on a gRPC thread to the node's executor, for the caller's sake. */
  private <T> CompletableFuture<T> onExecutor(CompletableFuture<T> future) {
    CompletableFuture<T> handed = new CompletableFuture<>();
    Completions.whenDone(
        future,
        (value, failure) -> {
          Runnable complete =
              () -> {
                if (failure != null) {
                  handed.completeExceptionally(failure);
                } else {
                  handed.complete(value);
                }
              };
          try {
            scope.executor().execute(complete);
          } catch (RejectedExecutionException closing) {
            complete.run(); // the node is closing; never leave the caller waiting
          }
        });
    return handed;
  }

  V get(K key, CacheLoader<? super K, ? extends V> loader, WritePath<K, V> writes) {
    Cluster cluster = scope.clusters().get();
    KeyRoute route = scope.router().route(cluster, key);
    String decider = firstReachableHolder(cluster, route);
    if (decider != null && cluster.isSelf(decider)) {
      Shard.Held<V> held = heldUnder(route, key);
      if (held != null) {
        scope.counters().hits.increment();
        return held.value();
      }
      scope.counters().misses.increment();
      V value =
          LoadFlights.await(
              flights.join(key, () -> loads.resolve(key, route, loader, true)),
              scope.config().loadTimeout(),
              scope.name());
      return requireNonNull(value, "a load with a loader answers a value");
    }
    V present = getIfPresent(key);
    if (present != null) {
      return present;
    }
    // The loader cannot travel: load here, then store it on the decider if still absent there.
    V loaded =
        requireNonNull(
            LoadFlights.await(
                flights.join(key, () -> loads.resolve(key, route, loader, false)),
                scope.config().loadTimeout(),
                scope.name()));
    try {
      if (writes.compareAndSet(key, null, loaded)) {
        return loaded;
      }
    } catch (PeerUnavailableException e) {
      return loaded; // no holder is reachable: answer like any read of an unreachable owner
    }
    V winner = getIfPresent(key);
    return winner != null ? winner : loaded;
  }

  /** The first holder that is this node or a peer not marked down, or null if none is. */
  static @Nullable String firstReachableHolder(Cluster cluster, KeyRoute route) {
    for (String holder : route.holders()) {
      if (cluster.isSelf(holder)) {
        return holder;
      }
      PeerClient peer = cluster.client(holder);
      if (peer != null && peer.isUp()) {
        return holder;
      }
    }
    return null;
  }

  /**
   * Asks the key's holders in ring order, sharing one call among this node's concurrent readers;
   * see the class documentation.
   */
  CompletableFuture<@Nullable V> readFromHolders(K key, KeyRoute route) {
    V near = nearHit(key);
    if (near != null) {
      return CompletableFuture.completedFuture(near);
    }
    return remote.join(key, read -> tryHolder(read, key, route, 0));
  }

  private void tryHolder(RemoteReads.Read<V> read, K key, KeyRoute route, int index) {
    Cluster cluster;
    try {
      cluster = scope.clusters().get();
    } catch (IllegalStateException closed) {
      read.answer.completeExceptionally(closed);
      return;
    }
    List<String> holders = route.holders();
    for (int i = index; i < holders.size(); i++) {
      String holder = holders.get(i);
      if (cluster.isSelf(holder)) {
        scope.counters().misses.increment(); // every holder before this one is unreachable
        complete(read, resolveHere(cluster, key, route), key, false);
        return;
      }
      int next = i + 1;
      boolean loading = scope.loader() != null;
      Duration deadline = readDeadline();
      GetRequest request = getRequest(cluster, route, loading);
      Completions.whenDone(
          PeerCalls.get(cluster.client(holder), holder, deadline, scope.counters(), request, true),
          (response, failure) -> {
            if (failure == null) {
              try {
                V value =
                    response.getFound()
                        ? scope.codec().decodeValue(response.getValue(), holder)
                        : null;
                if (value != null && remote.keeps(response.getHot())) {
                  // The near cache keeps a decoding of its own: the caller owns the value it is
                  // answered, and writing into it (a byte[]) must change no later read.
                  remote.keepNear(
                      read,
                      key,
                      scope.codec().decodeValue(response.getValue(), holder),
                      response.getAgeMillis(),
                      response.getHot());
                }
                read.answer.complete(value);
              } catch (RuntimeException e) {
                read.answer.completeExceptionally(e);
              }
            } else if (failure instanceof PeerCalls.PeerCallException failed) {
              if (failed.isUnreachable()) {
                tryHolder(read, key, route, next);
              } else {
                read.answer.completeExceptionally(failed.forRead(scope.name(), loading, deadline));
              }
            } else {
              read.answer.completeExceptionally(failure);
            }
          });
      return;
    }
    CacheLoader<K, V> loader = scope.loader();
    if (loader == null) {
      read.answer.complete(null);
      return;
    }
    if (cluster.isClientOnly()) {
      read.answer.completeExceptionally(noMemberReachable(route));
      return;
    }
    scope.counters().fallbackLoads.increment();
    complete(read, flights.join(key, () -> loads.resolve(key, route, loader, false)), key, true);
  }

  /**
   * What a client-only node answers a read that would load when no holder answers: it never loads
   * (its loader is the members'), so a read cannot be answered at all.
   */
  private PeerUnavailableException noMemberReachable(KeyRoute route) {
    return new PeerUnavailableException(
        route.owner(),
        "read of cache '"
            + scope.name()
            + "' on a client-only node: no holder of the key could be reached "
            + route.holders()
            + ", and a client-only node never loads; retry later",
        null);
  }

  private void complete(
      RemoteReads.Read<V> read, CompletableFuture<@Nullable V> value, K key, boolean keepNear) {
    Completions.whenDone(
        value,
        (v, failure) -> {
          if (failure != null) {
            read.answer.completeExceptionally(failure);
            return;
          }
          if (keepNear && v != null) {
            remote.keepNear(read, key, v, 0, false);
          }
          read.answer.complete(v);
        });
  }

  private GetRequest getRequest(Cluster cluster, KeyRoute route, boolean load) {
    return GetRequest.newBuilder()
        .setCache(scope.name())
        .setKey(ByteString.copyFrom(route.keyBytes()))
        .setLoad(load)
        .setCaller(cluster.self())
        .build();
  }
}
