package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.BiFunction;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * What this node does about a key it misses: the body of a {@link LoadFlights} flight.
 *
 * <h2>Ask before loading</h2>
 *
 * A holder that misses a key first asks for a copy ({@link HolderCopies}): the key's other holders
 * (when the cache loads, since a load costs more than a call), and its holders under the rings of
 * the last minute (see {@link Cluster#recentRings()}), which may still have it while hand-off is
 * under way. The newest copy found is kept instead of loading; holders that answered with an older
 * copy or none are sent the newest (read repair). When nobody had a copy the shard is looked at
 * again, since a previous holder drops an entry only after this node acknowledged its hand-off:
 * "none" may mean it arrived here meanwhile. So a member that just joined takes over warm keys, a
 * cache without a loader keeps read-your-writes across a membership change, and a holder that lost
 * its copy gets it back.
 *
 * <h2>Loading</h2>
 *
 * A load is versioned when it <em>starts</em>, so a write made while it runs is newer and wins the
 * merge; the flight then answers the winning value, so every caller agrees on what the cache holds.
 * A load that loses to a delete or a clear is answered to the callers that asked before it, and not
 * kept. The loader is guarded: its exceptions, a null, a value the codec cannot encode or one over
 * {@code maxValueBytes} fail the load with {@link CacheLoadException} and cache nothing.
 *
 * <h2>Many keys at once</h2>
 *
 * {@link #resolveAll} does the same for the misses of a {@code getAll}, inside a bulk flight: it
 * asks each other holder for its copies of all the keys in one {@code Fetch} (and again for those
 * it left out to keep its answer within its byte bound), then calls the loader's {@link
 * CacheLoader#loadAll} once with the keys still missing. Only the keys asked for are read from
 * {@code loadAll}'s answer, so a key it returns unasked is never cached; a key it leaves out fails
 * with {@link #absent} (no value: {@code getAll} leaves it out), and a value that cannot be encoded
 * fails its key alone. {@link #loadsInBulk} tells whether a loader has a {@code loadAll} of its
 * own; if not, {@link #eachAfterCopies} asks for the copies of all the keys at once, then the
 * callers load key by key, concurrently: one {@code Fetch} per holder, not one per key, which held
 * a load thread for a round trip each.
 *
 * <p>Blocking: runs on the node's executor, inside a flight. Thread-safe.
 */
final class Loads<K, V> {
  private final CacheScope<K, V> scope;
  private final Replication<K, V> replication;
  private final HolderCopies<K, V> copies;

  Loads(CacheScope<K, V> scope, Replication<K, V> replication) {
    this.scope = scope;
    this.replication = replication;
    this.copies = new HolderCopies<>(scope);
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
    return resolve(key, route, loader, store, true);
  }

  /**
   * {@link #resolve} with {@code store}, for a key whose copies {@link #copiesBeforeLoading} has
   * just asked for and nobody had: re-reads the shard, then loads, without asking again.
   */
  private @Nullable V loadAsked(K key, KeyRoute route, CacheLoader<? super K, ? extends V> loader) {
    return resolve(key, route, loader, true, false);
  }

  private @Nullable V resolve(
      K key,
      KeyRoute route,
      @Nullable CacheLoader<? super K, ? extends V> loader,
      boolean store,
      boolean askCopies) {
    Cluster cluster = scope.clusters().get();
    if (store) {
      Shard.Held<V> again = scope.shard().peek(key);
      if (again != null) {
        return again.value();
      }
    }
    if (store && askCopies) {
      Versioned<V> copy = copies.copyOf(cluster, key, route, loader != null);
      if (copy != null && !copy.isTombstone()) {
        return copy.value();
      }
      if (copy == null) {
        // A previous holder hands an entry off and drops it only once this node acknowledged it:
        // if it answered "none", the entry may have arrived here while we asked.
        Shard.Held<V> handedOff = scope.shard().peek(key);
        if (handedOff != null) {
          return handedOff.value();
        }
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
    return keep(cluster, key, route, loaded, version);
  }

  /**
   * Merges a value loaded for a key this node holds (versioned when its load started), queues it
   * for the other holders if it won, and returns what the flight answers: the loaded value, or a
   * newer value written while it loaded.
   */
  private @Nullable V keep(
      Cluster cluster, K key, KeyRoute route, LoadedValue<V> loaded, Version version) {
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

  /**
   * Resolves the misses of many keys at once: the body of a bulk flight (see the class
   * documentation). Keys in {@code keep} are held here (or asked as if): they are re-read, asked of
   * the other holders, and what is loaded for them is kept and queued for the other holders, as
   * {@link #resolve} does with {@code store}; the others are only loaded and answered.
   *
   * @param keys the keys to resolve, at most {@value CacheConfig#MAX_KEYS_PER_BATCH}
   * @param routes the route of every key of {@code keys}
   * @return an outcome for every key of {@code keys}
   */
  Map<K, LoadFlights.Outcome<V>> resolveAll(
      List<K> keys,
      Map<K, KeyRoute> routes,
      Set<K> keep,
      CacheLoader<? super K, ? extends V> loader) {
    Cluster cluster = scope.clusters().get();
    Map<K, LoadFlights.Outcome<V>> outcomes = new HashMap<>();
    Map<K, KeyRoute> askCopies = new LinkedHashMap<>();
    Set<K> toLoad = new LinkedHashSet<>();
    for (K key : keys) {
      if (keep.contains(key)) {
        Shard.Held<V> again = scope.shard().peek(key);
        if (again != null) {
          outcomes.put(key, LoadFlights.Outcome.of(again.value()));
          continue;
        }
        askCopies.put(key, routeOf(routes, key));
      }
      toLoad.add(key);
    }
    copies
        .copiesOf(cluster, askCopies, true)
        .forEach(
            (key, copy) -> {
              if (!copy.isTombstone()) {
                outcomes.put(key, LoadFlights.Outcome.of(copy.value()));
                toLoad.remove(key);
              }
            });
    for (K key : askCopies.keySet()) {
      // As in resolve: "none" may mean a previous holder handed the entry here meanwhile.
      Shard.Held<V> handedOff = outcomes.containsKey(key) ? null : scope.shard().peek(key);
      if (handedOff != null) {
        outcomes.put(key, LoadFlights.Outcome.of(handedOff.value()));
        toLoad.remove(key);
      }
    }
    if (toLoad.isEmpty()) {
      return outcomes;
    }
    Version version = new Version(cluster.clock().now(), cluster.writerId());
    Map<K, LoadedValue<V>> loaded = callLoaderAll(toLoad, loader, outcomes);
    loaded.forEach(
        (key, value) ->
            outcomes.put(
                key,
                LoadFlights.Outcome.of(
                    keep.contains(key)
                        ? keep(cluster, key, routeOf(routes, key), value, version)
                        : value.value())));
    return outcomes;
  }

  /**
   * Resolves misses of many keys held here at once, each loaded on its own (a loader without a
   * {@code loadAll} of its own): their copies are asked for first ({@link #copiesBeforeLoading}),
   * then each key nobody had is loaded without asking again, in the flight {@code flight} starts
   * for it. Blocks for the copies only.
   *
   * @param held keys this node holds, by route
   * @param flight starts (or joins) the flight of a key with the given body
   * @return for every key of {@code held}, in its order, what starts its answer: its copy at once,
   *     or its flight
   */
  Map<K, Supplier<CompletableFuture<@Nullable V>>> eachAfterCopies(
      Map<K, KeyRoute> held,
      CacheLoader<? super K, ? extends V> loader,
      BiFunction<K, Callable<@Nullable V>, CompletableFuture<@Nullable V>> flight) {
    Map<K, V> copied = copiesBeforeLoading(held);
    Map<K, Supplier<CompletableFuture<@Nullable V>>> starts = new LinkedHashMap<>();
    held.forEach(
        (key, route) -> {
          V copy = copied.get(key);
          starts.put(
              key,
              copy != null
                  ? () -> CompletableFuture.completedFuture(copy)
                  : () -> flight.apply(key, () -> loadAsked(key, route, loader)));
        });
    return starts;
  }

  /**
   * The first step of {@link #resolve} for many keys held here at once, when each is then loaded on
   * its own: each other holder is asked for its copies of all of them in one {@code Fetch} per
   * {@value CacheConfig#MAX_KEYS_PER_BATCH} keys, as {@link #resolveAll} asks, instead of one
   * {@code Fetch} per key. Copies are kept and repaired as {@link #resolve} does.
   *
   * @param routes keys this node holds, by route
   * @return the value of every key that had one: a copy, or an entry that reached this shard
   *     meanwhile; load the others with {@link #loadAsked}
   */
  private Map<K, V> copiesBeforeLoading(Map<K, KeyRoute> routes) {
    Cluster cluster = scope.clusters().get();
    Map<K, V> found = new HashMap<>();
    Map<K, KeyRoute> chunk = new LinkedHashMap<>();
    for (Map.Entry<K, KeyRoute> keyRoute : routes.entrySet()) {
      Shard.Held<V> held = scope.shard().peek(keyRoute.getKey());
      if (held != null) {
        found.put(keyRoute.getKey(), held.value());
        continue;
      }
      chunk.put(keyRoute.getKey(), keyRoute.getValue());
      if (chunk.size() == CacheConfig.MAX_KEYS_PER_BATCH) {
        askCopies(cluster, chunk, found);
        chunk.clear();
      }
    }
    if (!chunk.isEmpty()) {
      askCopies(cluster, chunk, found);
    }
    return found;
  }

  private void askCopies(Cluster cluster, Map<K, KeyRoute> routes, Map<K, V> found) {
    Map<K, Versioned<V>> kept = copies.copiesOf(cluster, routes, true);
    for (K key : routes.keySet()) {
      Versioned<V> copy = kept.get(key);
      if (copy != null) {
        if (!copy.isTombstone()) {
          found.put(key, copy.value());
        }
        continue; // a tombstone: loaded, as resolve loads it
      }
      // As in resolve: "none" may mean a previous holder handed the entry here meanwhile.
      Shard.Held<V> handedOff = scope.shard().peek(key);
      if (handedOff != null) {
        found.put(key, handedOff.value());
      }
    }
  }

  private static <K> KeyRoute routeOf(Map<K, KeyRoute> routes, K key) {
    return requireNonNull(routes.get(key), "every key of a bulk load has a route");
  }

  /**
   * Whether {@code loader} has a {@link CacheLoader#loadAll} of its own. A loader that only has the
   * default is not called through it: its keys are loaded one by one, each a flight of its own,
   * concurrently on the node's executor, which bounds them by {@code maxConcurrentLoads} (the
   * default would start threads of its own).
   */
  static boolean loadsInBulk(CacheLoader<?, ?> loader) {
    return OVERRIDES_LOAD_ALL.get(loader.getClass());
  }

  private static final ClassValue<Boolean> OVERRIDES_LOAD_ALL =
      new ClassValue<>() {
        @Override
        protected Boolean computeValue(Class<?> type) {
          try {
            return type.getMethod("loadAll", Set.class).getDeclaringClass() != CacheLoader.class;
          } catch (NoSuchMethodException e) {
            return false; // cannot happen for a CacheLoader; the per-key path is always right
          }
        }
      };

  /**
   * The failure of a key that {@link CacheLoader#loadAll} left out of its answer: a {@link
   * CacheLoadException}, as when {@code load} returns null, which {@code getAll} recognises ({@link
   * #isAbsent}) and answers as a key without a value.
   */
  CacheLoadException absent(K key) {
    return new CacheLoadException(
        "loadAll of cache '"
            + scope.name()
            + "' returned no value for key "
            + describe(key)
            + "; nothing was cached",
        new AbsentFromLoadAll());
  }

  /** Whether {@code failure} (or the failure it wraps) is {@link #absent}. */
  static boolean isAbsent(@Nullable Throwable failure) {
    Throwable cause =
        failure instanceof CompletionException && failure.getCause() != null
            ? failure.getCause()
            : failure;
    return cause instanceof CacheLoadException && cause.getCause() instanceof AbsentFromLoadAll;
  }

  /** Marks {@link #absent}; stackless, since it says nothing but that. */
  private static final class AbsentFromLoadAll extends RuntimeException {
    private static final long serialVersionUID = 1L;

    AbsentFromLoadAll() {
      super("the loader's loadAll returned no value for the key", null, false, false);
    }
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
    return encodeLoaded(key, value);
  }

  /**
   * Calls {@code loader.loadAll} once for {@code keys} and returns the values it found for them,
   * encoded; puts the outcome of every other key of {@code keys} (absent, or failed) in {@code
   * failures}.
   */
  private Map<K, LoadedValue<V>> callLoaderAll(
      Set<K> keys,
      CacheLoader<? super K, ? extends V> loader,
      Map<K, LoadFlights.Outcome<V>> failures) {
    CacheCounters counters = scope.counters();
    String name = scope.name();
    String which = keys.size() + " keys (the first " + describe(keys.iterator().next()) + ")";
    long start = System.nanoTime();
    Map<?, ? extends V> answer;
    RuntimeException failure = null;
    try {
      answer = loader.loadAll(Collections.unmodifiableSet(keys));
      if (answer == null) {
        failure =
            new CacheLoadException(
                "loader of cache '"
                    + name
                    + "' returned null from loadAll of "
                    + which
                    + "; return an empty map when no key has a value (nothing was cached)",
                null);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      answer = null;
      failure =
          new CacheLoadException(
              "loader of cache '" + name + "' was interrupted in loadAll of " + which, e);
    } catch (Exception e) {
      answer = null;
      failure =
          new CacheLoadException(
              "loader of cache '" + name + "' failed in loadAll of " + which + ": " + e, e);
    } catch (Error e) {
      counters.loadFailures.add(keys.size());
      throw e;
    } finally {
      counters.loadTimeNanos.add(System.nanoTime() - start);
    }
    Map<K, LoadedValue<V>> loaded = new LinkedHashMap<>();
    for (K key : keys) {
      if (answer == null) {
        counters.loadFailures.increment();
        failures.put(key, LoadFlights.Outcome.failed(requireNonNull(failure)));
        continue;
      }
      try {
        V value = answer.get(key); // only the keys asked for: others are never read, nor cached
        if (value == null) {
          failures.put(key, LoadFlights.Outcome.failed(absent(key)));
        } else {
          loaded.put(key, encodeLoaded(key, value));
        }
      } catch (CacheLoadException e) {
        failures.put(key, LoadFlights.Outcome.failed(e));
      } catch (RuntimeException e) {
        counters.loadFailures.increment();
        failures.put(
            key,
            LoadFlights.Outcome.failed(
                new CacheLoadException(
                    "the map loadAll of cache '"
                        + name
                        + "' returned failed to look up key "
                        + describe(key)
                        + ": "
                        + e,
                    e)));
      }
    }
    return loaded;
  }

  /** Encodes and checks a value a loader returned; counts the load as a success or a failure. */
  private LoadedValue<V> encodeLoaded(K key, V value) {
    CacheCounters counters = scope.counters();
    String name = scope.name();
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

  static String describe(Object key) {
    String text = String.valueOf(key);
    return text.length() <= 100 ? "'" + text + "'" : "'" + text.substring(0, 100) + "...'";
  }
}
