package dev.shardcache.spring;

import static java.util.Objects.requireNonNull;

import dev.shardcache.CacheLoadException;
import dev.shardcache.DistributedCache;
import dev.shardcache.objects.StableKey;
import dev.shardcache.objects.StableKeyEncoder;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;
import org.springframework.cache.support.AbstractValueAdaptingCache;
import org.springframework.cache.support.NullValue;

/**
 * A Spring {@link org.springframework.cache.Cache} backed by a {@link DistributedCache} shared by
 * every node of the cluster: what one application instance caches, the others read.
 *
 * <table>
 *   <caption>Spring operations and what they do on the cluster</caption>
 *   <tr><th>Spring</th><th>Shardcache</th></tr>
 *   <tr><td>{@code get(key)} ({@code @Cacheable} lookup)</td>
 *       <td>{@link DistributedCache#getIfPresent}: one call to the key's owner, or none from the
 *       owner itself or the near cache; never loads</td></tr>
 *   <tr><td>{@code get(key, valueLoader)} ({@code @Cacheable(sync = true)})</td>
 *       <td>{@link DistributedCache#get(Object, dev.shardcache.CacheLoader)}: concurrent callers on
 *       one node share one call of the method; on the owner it is single-flight for the cluster;
 *       callers on different nodes may each call it once, and all return the value that won</td></tr>
 *   <tr><td>{@code put} ({@code @CachePut}, {@code @Cacheable} after a miss)</td>
 *       <td>{@link DistributedCache#put} on the owner</td></tr>
 *   <tr><td>{@code putIfAbsent}</td><td>{@link DistributedCache#compareAndSet} with no expected value</td></tr>
 *   <tr><td>{@code evict} ({@code @CacheEvict})</td><td>{@link DistributedCache#invalidate}</td></tr>
 *   <tr><td>{@code clear} ({@code @CacheEvict(allEntries = true)})</td>
 *       <td>{@link DistributedCache#invalidateAll}: every member's shard</td></tr>
 *   <tr><td>{@code retrieve(key)} ({@code CompletableFuture} methods)</td>
 *       <td>{@link DistributedCache#getAsync}</td></tr>
 * </table>
 *
 * <p><b>Keys</b> of any supported type are turned into {@link StableKey}s by the manager's {@link
 * StableKeyEncoder}, which knows Spring's {@code SimpleKey}: equal keys on two nodes have the same
 * bytes and so the same owner. A key of an unsupported type fails with an {@link
 * IllegalArgumentException} naming it.
 *
 * <p><b>Nulls.</b> With {@code allowNullValues} (the default), a {@code null} result is cached as
 * Spring's {@link NullValue} marker, carried as a single marker byte whatever the value codec, and
 * read back as {@code null}; without it, caching {@code null} throws {@link
 * IllegalArgumentException}, as in every Spring cache.
 *
 * <p><b>Failures.</b> Reads never fail for want of the owner (they miss, and the method runs).
 * Writes whose owner is unreachable throw {@link dev.shardcache.PeerUnavailableException}; Spring
 * hands it to the {@code CacheErrorHandler}, which rethrows by default. Configure a {@code
 * LoggingCacheErrorHandler} to log it instead, accepting that an eviction may then be lost until
 * the entry expires.
 *
 * <p>This class is thread-safe. Its methods block for at most one peer call (bounded by the cache's
 * remote timeout), except {@code clear}, which calls every member in parallel, and {@code get(key,
 * valueLoader)}, which also waits for the loader.
 */
public final class ShardcacheCache extends AbstractValueAdaptingCache {
  private final DistributedCache<StableKey, Object> cache;
  private final StableKeyEncoder keys;

  ShardcacheCache(
      DistributedCache<StableKey, Object> cache, StableKeyEncoder keys, boolean allowNullValues) {
    super(allowNullValues);
    this.cache = requireNonNull(cache, "cache");
    this.keys = requireNonNull(keys, "keys");
  }

  @Override
  public String getName() {
    return cache.name();
  }

  /** Returns the {@code DistributedCache<StableKey, Object>} behind this cache. */
  @Override
  public DistributedCache<StableKey, Object> getNativeCache() {
    return cache;
  }

  /** Returns the stable key a Spring key is stored under. */
  public StableKey stableKey(Object key) {
    return keys.encode(key);
  }

  @Override
  protected @Nullable Object lookup(Object key) {
    return cache.getIfPresent(keys.encode(key));
  }

  @Override
  @SuppressWarnings("unchecked")
  public <T> @Nullable T get(Object key, Callable<T> valueLoader) {
    requireNonNull(valueLoader, "valueLoader");
    Object stored;
    try {
      stored = cache.get(keys.encode(key), k -> toStoreValue(valueLoader.call()));
    } catch (CacheLoadException e) {
      // The loader runs on this node, so the cause is what valueLoader threw.
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      throw new ValueRetrievalException(key, valueLoader, cause);
    }
    return (T) fromStoreValue(stored);
  }

  @Override
  public void put(Object key, @Nullable Object value) {
    cache.put(keys.encode(key), toStoreValue(value));
  }

  @Override
  public @Nullable ValueWrapper putIfAbsent(Object key, @Nullable Object value) {
    StableKey stableKey = keys.encode(key);
    Object stored = toStoreValue(value);
    // A removal may slip between a failed compareAndSet and the read that follows; try again then.
    for (int attempt = 0; attempt < 3; attempt++) {
      if (cache.compareAndSet(stableKey, null, stored)) {
        return null;
      }
      Object existing = cache.getIfPresent(stableKey);
      if (existing != null) {
        return toValueWrapper(existing);
      }
    }
    // The key keeps appearing and vanishing under us: report that it was present, with our value,
    // which is what a caller racing those writers could have seen.
    return toValueWrapper(stored);
  }

  @Override
  public void evict(Object key) {
    cache.invalidate(keys.encode(key));
  }

  /**
   * Removes the key and returns whether it was present. The answer is a hint, not a guarantee: the
   * presence check and the removal are two calls to the owner.
   */
  @Override
  public boolean evictIfPresent(Object key) {
    StableKey stableKey = keys.encode(key);
    boolean present = cache.getIfPresent(stableKey) != null;
    cache.invalidate(stableKey);
    return present;
  }

  /** Removes every entry from every member's shard ({@link DistributedCache#invalidateAll}). */
  @Override
  public void clear() {
    cache.invalidateAll();
  }

  /**
   * Removes every entry, as {@link #clear}, and returns {@code false}: whether the cluster held
   * entries before cannot be known without asking every member.
   */
  @Override
  public boolean invalidate() {
    cache.invalidateAll();
    return false;
  }

  /**
   * Returns a future of the cached value wrapped as a {@code ValueWrapper}, or of {@code null} on a
   * miss; it does not block. Spring uses it for {@code @Cacheable} methods that return a {@code
   * CompletableFuture}.
   */
  @Override
  public CompletableFuture<?> retrieve(Object key) {
    return cache.getAsync(keys.encode(key)).thenApply(this::toValueWrapper);
  }

  @Override
  public String toString() {
    return "ShardcacheCache{" + cache.name() + ", allowNullValues=" + isAllowNullValues() + "}";
  }
}
