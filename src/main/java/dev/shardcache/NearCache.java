package dev.shardcache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;

/**
 * Values of keys held by other nodes, kept on this node for a short TTL when the cache is
 * configured with a near cache; a no-op otherwise. A value here is at most the TTL old: writes on
 * any node send invalidations, and a lost invalidation is bounded by the TTL.
 *
 * <p>A read that was in flight when this node wrote the key must not keep its (older) answer here;
 * see {@link RemoteReads}. Thread-safe.
 */
final class NearCache<K, V> {
  private final @Nullable Cache<K, V> cache;
  private final LongAdder hits;

  NearCache(CacheConfig<K, V> config, LongAdder hits) {
    this.hits = hits;
    this.cache =
        config.nearCacheEnabled()
            ? Caffeine.newBuilder()
                .maximumSize(config.nearCacheMaximumSize())
                .expireAfterWrite(config.nearCacheTtl())
                .build()
            : null;
  }

  boolean enabled() {
    return cache != null;
  }

  @Nullable V get(K key) {
    if (cache == null) {
      return null;
    }
    V value = cache.getIfPresent(key);
    if (value != null) {
      hits.increment();
    }
    return value;
  }

  void put(K key, V value) {
    if (cache != null) {
      cache.put(key, value);
    }
  }

  void invalidate(K key) {
    if (cache != null) {
      cache.invalidate(key);
    }
  }

  void invalidateAll() {
    if (cache != null) {
      cache.invalidateAll();
    }
  }
}
