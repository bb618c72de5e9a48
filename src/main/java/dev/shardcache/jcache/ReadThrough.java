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
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;
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
 * getAll}, {@code loadAll}) load through the core's {@code getAll(keys, loader)}: the owners are
 * asked in one call each, the keys still absent are loaded with one {@code loadAll} call to the
 * loader on this node, in the core's single flight (a {@code get} of one of them meanwhile joins
 * it), and each value is then stored only if the key is still absent: a value loaded while another
 * writer stored one is older than that write. A loaded value is not a put: the writer is not called
 * and no put is counted, but a CREATED event (UPDATED, when {@code loadAll} replaces) is fired.
 *
 * <p>The loader's failures reach the caller as {@link CacheLoaderException}, or, for {@code
 * loadAll}, its {@link CompletionListener}. A loader returning null loads nothing.
 *
 * <p>Thread-safe if the loader is; blocks on the loader and on the owner, except {@link #loadAll},
 * which runs on the manager's bounded {@link LoadAllPool} (a call it refuses fails through its
 * listener).
 */
final class ReadThrough<K, V> {
  private static final Logger logger = Logger.getLogger(ReadThrough.class.getName());

  private final @Nullable CacheLoader<K, V> loader;
  private final boolean enabled;
  private final EntryStore<K, V> entries;
  private final AtomicUpdate<K, V> atomic;
  private final LoadAllPool loadAlls;

