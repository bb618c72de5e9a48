package dev.shardcache.jcache;

import static dev.shardcache.jcache.AtomicUpdate.done;
import static dev.shardcache.jcache.AtomicUpdate.retry;
import static java.util.Objects.requireNonNull;

import dev.shardcache.CacheLoadException;
import dev.shardcache.ShardcacheException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.Function;
import java.util.function.Predicate;
import javax.cache.CacheException;
import javax.cache.configuration.CompleteConfiguration;
import javax.cache.configuration.Factory;
import javax.cache.integration.CacheLoader;
import javax.cache.integration.CacheLoaderException;
import javax.cache.integration.CompletionListener;
import org.jspecify.annotations.Nullable;

/**
 * The loading of one cache: its {@link CacheLoader}, called on a miss when the cache reads through
 * ({@code get}, {@code getAll}, an entry processor's {@code getValue}) and by {@code loadAll}
 * whether it reads through or not.
 *
 * <p>A miss of one key loads through the core's {@code get(key, loader)}, so that on the owner
 * concurrent misses of the key share one load, whichever nodes they come from. Several keys ({@code
 * getAll}, {@code loadAll}) are loaded with one {@code loadAll} call to the loader on this node,
 * and each value is then stored only if the key is still absent: a value loaded while another
 * writer stored one is older than that write. A loaded value is not a put: the writer is not called
 * and no put is counted, but a CREATED event (UPDATED, when {@code loadAll} replaces) is fired.
 *
 * <p>The loader's failures reach the caller as {@link CacheLoaderException}, or, for {@code
 * loadAll}, its {@link CompletionListener}. A loader returning null loads nothing.
 *
 * <p>Thread-safe if the loader is; blocks on the loader and on the owner, except {@link #loadAll},
 * which runs on the cache's executor.
 */
final class ReadThrough<K, V> {
  private final @Nullable CacheLoader<K, V> loader;
  private final boolean enabled;
  private final EntryStore<K, V> entries;
  private final AtomicUpdate<K, V> atomic;
  private final Executor executor;

  /**
   * @param executor runs {@link #loadAll}, which returns before it loads
   */
  ReadThrough(
      CompleteConfiguration<K, V> config,
      EntryStore<K, V> entries,
      AtomicUpdate<K, V> atomic,
      Executor executor) {
    Factory<CacheLoader<K, V>> factory = config.getCacheLoaderFactory();
    this.loader = factory == null ? null : factory.create();
    this.enabled = config.isReadThrough() && loader != null;
    this.entries = entries;
    this.atomic = atomic;
    this.executor = executor;
  }

  /** Whether a miss loads: read-through is configured and there is a loader. */
  boolean isEnabled() {
    return enabled;
  }

  /** What an entry processor's {@code getValue} of an absent entry loads with; null if none. */
  @Nullable Function<K, @Nullable V> forProcessor() {
    return enabled ? this::loadOne : null;
  }

  /**
   * Loads {@code key} after a miss and returns its value; null if the loader found none. The load
   * that stored the value is recognised by identity (the core returns the very array that its
   * loader returned), and only that caller fires CREATED. If the core held an expired entry, that
   * entry is expired and the key loaded again.
   */
  @Nullable V load(KeyBytes k, K key) {
    return atomic.repeat(
        k,
        key,
        () -> {
          Envelope[] mine = new Envelope[1];
          List<V> loaded = new ArrayList<>(1);
          byte[] raw;
          try {
            raw =
                entries.getOrLoad(
                    k,
                    ignored -> {
                      V value = loadOne(key);
                      if (value == null) {
                        throw new NothingLoaded(); // stackless: cheap to make
                      }
                      Envelope envelope =
                          Envelope.of(
                              entries.expiry().onCreation(EntryStore.now()),
                              entries.encodeValue(value));
                      mine[0] = envelope;
                      loaded.add(value);
                      return envelope.raw();
                    });
          } catch (CacheLoadException e) {
            Throwable cause = e.getCause();
            if (cause instanceof NothingLoaded) {
              return AtomicUpdate.doneWithoutValue();
            }
            if (cause instanceof CacheLoaderException loaderFailure) {
              throw loaderFailure;
            }
            throw new CacheLoaderException(e.getMessage(), cause != null ? cause : e);
          } catch (ShardcacheException e) {
            throw new CacheException(e.getMessage(), e);
          }
          long now = EntryStore.now();
          if (mine[0] != null && raw == mine[0].raw()) {
            V value = loaded.get(0);
            if (mine[0].isExpiredAt(now)) {
              // A zero creation expiry: the caller gets the value, the cache keeps nothing.
              entries.cas(k, mine[0], null);
              return done(value);
            }
            entries.loaded(k, key, value);
            return done(value);
          }
          Envelope theirs = Envelope.wrap(raw);
          if (!theirs.isExpiredAt(now)) {
            return done(entries.decode(theirs));
          }
          entries.expire(
              k, key, theirs); // the core still held an expired entry: drop it, load again
          return retry();
        });
  }

