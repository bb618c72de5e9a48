package dev.shardcache.jcache;

import javax.cache.Cache;

/**
 * A key and its value, as returned by a JCache cache's iterator and given to a {@link
 * javax.cache.integration.CacheWriter}. Immutable; a copy, so changing the value object does not
 * change the cache.
 */
final class CacheEntry<K, V> implements Cache.Entry<K, V> {
  private final K key;
  private final V value;

  CacheEntry(K key, V value) {
    this.key = key;
    this.value = value;
  }

  @Override
  public K getKey() {
    return key;
  }

  @Override
  public V getValue() {
    return value;
  }

  @Override
  public <T> T unwrap(Class<T> clazz) {
    if (clazz.isInstance(this)) {
      return clazz.cast(this);
    }
    throw new IllegalArgumentException("a cache entry cannot be unwrapped to " + clazz.getName());
  }

  @Override
  public String toString() {
    return "CacheEntry{" + key + "=" + value + "}";
  }
}
