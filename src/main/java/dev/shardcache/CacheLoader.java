package dev.shardcache;

import java.util.Map;
import java.util.Set;

/**
 * Computes the value of a key that no node holds, such as by reading a database.
 *
 * <p>Shardcache calls a loader on the node that owns the key, and only once at a time per key for
 * the whole cluster: concurrent misses for the same key, from any node, wait for that one call.
 * When the owner is unreachable, the node that was asked calls its own loader instead, so every
 * node of a cache must be configured with an equivalent loader.
 *
 * <p>A loader may block, and may be called concurrently for different keys, so it must be
 * thread-safe. It must not call the cache it loads for (that could wait on itself).
 *
 * <p>A source that answers many keys at once more cheaply than one by one (one query with {@code IN
 * (...)}, one multi-get) should also override {@link #loadAll}: a {@link DistributedCache#getAll
 * getAll} then costs each owner one {@code loadAll} call for the keys it is missing, instead of one
 * {@code load} per key.
 *
 * @param <K> the key type
 * @param <V> the value type
 */
@FunctionalInterface
public interface CacheLoader<K, V> {

  /**
   * Returns the value of {@code key}; never {@code null}. An exception thrown here, or a {@code
   * null} result, reaches the caller of the read as a {@link CacheLoadException}, and nothing is
   * cached.
   *
   * @throws Exception if the value cannot be computed
   */
  V load(K key) throws Exception;

  /**
   * Returns the values of {@code keys}, all computed in one go. Shardcache calls it, on the node
   * that owns them, with the keys of a {@link DistributedCache#getAll getAll} that the owner is
   * missing (at most 1,000 a call), once per {@code getAll} and owner; keys another read is already
   * loading are not passed again, and reads of these keys that arrive while it runs wait for it.
   *
   * <ul>
   *   <li>A key absent from the returned map (or mapped to {@code null}) has no value: {@code
   *       getAll} leaves it out of its answer, nothing is cached for it, and a {@link
   *       DistributedCache#get get} that was waiting for it throws {@link CacheLoadException} (as
   *       when {@link #load} returns {@code null}).
   *   <li>Keys in the returned map that were not asked for are ignored: never cached.
   *   <li>An exception thrown here fails every key of the call with {@link CacheLoadException}, and
   *       nothing is cached. So does a {@code null} map: return an empty one when no key has a
   *       value.
   * </ul>
   *
   * <p>The set is unmodifiable, and the returned map is only read. Runs on the node's load
   * executor, like {@link #load}, and counts as one of its {@code maxConcurrentLoads}.
   *
   * <p>The default calls {@link #load} for each key, at most {@value LoadEach#MAX_CONCURRENT} at a
   * time, on the calling thread and threads it starts for the call; the first exception of {@code
   * load} is thrown once the others have ended, and a {@code null} leaves its key out. Shardcache
   * does not call this default: for a loader that does not override it, the node loads each key of
   * a {@code getAll} with {@link #load}, concurrently, on its own load executor (so within {@code
   * maxConcurrentLoads}), each key a load of its own that other reads of the key can join, after
   * asking the key's other holders for copies of all the keys at once.
   *
   * @param keys the keys to load; not empty, never containing {@code null}
   * @return the values found, by key; not {@code null}
   * @throws Exception if the values cannot be computed
   */
  default Map<? extends K, ? extends V> loadAll(Set<? extends K> keys) throws Exception {
    return LoadEach.load(this, keys);
  }
}
