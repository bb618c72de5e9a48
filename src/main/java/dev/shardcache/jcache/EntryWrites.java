package dev.shardcache.jcache;

import static dev.shardcache.jcache.AtomicUpdate.done;
import static dev.shardcache.jcache.AtomicUpdate.retry;
import static java.util.Objects.requireNonNull;

import dev.shardcache.CacheScan;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The operations of the {@link javax.cache.Cache} API that change entries, each built the same way:
 * read the live entry on its owner, decide from it (and count the hit or miss the spec asks of a
 * conditional operation), tell the writer, then change the entry through {@link AtomicUpdate},
 * which retries from a new read whenever another writer changed the entry first. So every one of
 * them is atomic on the owner, and its event and statistics are recorded by the node whose
 * compare-and-set won.
 *
 * <p>The writer is called before the change (see {@link WriteThrough}); when it fails, the entry is
 * left as it was. Keys and values are checked (null, configured type) as they are encoded; the
 * caller checks the other arguments and that the cache is open.
 *
 * <p>Thread-safe; blocks on the owner, the writer and synchronous listeners.
 */
final class EntryWrites<K, V> {
  /** The keys {@code removeAll()} hands to one {@link #removeAll(List)}: one writer call. */
  static final int REMOVE_ALL_BATCH = 1_000;

  private final EntryStore<K, V> entries;
  private final AtomicUpdate<K, V> atomic;
  private final WriteThrough<K, V> writeThrough;
  private final JCacheStatistics statistics;

  EntryWrites(
      EntryStore<K, V> entries,
      AtomicUpdate<K, V> atomic,
      WriteThrough<K, V> writeThrough,
      JCacheStatistics statistics) {
    this.entries = entries;
    this.atomic = atomic;
    this.writeThrough = writeThrough;
    this.statistics = statistics;
  }

  /** {@code put}, and {@code getAndPut} when {@code countLookup}; returns the value replaced. */
  @Nullable V put(K key, V value, boolean countLookup) {
    long start = System.nanoTime();
    KeyBytes k = entries.keyOf(key);
    byte[] valueBytes = entries.encodeValue(value);
    long now = EntryStore.now();
    Envelope current = entries.readLive(k, key, now);
    if (countLookup) {
      if (current == null) {
        statistics.miss();
      } else {
        statistics.hit();
      }
    }
    writeThrough.write(key, value);
    V previous = store(k, key, value, valueBytes, current, now);
    if (countLookup) {
      statistics.getTime(start);
    }
    statistics.putTime(start);
    return previous;
  }

  /**
   * {@code putAll}: one batch to the writer, then each entry stored as by {@code put}, except those
   * the writer failed on; its failure is thrown after the others are stored.
   *
   * <p>When no put's outcome depends on the entry it replaces ({@link EntryStore#blindPutExpiry}:
   * no listener, an expiry policy that sets one time on creation and update), the entries are
   * stored with one core {@code putAll}, one call per holder; otherwise each is read and
   * compare-and-set on its owner, as {@code put} does, so that its event is CREATED or UPDATED.
   */
  void putAll(Map<? extends K, ? extends V> map) {
    long start = System.nanoTime();
    Map<K, byte[]> encoded = new LinkedHashMap<>();
    for (Map.Entry<? extends K, ? extends V> entry : map.entrySet()) {
      K key = requireNonNull(entry.getKey(), "entries must not have a null key");
      V value = requireNonNull(entry.getValue(), "entries must not have a null value");
      entries.checkKey(key);
      encoded.put(key, entries.encodeValue(value));
    }
    WriteThrough.Unwritten unwritten = writeThrough.writeAll(map);
    long now = EntryStore.now();
    Long blindExpiry = entries.blindPutExpiry(now);
    if (blindExpiry != null) {
      Map<KeyBytes, byte[]> envelopes = new LinkedHashMap<>();
      encoded.forEach(
          (key, valueBytes) -> {
            if (!unwritten.contains(key)) {
              envelopes.put(entries.keyOf(key), Envelope.of(blindExpiry, valueBytes).raw());
            }
          });
      try {
        entries.putAll(envelopes);
      } finally {
        statistics.putTime(start);
      }
      unwritten.throwFailure();
      return;
    }
    for (Map.Entry<? extends K, ? extends V> entry : map.entrySet()) {
      K key = entry.getKey();
      if (unwritten.contains(key)) {
        continue;
      }
      KeyBytes k = entries.keyOf(key);
      store(
          k,
          key,
          entry.getValue(),
          requireNonNull(encoded.get(key)),
          entries.readLive(k, key, now),
          now);
    }
    statistics.putTime(start);
    unwritten.throwFailure();
  }

