package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.FetchRequest;
import dev.shardcache.internal.proto.FetchResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import dev.shardcache.ring.HashRing;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Asking a key's other holders for their copies before loading it: the first step of a miss in
 * {@link Loads}.
 *
 * <p>The holders asked are the key's other current holders (when the cache loads, since a load
 * costs more than a call) and its holders under the rings of the last minute ({@link
 * Cluster#recentRings()}), which may still have it while hand-off is under way. Each is asked once
 * for all the keys of a miss or a bulk, in one {@code Fetch}. The newest copy found is kept in the
 * shard, and the key's current holders that answered with an older copy, or with none, are sent it
 * (read repair).
 *
 * <h2>Invariants</h2>
 *
 * <ul>
 *   <li><b>"None" only when a holder said so.</b> A holder's answer about a key counts only if the
 *       holder answered about that key: a holder that failed, answered something unreadable, or
 *       left the key out of its answer to keep it within its byte bound, said nothing about it. It
 *       is neither repaired nor taken for a holder without a copy, and its copy, if any, is not
 *       lost to a load: the keys it left out are asked for again.
 *   <li><b>Bounded answers.</b> Each {@code Fetch} carries this node's {@code maxBatchBytes}; the
 *       holder answers within the smaller of that and its own bound ({@link BoundedAnswer}), and
 *       lists the keys it left out, which are asked of it again in further calls until none is
 *       left. Each answer that lists keys holds at least one of the keys asked (an answer that does
 *       not is taken as saying nothing about the rest), so asking again ends.
 *   <li>Only keys asked of a holder are read from its answer; a key it returns unasked is ignored.
 * </ul>
 *
 * <p>Blocking: waits for the calls (each within {@code remoteTimeout}), on the node's executor
 * inside a flight. Thread-safe.
 */
final class HolderCopies<K, V> {
  private static final Logger logger = Logger.getLogger(HolderCopies.class.getName());

  private final CacheScope<K, V> scope;

  HolderCopies(CacheScope<K, V> scope) {
    this.scope = scope;
  }

  /** What one holder said: the keys it answered about, and its version of those it had. */
  private static final class Said<K> {
    final Set<K> about = new HashSet<>();
    final Map<K, Version> versions = new HashMap<>();

    /** Whether it answered that it has no copy of {@code key}, or one older than {@code kept}. */
    boolean lacks(K key, Versioned<?> kept) {
      if (!about.contains(key)) {
        return false;
      }
      Version theirs = versions.get(key);
      return theirs == null || kept.version().isNewerThan(theirs);
    }
  }

  /**
   * Asks the key's other holders (if {@code includeCurrent}) and its holders under recent rings for
   * their copies; keeps the newest here, repairs current holders that had an older one, and returns
   * it (a value or a tombstone), or null if nobody had a copy.
   */
  @Nullable Versioned<V> copyOf(Cluster cluster, K key, KeyRoute route, boolean includeCurrent) {
    return copiesOf(cluster, Map.of(key, route), includeCurrent).get(key);
  }

  /**
   * {@link #copyOf} for many keys: one {@code Fetch} per other holder, naming every key it is asked
   * about (at most {@value CacheConfig#MAX_KEYS_PER_BATCH}, as a bulk is), then one for the keys
   * each left out, until none is left. Returns the copy kept for each key that anybody had.
   */
  Map<K, Versioned<V>> copiesOf(Cluster cluster, Map<K, KeyRoute> routes, boolean includeCurrent) {
    Map<String, Map<ByteString, K>> pending = new LinkedHashMap<>();
    for (Map.Entry<K, KeyRoute> keyRoute : routes.entrySet()) {
      KeyRoute route = keyRoute.getValue();
      Set<String> candidates = new LinkedHashSet<>();
      if (includeCurrent) {
        candidates.addAll(route.holders());
      }
      for (HashRing before : cluster.recentRings()) {
        candidates.addAll(scope.router().holders(before, route.hash()));
      }
      candidates.removeIf(cluster::isSelf);
      ByteString keyBytes = ByteString.copyFrom(route.keyBytes());
      for (String candidate : candidates) {
        pending
            .computeIfAbsent(candidate, c -> new LinkedHashMap<>())
            .put(keyBytes, keyRoute.getKey());
      }
    }
    Map<K, EntryCodec.Incoming<V>> newest = new HashMap<>();
    Map<String, Said<K>> said = new HashMap<>();
    while (!pending.isEmpty()) {
      pending = fetchRound(cluster, pending, newest, said);
    }
    Map<K, Versioned<V>> kept = new HashMap<>();
    newest.forEach(
        (key, copy) -> {
          KeyRoute route = requireNonNull(routes.get(key), "every key asked about has a route");
          Versioned<V> merged =
              scope
                  .shard()
                  .merge(
                      key, copy.entry(), copy.ageMillis(), route.holdsHere() ? route.epoch() : -1);
          if (merged == null) {
            return; // older than the last clear
          }
          scope.counters().fetchedCopies.increment();
          kept.put(key, merged);
          repair(cluster, key, route, merged, copy.ageMillis(), said);
        });
    return kept;
  }

  /**
   * Sends each holder in {@code asked} one {@code Fetch} of its keys and waits for every answer;
   * records the newest copy of each key in {@code newest} and what each holder said in {@code
   * said}. Returns, per holder, the keys it left out to keep its answer within its bound.
   */
  private Map<String, Map<ByteString, K>> fetchRound(
      Cluster cluster,
      Map<String, Map<ByteString, K>> asked,
      Map<K, EntryCodec.Incoming<V>> newest,
      Map<String, Said<K>> said) {
    Map<String, CompletableFuture<FetchResponse>> calls = new LinkedHashMap<>();
    asked.forEach(
        (candidate, keys) -> {
          FetchRequest request =
              FetchRequest.newBuilder()
                  .setCache(scope.name())
                  .addAllKeys(keys.keySet())
                  .setCaller(cluster.self())
                  .setMaxAnswerBytes(scope.maxBatchBytes())
                  .build();
          scope.counters().fetchCalls.increment();
          calls.put(
              candidate,
              PeerCalls.call(
                  cluster.recentClient(candidate),
                  candidate,
                  scope.config().remoteTimeout(),
                  scope.counters(),
                  stub -> stub.fetch(request)));
        });
    Map<String, Map<ByteString, K>> again = new LinkedHashMap<>();
    for (Map.Entry<String, PeerCalls.Outcome<FetchResponse>> answer :
        PeerCalls.awaitAll(calls).entrySet()) {
      FetchResponse response = answer.getValue().response();
      if (response == null) {
        continue; // failed: it said nothing about these keys
      }
      String candidate = answer.getKey();
      Map<ByteString, K> keys = requireNonNull(asked.get(candidate));
      Map<ByteString, K> rest = read(cluster, candidate, keys, response, newest, said);
      if (!rest.isEmpty()) {
        again.put(candidate, rest);
      }
    }
    return again;
  }

  /**
   * Reads one holder's answer to a {@code Fetch} of {@code keys}; returns the keys it left out, to
   * ask again (none if the answer's list of them is malformed: it then said nothing about them).
   */
  private Map<ByteString, K> read(
      Cluster cluster,
      String candidate,
      Map<ByteString, K> keys,
      FetchResponse response,
      Map<K, EntryCodec.Incoming<V>> newest,
      Map<String, Said<K>> said) {
    Said<K> theirs = said.computeIfAbsent(candidate, c -> new Said<>());
    Set<ByteString> answered = new HashSet<>();
    for (VersionedEntry wire : response.getEntriesList()) {
      K key = keys.get(wire.getKey());
      if (key == null) {
        continue; // not asked of this candidate
      }
      answered.add(wire.getKey());
      theirs.about.add(key); // an unreadable copy counts as none, so a repair replaces it
      try {
        EntryCodec.Incoming<V> copy = scope.codec().fromWire(cluster, wire, candidate);
        theirs.versions.put(key, copy.entry().version());
        EntryCodec.Incoming<V> best = newest.get(key);
        if (best == null || copy.entry().version().isNewerThan(best.entry().version())) {
          newest.put(key, copy);
        }
      } catch (RuntimeException e) {
        logger.log(Level.FINE, "Ignoring an unreadable copy from " + candidate, e);
      }
    }
    List<ByteString> order = new ArrayList<>(keys.keySet());
    Set<Integer> listed;
    try {
      listed =
          BoundedAnswer.checkedNotIncluded(
              response.getNotIncludedList(),
              order.size(),
              answered.size(),
              position -> answered.contains(order.get(position)));
    } catch (IllegalArgumentException e) {
      logger.log(
          Level.FINE,
          "Ignoring what "
              + candidate
              + " said about the keys it did not answer in a fetch of cache '"
              + scope.name()
              + "': "
              + e.getMessage());
      return Map.of();
    }
    Map<ByteString, K> rest = new LinkedHashMap<>();
    for (int position = 0; position < order.size(); position++) {
      ByteString bytes = order.get(position);
      K key = requireNonNull(keys.get(bytes));
      if (listed.contains(position)) {
        rest.put(bytes, key);
      } else if (!answered.contains(bytes)) {
        theirs.about.add(key); // answered: it has no copy
      }
    }
    return rest;
  }

  /**
   * Sends {@code kept} to the current holders that answered a fetch of {@code key} with an older
   * copy or none.
   */
  private void repair(
      Cluster cluster,
      K key,
      KeyRoute route,
      Versioned<V> kept,
      long ageMillis,
      Map<String, Said<K>> said) {
    VersionedEntry wire = null;
    for (String holder : route.holders()) {
      Said<K> theirs = said.get(holder);
      if (cluster.isSelf(holder) || theirs == null || !theirs.lacks(key, kept)) {
        continue; // this node, a holder that said nothing about the key, or one up to date
      }
      if (wire == null) {
        wire = scope.codec().toWire(ByteString.copyFrom(route.keyBytes()), kept, ageMillis);
      }
      scope.counters().repairs.increment();
      cluster.replicator().enqueue(holder, scope.name(), wire);
    }
  }
}