  /**
   * Loads {@code keys} (a {@code getAll}'s misses) with one call to the loader and stores each
   * value whose key is still absent. Returns the values loaded, whether or not they were stored:
   * the caller asked for them.
   */
  Map<K, V> loadMissing(List<K> keys) {
    Map<K, V> result = new LinkedHashMap<>();
    for (Map.Entry<K, V> entry : loadAllFromLoader(keys).entrySet()) {
      if (entry.getKey() != null && entry.getValue() != null) {
        store(entry.getKey(), entry.getValue(), false);
        result.put(entry.getKey(), entry.getValue());
      }
    }
    return result;
  }

  /**
   * The JCache {@code loadAll}: loads on the executor those of {@code keys} that are absent (all of
   * them if {@code replaceExistingValues}), then tells {@code completionListener}. Returns at once.
   * Without a loader it only tells the listener.
   *
   * @param isPresent whether the cache holds a key, asked on the executor just before loading
   */
  void loadAll(
      List<K> keys,
      boolean replaceExistingValues,
      @Nullable CompletionListener completionListener,
      Predicate<K> isPresent) {
    if (loader == null) {
      if (completionListener != null) {
        completionListener.onCompletion();
      }
      return;
    }
    executor.execute(
        () -> {
          try {
            List<K> toLoad = new ArrayList<>();
            for (K key : keys) {
              if (replaceExistingValues || !isPresent.test(key)) {
                toLoad.add(key);
              }
            }
            if (!toLoad.isEmpty()) {
              for (Map.Entry<K, V> entry : loadAllFromLoader(toLoad).entrySet()) {
                if (entry.getKey() != null && entry.getValue() != null) {
                  store(entry.getKey(), entry.getValue(), replaceExistingValues);
                }
              }
            }
            if (completionListener != null) {
              completionListener.onCompletion();
            }
          } catch (Exception e) {
            if (completionListener != null) {
              completionListener.onException(e);
            }
          }
        });
  }

  /**
   * Stores a loaded value if the key is absent, or replaces its value if {@code replace}. Tried
   * once: losing to another writer means that writer's value is newer than the load.
   */
  private void store(K key, V value, boolean replace) {
    KeyBytes k = entries.keyOf(key);
    byte[] valueBytes = entries.encodeValue(value);
    long now = EntryStore.now();
    atomic.run(
        k,
        key,
        now,
        entries.readLive(k, key, now),
        (current, at) -> {
          if (current == null) {
            entries.createLoaded(k, key, value, valueBytes, at);
          } else if (replace) {
            entries.updateLoaded(k, key, value, valueBytes, current, at);
          }
          return AtomicUpdate.doneWithoutValue();
        });
  }

  /** Calls the loader for one key; its failures become {@link CacheLoaderException}. */
  private @Nullable V loadOne(K key) {
    CacheLoader<K, V> with = requireNonNull(loader);
    try {
      return with.load(key);
    } catch (CacheLoaderException e) {
      throw e;
    } catch (Exception e) {
      throw new CacheLoaderException(
          "loader of cache '" + entries.name() + "' failed for key " + key + ": " + e, e);
    }
  }

  private Map<K, V> loadAllFromLoader(List<K> keys) {
    CacheLoader<K, V> with = requireNonNull(loader);
    try {
      Map<K, V> loaded = with.loadAll(keys);
      return loaded == null ? Map.of() : loaded;
    } catch (CacheLoaderException e) {
      throw e;
    } catch (Exception e) {
      throw new CacheLoaderException(
          "loader of cache '" + entries.name() + "' failed loading " + keys.size() + " keys: " + e,
          e);
    }
  }

  /** Closes the loader if it is {@link java.io.Closeable}; failures are logged. */
  void close() {
    ListenerRegistration.closeQuietly(loader);
  }

  /** Thrown inside the core's loader to say the JCache loader found nothing: no value, no error. */
  private static final class NothingLoaded extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private NothingLoaded() {
      super("the loader returned null", null, false, false);
    }
  }
}
