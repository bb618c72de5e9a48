package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.Entry;
import dev.shardcache.internal.proto.GetAllRequest;
import dev.shardcache.internal.proto.GetAllResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The reads of many keys of one cache on this node: {@code getAll(keys)} and {@code getAll(keys,
 * loader)}, built on the single-key reads of {@link ReadPath}.
 *
 * <h2>One call per holder, one load per owner</h2>
 *
 * A {@code getAll} answers what it can here (keys this node holds, the near cache), asks each other
 * holder once for all of its keys (a {@code GetAll}, split into batches of {@value
 * CacheConfig#MAX_KEYS_PER_BATCH}), and resolves the keys this node holds but misses in one bulk
 * flight ({@link LoadFlights#ticketsAll}): the loader's {@code loadAll} is called once for them
 * (per {@value CacheConfig#MAX_KEYS_PER_BATCH} keys), and keys that another read is already loading
 * are awaited instead of being passed to it. The owner of a remote batch does the same with its
 * share ({@link PeerRequests}). So a {@code getAll} of cold keys costs each owner one {@code
 * loadAll}. A loader without a {@code loadAll} of its own ({@link Loads#loadsInBulk}) loads the
 * keys one by one instead, each its own flight, at most {@value
 * PeerRequests#BATCH_LOAD_CONCURRENCY} at a time.
 *
 * <p>A holder's answer is bounded in bytes by the smaller of both nodes' {@code maxBatchBytes}: the
 * request says this node's, and the holder lists the keys whose values did not fit ({@link
 * BoundedAnswer}). Those are asked for again, in further calls, each bounded the same way, until
 * every key is answered; a key left out is never taken for absent. Each answer holds at least one
 * value, so this ends after at most as many calls as keys (in practice, the batch's bytes over the
 * bound, plus one).
 *
 * <p>A key that {@code loadAll} leaves out has no value: it is missing from the answer, not a
 * failure ({@link Loads#isAbsent}). Any other failure of any key fails the whole call, once every
 * key has been waited for.
 *
 * <h2>With the caller's loader</h2>
 *
 * {@code getAll(keys, loader)} is {@code get(key, loader)} for many keys: the keys this node
 * decides are resolved here as above, with the given loader; the others are first asked of their
 * holders, without loading (one call per holder), and those still absent are loaded here, in the
 * same bulk as this node's own (the loader cannot travel), then stored on their owners if still
 * absent there (one compare-and-set per key), and the value that won is answered.
 *
 * <p>Thread-safe. Blocks for at most {@code loadTimeout} plus a call's deadline per wait. Futures
 * of peer calls complete on gRPC threads, whose callbacks here only complete other futures; the
 * fallback that reads a batch key by key runs on the node's executor.
 */
final class BatchReads<K, V> {
  private final CacheScope<K, V> scope;
  private final ReadPath<K, V> reads;
  private final WritePath<K, V> writes;
  private final LoadFlights<K, V> flights;
  private final Loads<K, V> loads;
  private final RemoteReads<K, V> remote;

  BatchReads(
      CacheScope<K, V> scope,
      ReadPath<K, V> reads,
      WritePath<K, V> writes,
      LoadFlights<K, V> flights,
      Loads<K, V> loads,
      RemoteReads<K, V> remote) {
    this.scope = scope;
    this.reads = reads;
    this.writes = writes;
    this.flights = flights;
    this.loads = loads;
    this.remote = remote;
  }

  /** A batch sent to one holder: its keys, and the values it answered. */
  private record Batch<K, V>(List<K> keys, CompletableFuture<Map<K, V>> answer) {}

  Map<K, V> getAll(Iterable<? extends K> keys) {
    Cluster cluster = scope.clusters().get();
    CacheLoader<K, V> loader = scope.loader();
    boolean bulk = loader != null && Loads.loadsInBulk(loader);
    Map<K, V> result = new LinkedHashMap<>();
    Map<K, Supplier<CompletableFuture<@Nullable V>>> singles = new LinkedHashMap<>();
    Map<K, KeyRoute> loadHere = new LinkedHashMap<>();
    Set<K> fallbacks = new HashSet<>();
    Map<String, Map<ByteString, K>> byHolder = new LinkedHashMap<>();
    for (K key : distinct(keys)) {
      KeyRoute route = answerHere(cluster, key, result);
      if (route == null) {
        continue;
      }
      String decider = ReadPath.firstReachableHolder(cluster, route);
      if (decider == null) {
        singles.put(key, () -> reads.readFromHolders(key, route)); // no holder reachable: fallback
        fallbacks.add(key);
      } else if (cluster.isSelf(decider)) {
        scope.counters().misses.increment();
        if (loader != null) {
          loadHere.put(key, route);
        } else {
          singles.put(key, () -> reads.resolveHere(cluster, key, route));
        }
      } else if (!answerNear(key, result)) {
        byHolder
            .computeIfAbsent(decider, h -> new LinkedHashMap<>())
            .put(ByteString.copyFrom(route.keyBytes()), key);
      }
    }
    List<Batch<K, V>> batches = readBatches(cluster, byHolder, loader != null, reads::get);
    Map<K, CompletableFuture<@Nullable V>> answers = new LinkedHashMap<>();
    if (loader != null && !loadHere.isEmpty()) {
      answers.putAll(
          bulk ? loadInBulk(loadHere, loadHere.keySet(), loader) : loadEach(loadHere, loader));
    }
    answers.putAll(startSingles(singles));
    Failures failures = new Failures();
    for (Map.Entry<K, CompletableFuture<@Nullable V>> answer : answers.entrySet()) {
      // A load here is waited for as by get: loadTimeout; a fallback read may also call a peer.
      Duration wait =
          fallbacks.contains(answer.getKey()) ? reads.readWait() : scope.config().loadTimeout();
      V value = failures.await(answer.getValue(), wait, scope.name());
      if (value != null) {
        result.put(answer.getKey(), value);
      }
    }
    for (Batch<K, V> batch : batches) {
      Map<K, V> found = failures.await(batch.answer(), reads.readWait(), scope.name());
      if (found != null) {
        result.putAll(found);
      }
    }
    failures.throwFirst();
    return result;
  }

  Map<K, V> getAll(Iterable<? extends K> keys, CacheLoader<? super K, ? extends V> loader) {
    Cluster cluster = scope.clusters().get();
    Map<K, V> result = new LinkedHashMap<>();
    Map<K, KeyRoute> routes = new HashMap<>();
    Map<K, KeyRoute> toLoad = new LinkedHashMap<>();
    Set<K> keep = new HashSet<>(); // decided here: kept here by the load
    Map<String, Map<ByteString, K>> byDecider = new LinkedHashMap<>();
    for (K key : distinct(keys)) {
      KeyRoute route = scope.router().route(cluster, key);
      String decider = ReadPath.firstReachableHolder(cluster, route);
      if (decider != null && cluster.isSelf(decider)) {
        Shard.Held<V> held = reads.heldUnder(route, key);
        if (held != null) {
          scope.counters().hits.increment();
          result.put(key, held.value());
        } else {
          scope.counters().misses.increment();
          toLoad.put(key, route);
          keep.add(key);
        }
      } else if (decider == null) {
        toLoad.put(key, route); // no holder reachable: answered, kept nowhere
      } else if (!answerNear(key, result)) {
        routes.put(key, route);
        byDecider
            .computeIfAbsent(decider, h -> new LinkedHashMap<>())
            .put(ByteString.copyFrom(route.keyBytes()), key);
      }
    }
    // Ask the deciders first, without loading, so that one loadAll covers every key still absent.
    Failures failures = new Failures();
    Set<K> storeOnDecider = new HashSet<>();
    for (Batch<K, V> batch : readBatches(cluster, byDecider, false, reads::getIfPresent)) {
      Map<K, V> found = failures.await(batch.answer(), reads.readWait(), scope.name());
      if (found == null) {
        continue;
      }
      result.putAll(found);
      for (K key : batch.keys()) {
        if (!found.containsKey(key)) {
          toLoad.put(key, requireNonNull(routes.get(key)));
          storeOnDecider.add(key);
        }
      }
    }
    Map<K, CompletableFuture<@Nullable V>> loading;
    if (toLoad.isEmpty()) {
      loading = Map.of();
    } else if (Loads.loadsInBulk(loader)) {
      loading = loadInBulk(toLoad, keep, loader);
    } else {
      Map<K, KeyRoute> held = new LinkedHashMap<>();
      Map<K, KeyRoute> unkept = new LinkedHashMap<>();
      toLoad.forEach((key, route) -> (keep.contains(key) ? held : unkept).put(key, route));
      loading = new LinkedHashMap<>(loadEach(held, loader));
      Map<K, Supplier<CompletableFuture<@Nullable V>>> singles = new LinkedHashMap<>();
      unkept.forEach(
          (key, route) ->
              singles.put(
                  key, () -> flights.join(key, () -> loads.resolve(key, route, loader, false))));
      loading.putAll(startSingles(singles));
    }
    for (Map.Entry<K, CompletableFuture<@Nullable V>> load : loading.entrySet()) {
      K key = load.getKey();
      V value = failures.await(load.getValue(), scope.config().loadTimeout(), scope.name());
      if (value == null) {
        continue;
      }
      if (!storeOnDecider.contains(key)) {
        result.put(key, value);
        continue;
      }
      try {
        result.put(key, storeIfAbsent(key, value));
      } catch (RuntimeException e) {
        failures.add(e);
      }
    }
    failures.throwFirst();
    return result;
  }

  /**
   * Stores a value this node loaded for a key another holder decides, if the key is still absent
   * there, and returns the value that won; as {@code get(key, loader)} does.
   */
  private V storeIfAbsent(K key, V loaded) {
    try {
      if (writes.compareAndSet(key, null, loaded)) {
        return loaded;
      }
    } catch (PeerUnavailableException e) {
      return loaded; // no holder is reachable: answer like any read of an unreachable owner
    }
    V winner = reads.getIfPresent(key);
    return winner != null ? winner : loaded;
  }

  private static <K> Set<K> distinct(Iterable<? extends K> keys) {
    Set<K> distinct = new LinkedHashSet<>();
    for (K key : keys) {
      distinct.add(requireNonNull(key, "keys must not contain null"));
    }
    return distinct;
  }

  /**
   * Puts the value of {@code key} in {@code result} if this node holds it, and returns null; else
   * returns the key's route.
   */
  private @Nullable KeyRoute answerHere(Cluster cluster, K key, Map<K, V> result) {
    Shard.Held<V> hit = reads.confirmedHit(cluster, key);
    if (hit != null) {
      scope.counters().hits.increment();
      result.put(key, hit.value());
      return null;
    }
    KeyRoute route = scope.router().route(cluster, key);
    Shard.Held<V> held = reads.heldUnder(route, key);
    if (held != null) {
      scope.counters().hits.increment();
      result.put(key, held.value());
      return null;
    }
    return route;
  }

  /** Puts the near-cached value of {@code key} in {@code result}; false if there is none. */
  private boolean answerNear(K key, Map<K, V> result) {
    V near = reads.nearHit(key);
    if (near == null) {
      return false;
    }
    result.put(key, near);
    return true;
  }

  /**
   * Resolves {@code keys} on this node in bulk flights of at most {@value
   * CacheConfig#MAX_KEYS_PER_BATCH} keys, each calling {@code loader.loadAll} once.
   *
   * @param keep the keys this node holds, whose loaded values it keeps
   */
  private Map<K, CompletableFuture<@Nullable V>> loadInBulk(
      Map<K, KeyRoute> keys, Set<K> keep, CacheLoader<? super K, ? extends V> loader) {
    Map<K, CompletableFuture<@Nullable V>> answers = new LinkedHashMap<>();
    List<K> all = new ArrayList<>(keys.keySet());
    for (int from = 0; from < all.size(); from += CacheConfig.MAX_KEYS_PER_BATCH) {
      List<K> chunk =
          all.subList(from, Math.min(all.size(), from + CacheConfig.MAX_KEYS_PER_BATCH));
      List<LoadFlights.Ticket<V>> tickets =
          flights.ticketsAll(chunk, wanted -> loads.resolveAll(wanted, keys, keep, loader));
      for (int i = 0; i < chunk.size(); i++) {
        answers.put(chunk.get(i), tickets.get(i).result());
      }
    }
    return answers;
  }

  /** {@link Loads#eachAfterCopies}, started: the misses of held keys, for a per-key loader. */
  private Map<K, CompletableFuture<@Nullable V>> loadEach(
      Map<K, KeyRoute> held, CacheLoader<? super K, ? extends V> loader) {
    return held.isEmpty()
        ? Map.of()
        : startSingles(loads.eachAfterCopies(held, loader, flights::join));
  }

  private Map<K, CompletableFuture<@Nullable V>> startSingles(
      Map<K, Supplier<CompletableFuture<@Nullable V>>> singles) {
    List<CompletableFuture<@Nullable V>> started =
        BoundedFanOut.start(new ArrayList<>(singles.values()), PeerRequests.BATCH_LOAD_CONCURRENCY);
    Map<K, CompletableFuture<@Nullable V>> answers = new LinkedHashMap<>();
    int i = 0;
    for (K key : singles.keySet()) {
      answers.put(key, started.get(i++));
    }
    return answers;
  }

  /**
   * Sends each holder its keys, in batches of at most {@value CacheConfig#MAX_KEYS_PER_BATCH}.
   *
   * @param loading whether the holders load what they miss
   * @param oneRead how a key of a batch whose holder turns out unreachable is read instead
   */
  private List<Batch<K, V>> readBatches(
      Cluster cluster,
      Map<String, Map<ByteString, K>> byHolder,
      boolean loading,
      Function<K, @Nullable V> oneRead) {
    List<Batch<K, V>> batches = new ArrayList<>();
    byHolder.forEach(
        (holder, holderKeys) -> {
          List<Map.Entry<ByteString, K>> entries = new ArrayList<>(holderKeys.entrySet());
          for (int from = 0; from < entries.size(); from += CacheConfig.MAX_KEYS_PER_BATCH) {
            List<Map.Entry<ByteString, K>> chunk =
                entries.subList(
                    from, Math.min(entries.size(), from + CacheConfig.MAX_KEYS_PER_BATCH));
            List<K> chunkKeys = new ArrayList<>(chunk.size());
            chunk.forEach(entry -> chunkKeys.add(entry.getValue()));
            batches.add(
                new Batch<>(chunkKeys, readBatch(cluster, holder, chunk, loading, oneRead)));
          }
        });
    return batches;
  }

  private CompletableFuture<Map<K, V>> readBatch(
      Cluster cluster,
      String holder,
      List<Map.Entry<ByteString, K>> chunk,
      boolean loading,
      Function<K, @Nullable V> oneRead) {
    GetAllRequest.Builder request =
        GetAllRequest.newBuilder()
            .setCache(scope.name())
            .setLoad(loading)
            .setCaller(cluster.self())
            .setMaxAnswerBytes(scope.maxBatchBytes());
    Map<ByteString, K> keysByBytes = new HashMap<>();
    for (Map.Entry<ByteString, K> entry : chunk) {
      request.addKeys(entry.getKey());
      keysByBytes.put(entry.getKey(), entry.getValue());
    }
    GetAllRequest built = request.build();
    long detaches = remote.detachCount();
    Duration deadline = loading ? scope.config().loadTimeout() : scope.config().remoteTimeout();
    CompletableFuture<Map<K, V>> batch = new CompletableFuture<>();
    Completions.whenDone(
        PeerCalls.read(
            cluster.client(holder), holder, deadline, scope.counters(), stub -> stub.getAll(built)),
        (response, failure) -> {
          if (failure == null) {
            try {
              Map<K, V> values = decodeBatch(response, keysByBytes, holder, detaches);
              List<Map.Entry<ByteString, K>> rest = notIncluded(response, chunk, values, holder);
              if (rest.isEmpty()) {
                batch.complete(values);
              } else {
                // Left out to keep the answer within its bound: asked again, in a call of its own.
                Completions.whenDone(
                    readBatch(cluster, holder, rest, loading, oneRead),
                    (more, again) -> {
                      if (again != null) {
                        batch.completeExceptionally(again);
                      } else {
                        values.putAll(more);
                        batch.complete(values);
                      }
                    });
              }
            } catch (RuntimeException e) {
              batch.completeExceptionally(e);
            }
          } else if (failure instanceof PeerCalls.PeerCallException failed
              && failed.isUnreachable()) {
            oneByOne(batch, chunk, oneRead); // each key falls over to its next holder
          } else if (failure instanceof PeerCalls.PeerCallException failed) {
            batch.completeExceptionally(failed.forRead(scope.name(), loading, deadline));
          } else {
            batch.completeExceptionally(failure);
          }
        });
    return batch;
  }

  private Map<K, V> decodeBatch(
      GetAllResponse response, Map<ByteString, K> keysByBytes, String holder, long detaches) {
    Map<K, V> values = new HashMap<>();
    for (Entry entry : response.getEntriesList()) {
      K key = keysByBytes.get(entry.getKey());
      if (key == null) {
        throw incompatible(holder, "a key that was not asked for");
      }
      V value = scope.codec().decodeValue(entry.getValue(), holder);
      values.put(key, value);
      if (remote.keeps(entry.getHot())) {
        // A decoding of its own, as ReadPath keeps: the caller owns the value it is answered.
        remote.keepNearSince(
            detaches,
            key,
            scope.codec().decodeValue(entry.getValue(), holder),
            entry.getAgeMillis(),
            entry.getHot());
      }
    }
    return values;
  }

  /**
   * The keys of {@code chunk} the holder left out of its answer to keep it within its byte bound
   * ({@link BoundedAnswer}), to be asked for again.
   *
   * @throws ShardcacheException if the answer lists a key it also answered, a position out of the
   *     request, or keys to ask again without answering any (asking again would never end)
   */
  private List<Map.Entry<ByteString, K>> notIncluded(
      GetAllResponse response,
      List<Map.Entry<ByteString, K>> chunk,
      Map<K, V> answered,
      String holder) {
    List<Map.Entry<ByteString, K>> rest = new ArrayList<>(response.getNotIncludedCount());
    try {
      for (int position :
          BoundedAnswer.checkedNotIncluded(
              response.getNotIncludedList(),
              chunk.size(),
              answered.size(),
              position -> answered.containsKey(chunk.get(position).getValue()))) {
        rest.add(chunk.get(position));
      }
    } catch (IllegalArgumentException e) {
      throw incompatible(holder, String.valueOf(e.getMessage()));
    }
    return rest;
  }

  private ShardcacheException incompatible(String holder, String what) {
    return new ShardcacheException(
        "peer "
            + holder
            + " answered a getAll of cache '"
            + scope.name()
            + "' with "
            + what
            + "; is it running a compatible version?");
  }

  /** Reads a batch key by key with {@code oneRead}, off the gRPC threads. */
  private void oneByOne(
      CompletableFuture<Map<K, V>> batch,
      List<Map.Entry<ByteString, K>> chunk,
      Function<K, @Nullable V> oneRead) {
    try {
      scope
          .executor()
          .execute(
              () -> {
                try {
                  Map<K, V> values = new HashMap<>();
                  for (Map.Entry<ByteString, K> entry : chunk) {
                    V value = oneRead.apply(entry.getValue());
                    if (value != null) {
                      values.put(entry.getValue(), value);
                    }
                  }
                  batch.complete(values);
                } catch (Throwable t) {
                  batch.completeExceptionally(t);
                }
              });
    } catch (RejectedExecutionException rejected) {
      batch.completeExceptionally(new IllegalStateException("the node is closing", rejected));
    }
  }

  /**
   * The failures of one batch read: every wait is made, the first failure (other than a key {@code
   * loadAll} left out) is thrown at the end.
   */
  private static final class Failures {
    private @Nullable RuntimeException first;

    /** The outcome of {@code future}, or null if it failed (the failure is kept). */
    <T> @Nullable T await(CompletableFuture<T> future, Duration timeout, String cache) {
      try {
        return LoadFlights.await(future, timeout, cache);
      } catch (RuntimeException e) {
        add(e);
        return null;
      }
    }

    void add(RuntimeException failure) {
      if (first == null && !Loads.isAbsent(failure)) {
        first = failure;
      }
    }

    void throwFirst() {
      if (first != null) {
        throw first;
      }
    }
  }
}
