package dev.shardcache.jcache;

import javax.cache.Cache;
import javax.cache.event.CacheEntryEvent;
import javax.cache.event.EventType;
import org.jspecify.annotations.Nullable;

/**
 * One change of one entry, as delivered to a {@link javax.cache.event.CacheEntryListener}. For
 * UPDATED events the old value is always available; for REMOVED and EXPIRED events both {@link
 * #getValue()} and {@link #getOldValue()} are the value the entry had; CREATED events have no old
 * value. Immutable.
 */
final class EntryEvent<K, V> extends CacheEntryEvent<K, V> {
  private static final long serialVersionUID = 1L;

  private final K key;
  private final transient @Nullable V value;
  private final transient @Nullable V oldValue;

  private EntryEvent(
      Cache<K, V> source, EventType type, K key, @Nullable V value, @Nullable V oldValue) {
    super(source, type);
    this.key = key;
    this.value = value;
    this.oldValue = oldValue;
  }

  static <K, V> EntryEvent<K, V> created(Cache<K, V> source, K key, V value) {
    return new EntryEvent<>(source, EventType.CREATED, key, value, null);
  }

  static <K, V> EntryEvent<K, V> updated(Cache<K, V> source, K key, V value, V oldValue) {
    return new EntryEvent<>(source, EventType.UPDATED, key, value, oldValue);
  }

  static <K, V> EntryEvent<K, V> removed(Cache<K, V> source, K key, V oldValue) {
    return new EntryEvent<>(source, EventType.REMOVED, key, oldValue, oldValue);
  }

  static <K, V> EntryEvent<K, V> expired(Cache<K, V> source, K key, V oldValue) {
    return new EntryEvent<>(source, EventType.EXPIRED, key, oldValue, oldValue);
  }

  @Override
  public K getKey() {
    return key;
  }

  @Override
  public @Nullable V getValue() {
    return value;
  }

  @Override
  public @Nullable V getOldValue() {
    return oldValue;
  }

  @Override
  public boolean isOldValueAvailable() {
    return oldValue != null;
  }

  @Override
  public <T> T unwrap(Class<T> clazz) {
    if (clazz.isInstance(this)) {
      return clazz.cast(this);
    }
    throw new IllegalArgumentException(
        "a cache entry event cannot be unwrapped to " + clazz.getName());
  }

  @Override
  public String toString() {
    return "EntryEvent{" + getEventType() + ", key=" + key + "}";
  }
}