  /**
   * Stores {@code value}, creating the entry or replacing whatever it holds; returns the value
   * replaced. A creation whose expiry is zero stores nothing. Does not call the writer.
   */
  private @Nullable V store(
      KeyBytes k, K key, V value, byte[] valueBytes, @Nullable Envelope current, long now) {
    return atomic.run(
        k,
        key,
        now,
        current,
        (seen, at) -> {
          if (seen == null) {
            return entries.create(k, key, value, valueBytes, at) == EntryStore.Creation.LOST
                ? retry()
                : AtomicUpdate.doneWithoutValue();
          }
          return entries.update(k, key, value, valueBytes, seen, at)
              ? done(entries.decode(seen))
              : retry();
        });
  }

  /**
   * {@code putIfAbsent}. A creation lost to another writer answers false without a retry: that
   * writer's value was there first.
   */
  boolean putIfAbsent(K key, V value) {
    long start = System.nanoTime();
    KeyBytes k = entries.keyOf(key);
    byte[] valueBytes = entries.encodeValue(value);
    long now = EntryStore.now();
    Envelope current = entries.readLive(k, key, now);
    if (current != null) {
      statistics.hit();
      return false;
    }
    statistics.miss();
    writeThrough.write(key, value);
    return atomic.run(
        k,
        key,
        now,
        null,
        (seen, at) -> {
          return switch (entries.create(k, key, value, valueBytes, at)) {
            case LOST -> done(false);
            case STORED -> {
              statistics.putTime(start);
              yield done(true);
            }
            default -> done(true); // expired as it was made: never visible, but it was absent
          };
        });
  }

  /** {@code remove(key)}: the writer hears of it even if the key is absent. */
  boolean remove(K key) {
    long start = System.nanoTime();
    KeyBytes k = entries.keyOf(key);
    long now = EntryStore.now();
    Envelope current = entries.readLive(k, key, now);
    writeThrough.delete(key);
    return removeFrom(k, key, now, current, start);
  }

  /** Removes the entry, whatever it holds; false if there was none. */
  private boolean removeFrom(KeyBytes k, K key, long now, @Nullable Envelope current, long start) {
    return atomic.run(
        k,
        key,
        now,
        current,
        (seen, at) -> {
          if (seen == null) {
            return done(false);
          }
          return entries.remove(k, key, seen, start) ? done(true) : retry();
        });
  }

  /** {@code remove(key, oldValue)}. */
  boolean remove(K key, V oldValue) {
    long start = System.nanoTime();
    KeyBytes k = entries.keyOf(key);
    long now = EntryStore.now();
    Envelope current = entries.readLive(k, key, now);
    if (current == null) {
      statistics.miss();
      return false;
    }
    statistics.hit();
    if (!entries.decode(current).equals(oldValue)) {
      entries.touch(k, current, now);
      return false;
    }
    writeThrough.delete(key);
    return atomic.run(
        k,
        key,
        now,
        current,
        (seen, at) -> {
          if (seen == null || !entries.decode(seen).equals(oldValue)) {
            return done(false);
          }
          return entries.remove(k, key, seen, start) ? done(true) : retry();
        });
  }

  /** {@code getAndRemove}: the value removed, or null if there was none. */
  @Nullable V getAndRemove(K key) {
    long start = System.nanoTime();
    KeyBytes k = entries.keyOf(key);
    long now = EntryStore.now();
    Envelope current = entries.readLive(k, key, now);
    writeThrough.delete(key);
    return atomic.run(
        k,
        key,
        now,
        current,
        (seen, at) -> {
          if (seen == null) {
            statistics.miss();
            return AtomicUpdate.doneWithoutValue();
          }
          if (!entries.remove(k, key, seen, start)) {
            return retry();
          }
          statistics.hit();
          statistics.getTime(start);
          return done(entries.decode(seen));
        });
  }

