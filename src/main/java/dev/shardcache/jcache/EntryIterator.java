package dev.shardcache.jcache;

import static java.util.Objects.requireNonNull;

import dev.shardcache.CacheScan;
import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.function.Consumer;
import javax.cache.Cache;
import org.jspecify.annotations.Nullable;

/**
 * The iterator of a JCache cache: over every entry of the cluster, read from the core's {@link
 * dev.shardcache.DistributedCache#scan() scan} (each member answers the entries it owns, page by
 * page, one member after another; see {@link CacheScan} for what a scan sees while entries change
 * and members come and go). An entry whose JCache expiry has passed is removed and reported EXPIRED
 * as any read would, and skipped. Each entry returned counts as a hit and gets the access expiry,
 * as a {@code get} would; {@link #remove} is the cache's {@code remove(key)}.
 *
 * <p>Used by one thread, as iterators are; not thread-safe. Blocks in {@link #hasNext} and {@link
 * #next} while a page of the scan is on its way, and on the owner for an expiry or access-expiry
 * compare-and-set. A member that cannot be read fails them with a {@link
 * javax.cache.CacheException} whose cause is the core's {@link
 * dev.shardcache.ScanIncompleteException}. An iterator dropped before its end needs no closing:
 * members keep nothing between pages, and at most one page call is left to finish.
 */
final class EntryIterator<K, V> implements Iterator<Cache.Entry<K, V>> {
  private final EntryStore<K, V> entries;
  private final JCacheStatistics statistics;
  private final Consumer<K> remover;
  private final CacheScan<KeyBytes, byte[]> scan;
  private @Nullable CacheEntry<K, V> next;
  private @Nullable CacheEntry<K, V> last;

  /**
   * @param remover removes a key as the cache's {@code remove(key)} does, for {@link #remove}
   */
  EntryIterator(EntryStore<K, V> entries, JCacheStatistics statistics, Consumer<K> remover) {
    this.entries = entries;
    this.statistics = statistics;
    this.remover = remover;
    this.scan = entries.scan();
  }

  @Override
  public boolean hasNext() {
    while (next == null) {
      Map.Entry<KeyBytes, byte[]> found = entries.nextOf(scan);
      if (found == null) {
        return false;
      }
      KeyBytes k = found.getKey();
      K key = entries.decodeKey(k);
      Envelope envelope = Envelope.wrap(found.getValue());
      long now = EntryStore.now();
      if (envelope.isExpiredAt(now)) {
        entries.expire(k, key, envelope);
        continue;
      }
      statistics.hit();
      entries.touch(k, envelope, now);
      next = new CacheEntry<>(key, entries.decode(envelope));
    }
    return true;
  }

  @Override
  public Cache.Entry<K, V> next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    last = next;
    next = null;
    return requireNonNull(last);
  }

  @Override
  public void remove() {
    CacheEntry<K, V> removing = last;
    if (removing == null) {
      throw new IllegalStateException("next() was not called, or remove() was already called");
    }
    last = null;
    remover.accept(removing.getKey());
  }
}
