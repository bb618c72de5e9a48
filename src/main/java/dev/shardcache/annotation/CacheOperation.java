package dev.shardcache.annotation;

import com.google.common.primitives.ImmutableIntArray;
import dev.shardcache.DistributedCache;
import dev.shardcache.objects.StableKey;

/**
 * What one annotated interface method does with its cache, resolved once when the proxy is made:
 * the cache, which arguments form the key, and the annotation's options. Immutable.
 */
sealed interface CacheOperation {

  /** The cache the operation uses. */
  DistributedCache<StableKey, Object> cache();

  /**
   * {@code @CacheResult}: return the cached value, or call the method and cache a non-null result.
   */
  record Result(
      DistributedCache<StableKey, Object> cache, ImmutableIntArray keyParameters, boolean skipGet)
      implements CacheOperation {}

  /** {@code @CachePut}: cache the {@code @CacheValue} argument under the key. */
  record Put(
      DistributedCache<StableKey, Object> cache,
      ImmutableIntArray keyParameters,
      int valueParameter,
      boolean afterInvocation,
      ExceptionRule cacheFor)
      implements CacheOperation {}

  /** {@code @CacheRemove}: remove the key. */
  record Remove(
      DistributedCache<StableKey, Object> cache,
      ImmutableIntArray keyParameters,
      boolean afterInvocation,
      ExceptionRule evictFor)
      implements CacheOperation {}

  /** {@code @CacheRemoveAll}: remove every entry, on every node. */
  record RemoveAll(
      DistributedCache<StableKey, Object> cache, boolean afterInvocation, ExceptionRule evictFor)
      implements CacheOperation {}
}