  /** {@code replace(key, oldValue, newValue)}. */
  boolean replace(K key, V oldValue, V newValue) {
    long start = System.nanoTime();
    KeyBytes k = entries.keyOf(key);
    byte[] valueBytes = entries.encodeValue(newValue);
    long now = EntryStore.now();
    Envelope current = entries.readLive(k, key, now);
    if (current == null) {
      statistics.miss();
      return false;
    }
    statistics.hit();
    if (!entries.decode(current).equals(oldValue)) {
      entries.touch(k, current, now);
      return false;
    }
    writeThrough.write(key, newValue);
    return atomic.run(
        k,
        key,
        now,
        current,
        (seen, at) -> {
          if (seen == null || !entries.decode(seen).equals(oldValue)) {
            return done(false);
          }
          if (!entries.update(k, key, newValue, valueBytes, seen, at)) {
            return retry();
          }
          statistics.putTime(start);
          return done(true);
        });
  }

  /**
   * {@code replace(key, value)} and {@code getAndReplace}: replaces the value of a present key and
   * returns the old one, or null if the key was absent.
   */
  @Nullable V replace(K key, V value) {
    long start = System.nanoTime();
    KeyBytes k = entries.keyOf(key);
    byte[] valueBytes = entries.encodeValue(value);
    long now = EntryStore.now();
    Envelope current = entries.readLive(k, key, now);
    if (current == null) {
      statistics.miss();
      return null;
    }
    statistics.hit();
    writeThrough.write(key, value);
    return atomic.run(
        k,
        key,
        now,
        current,
        (seen, at) -> {
          if (seen == null) {
            return AtomicUpdate.doneWithoutValue();
          }
          if (!entries.update(k, key, value, valueBytes, seen, at)) {
            return retry();
          }
          statistics.putTime(start);
          return done(entries.decode(seen));
        });
  }

  /**
   * {@code removeAll}: one batch to the writer, then each key removed as by {@code remove}, except
   * those the writer failed on; its failure is thrown after the others are removed.
   *
   * <p>When nobody listens and statistics are off ({@link EntryStore#blindRemovesAllowed}), the
   * keys are removed with one core {@code invalidateAll(keys)}, one call per holder; otherwise each
   * is read and removed on its owner, so that its event and removal are recorded once.
   */
  void removeAll(List<K> keys) {
    WriteThrough.Unwritten unwritten = writeThrough.deleteAll(keys);
    if (entries.blindRemovesAllowed()) {
      List<KeyBytes> written = new ArrayList<>();
      for (K key : keys) {
        if (!unwritten.contains(key)) {
          written.add(entries.keyOf(key));
        }
      }
      entries.removeAll(written);
      unwritten.throwFailure();
      return;
    }
    long now = EntryStore.now();
    for (K key : keys) {
      if (unwritten.contains(key)) {
        continue;
      }
      long start = System.nanoTime();
      KeyBytes k = entries.keyOf(key);
      removeFrom(k, key, now, entries.readLive(k, key, now), start);
    }
    unwritten.throwFailure();
  }

  /**
   * {@code removeAll()}: removes, as {@link #removeAll(List)} does, every live entry of the
   * cluster, read from the core's scan and removed {@value #REMOVE_ALL_BATCH} keys at a time (one
   * writer {@code deleteAll} per batch), so memory does not grow with the cache; an entry found
   * expired is removed and reported EXPIRED instead. Then clears the cache on every member, so that
   * entries written while it scanned do not survive either (those go without events or writer
   * calls). A member that cannot be scanned fails it with a {@link javax.cache.CacheException}
   * before the clear; the batches removed until then stay removed.
   */
  void removeAllEntries() {
    CacheScan<KeyBytes, byte[]> scan = entries.scan();
    try {
      List<K> batch = new ArrayList<>();
      for (Map.Entry<KeyBytes, byte[]> found = entries.nextOf(scan);
          found != null;
          found = entries.nextOf(scan)) {
        KeyBytes k = found.getKey();
        K key = entries.decodeKey(k);
        Envelope envelope = Envelope.wrap(found.getValue());
        if (envelope.isExpiredAt(EntryStore.now())) {
          entries.expire(k, key, envelope);
          continue;
        }
        batch.add(key);
        if (batch.size() == REMOVE_ALL_BATCH) {
          removeAll(batch);
          batch = new ArrayList<>();
        }
      }
      removeAll(batch);
    } finally {
      scan.close();
    }
    entries.invalidateAll();
  }
}
