package dev.shardcache;

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
}
