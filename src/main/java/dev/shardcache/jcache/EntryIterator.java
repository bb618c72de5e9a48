package dev.shardcache.jcache;

import static java.util.Objects.requireNonNull;

import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.Consumer;
import javax.cache.Cache;
import org.jspecify.annotations.Nullable;

/**
 * The iterator of a JCache cache: over the keys this node wrote or loaded ({@link KeyIndex}), as
 * they were when the iteration began, reading each entry from its owner when it is reached. An
 * entry that is gone by then is skipped and its key forgotten; one that has expired is removed as
 * any read would. Each entry returned counts as a hit and gets the access expiry, as a {@code get}
 * would.
 *
 * <p>Used by one thread, as iterators are; not thread-safe. Blocks on the owner in {@link #hasNext}
 * and {@link #next}.
 */
final class EntryIterator<K, V> implements Iterator<Cache.Entry<K, V>> {
  private final EntryStore<K, V> entries;
  private final JCacheStatistics statistics;
  private final Consumer<K> remover;
  private final List<KeyBytes> keys;
  private int position;
  private @Nullable CacheEntry<K, V> next;
  private @Nullable CacheEntry<K, V> last;

  /**
   * @param remover removes a key as the cache's {@code remove(key)} does, for {@link #remove}
   */
  EntryIterator(EntryStore<K, V> entries, JCacheStatistics statistics, Consumer<K> remover) {
    this.entries = entries;
    this.statistics = statistics;
    this.remover = remover;
    this.keys = entries.knownKeys();
  }

  @Override
  public boolean hasNext() {
    while (next == null && position < keys.size()) {
      KeyBytes k = keys.get(position++);
      K key = entries.decodeKey(k);
      long now = EntryStore.now();
      Envelope found = entries.readLive(k, key, now);
      if (found == null) {
        entries.forget(k);
        continue;
      }
      statistics.hit();
      entries.touch(k, found, now);
      next = new CacheEntry<>(key, entries.decode(found));
    }
    return next != null;
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
