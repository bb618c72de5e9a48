package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.FetchRequest;
import dev.shardcache.internal.proto.FetchResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import dev.shardcache.ring.HashRing;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * What this node does about a key it misses: the body of a {@link LoadFlights} flight.
 *
 * <h2>Ask before loading</h2>
 *
 * A holder that misses a key first asks for a copy: the key's other holders (when the cache loads,
 * since a load costs more than a call), and its holders under the rings of the last minute (see
 * {@link Cluster#recentRings()}), which may still have it while hand-off is under way. The newest
 * copy found is kept instead of loading; holders that answered with an older copy or none are sent
 * the newest (read repair). So a member that just joined takes over warm keys, a cache without a
 * loader keeps read-your-writes across a membership change, and a holder that lost its copy gets it
 * back.
 *
 * <h2>Loading</h2>
 *
 * A load is versioned when it <em>starts</em>, so a write made while it runs is newer and wins the
 * merge; the flight then answers the winning value, so every caller agrees on what the cache holds.
 * A load that loses to a delete or a clear is answered to the callers that asked before it, and not
 * kept. The loader is guarded: its exceptions, a null, a value the codec cannot encode or one over
 * {@code maxValueBytes} fail the load with {@link CacheLoadException} and cache nothing.
 *
 * <p>Blocking: runs on the node's executor, inside a flight. Thread-safe.
 */
final class Loads<K, V> {
  private static final Logger logger = Logger.getLogger(Loads.class.getName());

  private final CacheScope<K, V> scope;
  private final Replication<K, V> replication;

  Loads(CacheScope<K, V> scope, Replication<K, V> replication) {
    this.scope = scope;
    this.replication = replication;
  }

  /**
   * Resolves a miss of {@code key}. With {@code store} this node holds the key (or was asked as if
   * it did): it asks for copies, then loads with {@code loader} (if any), keeps the result and
   * queues it for the other holders. Without {@code store} it only loads and answers.
   *
   * @return the value, or null if there is no loader and no copy
   */
  @Nullable V resolve(
      K key, KeyRoute route, @Nullable CacheLoader<? super K, ? extends V> loader, boolean store) {
    Cluster cluster = scope.clusters().get();
    if (store) {
      Shard.Held<V> again = scope.shard().peek(key);
      if (again != null) {
        return again.value();
      }
      Versioned<V> copy = copyFromOtherHolders(cluster, key, route, loader != null);
      if (copy != null && !copy.isTombstone()) {
        return copy.value();
      }
    }
    if (loader == null) {
      return null;
    }
    Version version = new Version(cluster.clock().now(), cluster.writerId());
    LoadedValue<V> loaded = callLoader(key, loader);
    if (!store) {
      return loaded.value();
    }
    Versioned<V> entry = Versioned.of(loaded.value(), version);
    Versioned<V> winner =
        scope.shard().merge(key, entry, 0, route.holdsHere() ? route.epoch() : -1);
    @SuppressWarnings("ReferenceEquality") // did this very load win the merge?
    boolean won = winner == entry;
    if (won) {
      replication.enqueue(
          cluster,
          route.holders(),
          EntryCodec.toWire(ByteString.copyFrom(route.keyBytes()), loaded.bytes(), version, 0));
      return loaded.value();
    }
    if (winner != null && !winner.isTombstone()) {
      return winner.value(); // a write made while we loaded is newer: answer it
    }
    return loaded.value();
  }

  /** A value a loader answered, and its encoding (checked against {@code maxValueBytes}). */
  @SuppressWarnings("ArrayRecordComponent") // never compared or hashed
  record LoadedValue<T>(T value, byte[] bytes) {}

  /**
   * Calls {@code loader} for {@code key}, guarded and counted: its exceptions, a null, a value the
   * codec cannot encode or one over {@code maxValueBytes} fail with {@link CacheLoadException}.
   * Blocks for the loader; shared with {@link Refreshes}.
   */
  LoadedValue<V> callLoader(K key, CacheLoader<? super K, ? extends V> loader) {
    CacheCounters counters = scope.counters();
    String name = scope.name();
    long start = System.nanoTime();
    V value;
    try {
      value = loader.load(key);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      counters.loadFailures.increment();
      throw new CacheLoadException(
          "loader of cache '" + name + "' was interrupted loading key " + describe(key), e);
    } catch (Exception e) {
      counters.loadFailures.increment();
      throw new CacheLoadException(
          "loader of cache '" + name + "' failed for key " + describe(key) + ": " + e, e);
    } catch (Error e) {
      counters.loadFailures.increment();
      throw e;
    } finally {
      counters.loadTimeNanos.add(System.nanoTime() - start);
    }
    if (value == null) {
      counters.loadFailures.increment();
      throw new CacheLoadException(
          "loader of cache '"
              + name
              + "' returned null for key "
              + describe(key)
              + "; a loader must return a value or throw (nothing was cached)",
          null);
    }
    byte[] bytes;
    try {
      bytes = scope.config().valueCodec().encode(value);
    } catch (RuntimeException e) {
      counters.loadFailures.increment();
      throw new CacheLoadException(
          "value loaded for key "
              + describe(key)
              + " of cache '"
              + name
              + "' cannot be encoded by "
              + scope.config().valueCodec()
              + ": "
              + e,
          e);
    }
    if (bytes.length > scope.config().maxValueBytes()) {
      counters.loadFailures.increment();
      throw new CacheLoadException(
          "value loaded for key "
              + describe(key)
              + " of cache '"
              + name
              + "' is "
              + bytes.length
              + " bytes encoded, over maxValueBytes "
              + scope.config().maxValueBytes()
              + "; raise the limit or cache a smaller value (nothing was cached)",
          null);
    }
    counters.loadSuccesses.increment();
    return new LoadedValue<>(value, bytes);
  }

  /**
   * Asks the key's other holders (if {@code includeCurrent}) and its holders under recent rings for
   * their copies; keeps the newest here, repairs current holders that had an older one, and returns
   * it (a value or a tombstone), or null if nobody had a copy.
   */
  private @Nullable Versioned<V> copyFromOtherHolders(
      Cluster cluster, K key, KeyRoute route, boolean includeCurrent) {
    Set<String> candidates = new LinkedHashSet<>();
    if (includeCurrent) {
      candidates.addAll(route.holders());
    }
    for (HashRing before : cluster.recentRings()) {
      candidates.addAll(scope.router().holders(before, route.hash()));
    }
    candidates.removeIf(cluster::isSelf);
    if (candidates.isEmpty()) {
      return null;
    }
    FetchRequest request =
        FetchRequest.newBuilder()
            .setCache(scope.name())
            .addKeys(ByteString.copyFrom(route.keyBytes()))
            .setCaller(cluster.self())
            .build();
    Map<String, CompletableFuture<FetchResponse>> calls = new LinkedHashMap<>();
    for (String candidate : candidates) {
      scope.counters().fetchCalls.increment();
      calls.put(
          candidate,
          PeerCalls.call(
              cluster.recentClient(candidate),
              candidate,
              scope.config().remoteTimeout(),
              scope.counters(),
              stub -> stub.fetch(request)));
    }
    Versioned<V> newest = null;
    long newestAge = 0;
    Map<String, @Nullable Version> seen = new HashMap<>();
    for (Map.Entry<String, PeerCalls.Outcome<FetchResponse>> answer :
        PeerCalls.awaitAll(calls).entrySet()) {
      FetchResponse response = answer.getValue().response();
      if (response == null) {
        continue;
      }
      Version version = null;
      try {
        for (VersionedEntry wire : response.getEntriesList()) {
          EntryCodec.Incoming<V> copy = scope.codec().fromWire(cluster, wire, answer.getKey());
          version = copy.entry().version();
          if (newest == null || copy.entry().version().isNewerThan(newest.version())) {
            newest = copy.entry();
            newestAge = copy.ageMillis();
          }
        }
      } catch (RuntimeException e) {
        logger.log(Level.FINE, "Ignoring an unreadable copy from " + answer.getKey(), e);
      }
      seen.put(answer.getKey(), version);
    }
    if (newest == null) {
      return null;
    }
    Versioned<V> kept =
        scope.shard().merge(key, newest, newestAge, route.holdsHere() ? route.epoch() : -1);
    if (kept == null) {
      return null; // older than the last clear
    }
    scope.counters().fetchedCopies.increment();
    VersionedEntry wire = null;
    for (String holder : route.holders()) {
      if (!cluster.isSelf(holder) && seen.containsKey(holder)) {
        Version theirs = seen.get(holder);
        if (theirs == null || kept.version().isNewerThan(theirs)) {
          if (wire == null) {
            wire = scope.codec().toWire(ByteString.copyFrom(route.keyBytes()), kept, newestAge);
          }
          scope.counters().repairs.increment();
          cluster.replicator().enqueue(holder, scope.name(), requireNonNull(wire));
        }
      }
    }
    return kept;
  }

  static String describe(Object key) {
    String text = String.valueOf(key);
    return text.length() <= 100 ? "'" + text + "'" : "'" + text.substring(0, 100) + "...'";
  }
}
