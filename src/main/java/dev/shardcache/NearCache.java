package dev.shardcache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import org.jspecify.annotations.Nullable;

/**
 * Values of keys held by other nodes, kept on this node for a short TTL: every value read from a
 * holder when the cache is configured with a near cache; otherwise, with {@link
 * CacheConfig#hotKeys()} on, only the values the holder marked hot, at most {@value
 * HotKeys#CALLER_CACHE_SIZE} for {@link HotKeys#TTL}; a no-op when both are off. A value here is at
 * most the TTL old: writes send invalidations (of every key with a near cache, of the keys the
 * owner marked hot without), and a lost invalidation is bounded by the TTL.
 *
 * <p>Each value keeps its write time on this node's clock (when it was kept here, less the age its
 * holder reported), so that a near-cache hit of a value due for a refresh ({@code
 * refreshAfterWrite}) can start one, as a hit on a holder does; without refreshes the time is not
 * read.
 *
 * <p>A read that was in flight when this node wrote the key must not keep its (older) answer here;
 * see {@link RemoteReads}.
 *
 * <p>On a client-only node, nobody lists the node as a peer, so invalidations reach it over its
 * subscriptions to the members instead ({@link Subscriptions}): values are kept only while {@code
 * open} says every member it reads from will push it their invalidations; on a member {@code open}
 * is always true. Thread-safe.
 */
final class NearCache<K, V> {
  /** A near-cached value and its write time on this node's clock (0 when refreshes are off). */
  record Near<V>(V value, long writtenAtMillis) {}

  private final @Nullable Cache<K, Near<V>> cache;
  private final boolean keepsAll;
  private final LongAdder hits;
  private final boolean refreshes;
  private final BooleanSupplier open;

  NearCache(CacheConfig<K, V> config, LongAdder hits, BooleanSupplier open) {
    this.hits = hits;
    this.open = open;
    this.refreshes = config.refreshAfterWrite().isPresent();
    this.keepsAll = config.nearCacheEnabled();
    if (keepsAll) {
      this.cache =
          Caffeine.newBuilder()
              .maximumSize(config.nearCacheMaximumSize())
              .expireAfterWrite(config.nearCacheTtl())
              .build();
    } else if (HotKeys.on(config)) {
      this.cache =
          Caffeine.newBuilder()
              .maximumSize(HotKeys.CALLER_CACHE_SIZE)
              .expireAfterWrite(HotKeys.TTL)
              .build();
    } else {
      this.cache = null;
    }
  }

  /** Whether a value a holder answered, marked {@code hot} or not, is kept here now. */
  boolean keeps(boolean hot) {
    return cache != null && (keepsAll || hot) && open.getAsBoolean();
  }

  /** Whether this cache keeps copies of other holders' values at all: near or hot ones. */
  boolean enabled() {
    return cache != null;
  }

  @Nullable Near<V> get(K key) {
    if (cache == null) {
      return null;
    }
    Near<V> near = cache.getIfPresent(key);
    if (near != null) {
      hits.increment();
    }
    return near;
  }

  /**
   * Keeps {@code value}, which its holder reported as {@code ageMillis} old (0 for a value loaded
   * or written just now).
   */
  void put(K key, V value, long ageMillis) {
    if (cache != null) {
      cache.put(key, new Near<>(value, refreshes ? System.currentTimeMillis() - ageMillis : 0));
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
