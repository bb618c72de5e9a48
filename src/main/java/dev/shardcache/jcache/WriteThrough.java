package dev.shardcache.jcache;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.cache.Cache;
import javax.cache.configuration.CompleteConfiguration;
import javax.cache.configuration.Factory;
import javax.cache.integration.CacheWriter;
import javax.cache.integration.CacheWriterException;
import org.jspecify.annotations.Nullable;

/**
 * The write-through of one cache: its {@link CacheWriter}, told of each change before the cache
 * makes it, so that a writer that fails leaves the cache unchanged for the keys it failed on. Its
 * failures reach the caller as {@link CacheWriterException}. Without write-through in the
 * configuration every method does nothing.
 *
 * <p>The writer is called on the node where the operation was invoked, once per operation, before
 * the compare-and-set on the owner. It therefore hears of a conditional change that may then lose
 * its race (a {@code putIfAbsent} that another writer beat to the key), and of an entry processor's
 * change each time the processor runs ({@link ProcessorInvoker}). Values loaded by read-through are
 * never written back.
 *
 * <p>Thread-safe if the writer is; blocks on the writer.
 */
final class WriteThrough<K, V> {
  private final @Nullable CacheWriter<K, V> writer;

  WriteThrough(CompleteConfiguration<K, V> config) {
    Factory<CacheWriter<? super K, ? super V>> factory = config.getCacheWriterFactory();
    this.writer = config.isWriteThrough() && factory != null ? narrow(factory.create()) : null;
  }

  /** A writer of supertypes of K and V writes K and V: the cast only forgets the wildcard. */
  @SuppressWarnings("unchecked")
  private static <K, V> CacheWriter<K, V> narrow(CacheWriter<? super K, ? super V> writer) {
    return (CacheWriter<K, V>) writer;
  }

  /** Tells the writer that {@code key} is about to take {@code value}. */
  void write(K key, V value) {
    if (writer == null) {
      return;
    }
    try {
      writer.write(new CacheEntry<>(key, value));
    } catch (Exception e) {
      throw asWriterException(e);
    }
  }

  /** Tells the writer that {@code key} is about to be removed (whether or not it is present). */
  void delete(K key) {
    if (writer == null) {
      return;
    }
    try {
      writer.delete(key);
    } catch (Exception e) {
      throw asWriterException(e);
    }
  }

  /**
   * Writes {@code entries} in one batch. If the writer fails, the keys it had not written (those it
   * left in the batch, as the spec asks of it) must not be stored; the caller stores the others and
   * then throws the failure.
   */
  Unwritten writeAll(Map<? extends K, ? extends V> entries) {
    if (writer == null || entries.isEmpty()) {
      return Unwritten.NONE;
    }
    Collection<Cache.Entry<? extends K, ? extends V>> batch = new ArrayList<>();
    for (Map.Entry<? extends K, ? extends V> entry : entries.entrySet()) {
      batch.add(new CacheEntry<K, V>(entry.getKey(), entry.getValue()));
    }
    try {
      writer.writeAll(batch);
      return Unwritten.NONE;
    } catch (Exception e) {
      Set<Object> left = new HashSet<>();
      for (Cache.Entry<? extends K, ? extends V> notWritten : batch) {
        left.add(notWritten.getKey());
      }
      return new Unwritten(left, asWriterException(e));
    }
  }

  /** Deletes {@code keys} in one batch; as {@link #writeAll}, with the keys it had not deleted. */
  Unwritten deleteAll(List<K> keys) {
    if (writer == null || keys.isEmpty()) {
      return Unwritten.NONE;
    }
    Collection<Object> batch = new ArrayList<>(keys);
    try {
      writer.deleteAll(batch);
      return Unwritten.NONE;
    } catch (Exception e) {
      return new Unwritten(new HashSet<>(batch), asWriterException(e));
    }
  }

  /** Closes the writer if it is {@link java.io.Closeable}; failures are logged. */
  void close() {
    ListenerRegistration.closeQuietly(writer);
  }

  private static CacheWriterException asWriterException(Exception e) {
    return e instanceof CacheWriterException cwe ? cwe : new CacheWriterException(e);
  }

  /**
   * The keys a batch left undone, and why. Immutable.
   *
   * @param keys the keys the cache must leave unchanged
   * @param failure the writer's failure, to throw once the other keys are done; null if none
   */
  record Unwritten(Set<Object> keys, @Nullable CacheWriterException failure) {
    static final Unwritten NONE = new Unwritten(Set.of(), null);

    Unwritten {
      keys = Set.copyOf(keys);
    }

    boolean contains(Object key) {
      return keys.contains(key);
    }

    /** Throws the writer's failure, if there was one. */
    void throwFailure() {
      if (failure != null) {
        throw failure;
      }
    }
  }
}
