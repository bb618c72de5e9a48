package dev.shardcache.examples.plain;

import javax.cache.annotation.CacheDefaults;
import javax.cache.annotation.CacheKey;
import javax.cache.annotation.CachePut;
import javax.cache.annotation.CacheRemove;
import javax.cache.annotation.CacheRemoveAll;
import javax.cache.annotation.CacheResult;
import javax.cache.annotation.CacheValue;

/**
 * A service annotated with the standard JSR-107 annotations, and nothing Shardcache-specific.
 * {@code CachingProxy} makes them work without a container.
 */
@CacheDefaults(cacheName = "forecasts")
public interface WeatherService {

  /** Cached under (city, day); the units are not part of the key. */
  @CacheResult
  Forecast forecast(@CacheKey String city, @CacheKey int day, String units);

  /** Stores a corrected forecast under (city, day). */
  @CachePut
  void correct(@CacheKey String city, @CacheKey int day, @CacheValue Forecast forecast);

  /** Drops the cached forecast of (city, day) on whichever node holds it. */
  @CacheRemove
  void invalidate(@CacheKey String city, @CacheKey int day);

  /** Drops every cached forecast on every node. */
  @CacheRemoveAll
  void invalidateAll();
}
