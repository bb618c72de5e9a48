package dev.shardcache.spring.boot;

import dev.shardcache.micrometer.ShardcacheCacheMetrics;
import dev.shardcache.spring.ShardcacheCache;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.binder.MeterBinder;
import org.springframework.boot.cache.metrics.CacheMeterBinderProvider;

/**
 * Lets Spring Boot's cache metrics bind a {@link ShardcacheCache}: its meters are those of {@link
 * ShardcacheCacheMetrics} ({@code cache.gets}, {@code cache.puts}, {@code cache.evictions}, {@code
 * cache.size} and the distributed {@code shardcache.cache.*} ones) with the tags Boot adds ({@code
 * cache.manager}, {@code name}), so {@code /actuator/metrics/cache.gets} covers Shardcache's caches
 * with no code. {@link ShardcacheAutoConfiguration} registers it when Boot's cache metrics support
 * ({@code spring-boot-cache}) and Micrometer are on the class path.
 *
 * <p>Stateless and thread-safe.
 */
public final class ShardcacheCacheMeterBinderProvider
    implements CacheMeterBinderProvider<ShardcacheCache> {

  @Override
  public MeterBinder getMeterBinder(ShardcacheCache cache, Iterable<Tag> tags) {
    return new ShardcacheCacheMetrics(cache.getNativeCache(), tags);
  }
}
