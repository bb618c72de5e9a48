package dev.shardcache.jcache;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The operations of the {@link javax.cache.Cache} API that read entries: {@code get}, {@code
 * getAll} and {@code containsKey}. A read asks the owner; an expired entry reads as absent (and is
 * removed, see {@link EntryStore#readLive}); a present one counts a hit and gets the access expiry,
 * an absent one counts a miss and, with read-through, is loaded ({@link ReadThrough}). {@code
 * containsKey} counts nothing, touches nothing and never loads, as the spec asks.
 *
 * <p>Thread-safe; blocks on the owner, on the loader and on synchronous listeners (of EXPIRED and
 * of CREATED by a load).
 */
final class EntryReads<K, V> {
  private final EntryStore<K, V> entries;
  private final ReadThrough<K, V> readThrough;
  private final JCacheStatistics statistics;

  EntryReads(EntryStore<K, V> entries, ReadThrough<K, V> readThrough, JCacheStatistics statistics) {
    this.entries = entries;
    this.readThrough = readThrough;
    this.statistics = statistics;
  }

  /** {@code get}: the value of {@code key}, loaded if absent and read-through; null if none. */
  @Nullable V get(K key) {
    long start = System.nanoTime();
    KeyBytes k = entries.keyOf(key);
    long now = EntryStore.now();
    Envelope found = entries.readLive(k, key, now);
    V value;
    if (found != null) {
      statistics.hit();
      entries.touch(k, found, now);
      value = entries.decode(found);
    } else {
      statistics.miss();
      value = readThrough.isEnabled() ? readThrough.load(k, key) : null;
    }
    statistics.getTime(start);
    return value;
  }

  /**
   * {@code getAll}: the values of those of {@code keys} that have one, read with one call per
   * owner; with read-through the misses are loaded with one call to the loader.
   */
  Map<K, V> getAll(Set<? extends K> keys) {
    long start = System.nanoTime();
    Map<KeyBytes, K> byBytes = entries.keysOf(keys);
    Map<KeyBytes, byte[]> found = entries.readAll(byBytes.keySet());
    Map<K, V> result = new LinkedHashMap<>();
    List<K> missing = new ArrayList<>();
    long now = EntryStore.now();
    for (Map.Entry<KeyBytes, K> entry : byBytes.entrySet()) {
      byte[] raw = found.get(entry.getKey());
      Envelope envelope = raw == null ? null : Envelope.wrap(raw);
      if (envelope != null && envelope.isExpiredAt(now)) {
        entries.expire(entry.getKey(), entry.getValue(), envelope);
        envelope = null;
      }
      if (envelope == null) {
        statistics.miss();
        missing.add(entry.getValue());
      } else {
        statistics.hit();
        entries.touch(entry.getKey(), envelope, now);
        result.put(entry.getValue(), entries.decode(envelope));
      }
    }
    if (readThrough.isEnabled() && !missing.isEmpty()) {
      result.putAll(readThrough.loadMissing(missing));
    }
    statistics.getTime(start);
    return result;
  }

  /** {@code containsKey}: whether {@code key} has a live entry. */
  boolean containsKey(K key) {
    Envelope found = entries.read(entries.keyOf(key));
    return found != null && !found.isExpiredAt(EntryStore.now());
  }
}