  /**
   * @param loadAlls runs {@link #loadAll}, which returns before it loads
   */
  ReadThrough(
      CompleteConfiguration<K, V> config,
      EntryStore<K, V> entries,
      AtomicUpdate<K, V> atomic,
      LoadAllPool loadAlls) {
    Factory<CacheLoader<K, V>> factory = config.getCacheLoaderFactory();
    this.loader = factory == null ? null : factory.create();
    this.enabled = config.isReadThrough() && loader != null;
    this.entries = entries;
    this.atomic = atomic;
    this.loadAlls = loadAlls;
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
   * Loads {@code keys} (a {@code getAll}'s misses) through the core's bulk load ({@link
   * #loadAbsent}) and returns the value of each key that has one now: loaded by this call or, if
   * another writer got there first, that writer's.
   */
  Map<K, V> loadMissing(List<K> keys) {
    return loadAbsent(keys);
  }

  /**
   * The JCache {@code loadAll}: loads on the manager's pool those of {@code keys} that are absent
   * (all of them if {@code replaceExistingValues}), then tells {@code completionListener}. Returns
   * at once. Without a loader it only tells the listener. A call the pool refuses (too many running
   * and waiting) tells the listener's {@code onException} a {@link CacheException} naming the
   * limit, and loads nothing.
   *
   * <p>Absent keys load as {@code getAll}'s misses do ({@link #loadAbsent}); replacing ones are
   * loaded with one {@code loadAll} here and each stored over whatever the key holds.
   */
  void loadAll(
      List<K> keys,
      boolean replaceExistingValues,
      @Nullable CompletionListener completionListener) {
    if (loader == null) {
      if (completionListener != null) {
        completionListener.onCompletion();
      }
      return;
    }
    Runnable load =
        () -> {
          try {
            if (replaceExistingValues) {
              for (Map.Entry<K, V> entry : loadAllFromLoader(keys).entrySet()) {
                if (entry.getKey() != null && entry.getValue() != null) {
                  store(entry.getKey(), entry.getValue(), true);
                }
              }
            } else {
              loadAbsent(keys);
            }
            if (completionListener != null) {
              completionListener.onCompletion();
            }
          } catch (Exception e) {
            if (completionListener != null) {
              completionListener.onException(e);
            }
          }
        };
    try {
      loadAlls.execute(load);
    } catch (CacheException refused) {
      // JSR-107: loadAll reports its failures through the listener; without one, nobody can hear.
      if (completionListener != null) {
        completionListener.onException(refused);
      } else {
        logger.log(Level.WARNING, "cache '" + entries.name() + "': " + refused.getMessage());
      }
    }
  }

  /**
   * Loads those of {@code keys} that no node holds, through the core's {@code getAll(keys,
   * loader)}: the owners are asked in one call each, and the keys still absent are loaded with one
   * call of the JCache loader's {@code loadAll} on this node, in the core's single flight (so a
   * {@code get} of one of them meanwhile waits for it rather than loading it again), then stored on
   * their owners if still absent. The values this call's load stored are recognised by identity, as
   * in {@link #load}, and only those fire CREATED; an entry the core held expired is expired and
   * its key loaded again. Returns the value of every key that has one.
   */
  private Map<K, V> loadAbsent(List<K> keys) {
    Map<K, V> result = new LinkedHashMap<>();
    List<K> pending = keys;
    for (int retries = 0; !pending.isEmpty(); retries++) {
      if (retries > AtomicUpdate.MAX_RETRIES) {
        throw new CacheException(
            "cache '"
                + entries.name()
                + "': "
                + pending.size()
                + " keys kept being found expired while loading them; giving up");
      }
      Map<KeyBytes, K> byBytes = new LinkedHashMap<>();
      for (K key : pending) {
        byBytes.put(entries.keyOf(key), key);
      }
      BulkLoad bulk = new BulkLoad(byBytes);
      Map<KeyBytes, byte[]> found;
      try {
        found = entries.getAllOrLoad(byBytes.keySet(), bulk);
      } catch (CacheLoadException e) {
        Throwable cause = e.getCause();
        if (cause instanceof CacheLoaderException loaderFailure) {
          throw loaderFailure;
        }
        throw new CacheLoaderException(e.getMessage(), cause != null ? cause : e);
      } catch (ShardcacheException e) {
        throw new CacheException(e.getMessage(), e);
      }
      List<K> again = new ArrayList<>();
      long now = EntryStore.now();
      for (Map.Entry<KeyBytes, K> entry : byBytes.entrySet()) {
        KeyBytes k = entry.getKey();
        K key = entry.getValue();
        byte[] raw = found.get(k);
        if (raw == null) {
          continue; // the loader has no value for it
        }
        Envelope mine = bulk.made.get(k);
        V value = bulk.values.get(k);
        if (mine != null && value != null && raw == mine.raw()) {
          if (mine.isExpiredAt(now)) {
            entries.cas(k, mine, null); // a zero creation expiry: answered, not kept
          } else {
            entries.loaded(k, key, value);
          }
          result.put(key, value);
          continue;
        }
        Envelope theirs = Envelope.wrap(raw);
        if (!theirs.isExpiredAt(now)) {
          result.put(key, entries.decode(theirs));
        } else {
          entries.expire(k, key, theirs); // the core still held an expired entry: load it again
          again.add(key);
        }
      }
      pending = again;
    }
    return result;
  }

  /**
   * The core loader of one {@link #loadAbsent} round: calls the JCache loader's {@code loadAll}
   * once with the keys the core asks for, and remembers the envelopes it made, so that the round
   * can tell them by identity. Runs on the node's load executor.
   */
  private final class BulkLoad implements dev.shardcache.CacheLoader<KeyBytes, byte[]> {
    private final Map<KeyBytes, K> keys;
    final Map<KeyBytes, Envelope> made = new ConcurrentHashMap<>();
    final Map<KeyBytes, V> values = new ConcurrentHashMap<>();

    BulkLoad(Map<KeyBytes, K> keys) {
      this.keys = keys;
    }

    private K keyOf(KeyBytes k) {
      K key = keys.get(k);
      return key != null ? key : entries.decodeKey(k);
    }

    @Override
    public byte[] load(KeyBytes k) {
      return requireNonNull(loadAll(Set.of(k)).get(k), "the core asked for a key loadAll lacks");
    }

    @Override
    public Map<KeyBytes, byte[]> loadAll(Set<? extends KeyBytes> asked) {
      Map<K, KeyBytes> byKey = new LinkedHashMap<>();
      for (KeyBytes k : asked) {
        byKey.put(keyOf(k), k);
      }
      Map<K, V> loaded = loadAllFromLoader(new ArrayList<>(byKey.keySet()));
      long now = EntryStore.now();
      Map<KeyBytes, byte[]> answer = new LinkedHashMap<>();
      byKey.forEach(
          (key, k) -> {
            V value = loaded.get(key);
            if (value != null) {
              Envelope envelope =
                  Envelope.of(entries.expiry().onCreation(now), entries.encodeValue(value));
              made.put(k, envelope);
              values.put(k, value);
              answer.put(k, envelope.raw());
            }
          });
      return answer;
    }
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
