package dev.shardcache.jcache;

import static dev.shardcache.jcache.AtomicUpdate.done;
import static dev.shardcache.jcache.AtomicUpdate.retry;
import static java.util.Objects.requireNonNull;

import javax.cache.processor.EntryProcessor;
import javax.cache.processor.EntryProcessorException;
import org.jspecify.annotations.Nullable;

/**
 * Runs {@link EntryProcessor}s: {@code Cache.invoke}. The processor runs on the calling node
 * against a {@link ProcessorEntry}, a snapshot of the entry, and the net effect of what it did is
 * then applied with one compare-and-set from that snapshot. If the entry changed in between, the
 * effect is discarded and the processor runs again on a new snapshot ({@link AtomicUpdate}), so
 * that a processor is atomic on the owner without holding a lock across the network. The price:
 * under contention a processor, and with write-through the writer, may be called more than once;
 * only the run that was applied fires events and counts statistics.
 *
 * <p>A processor's exception, other than an {@link EntryProcessorException} or a {@link
 * VirtualMachineError}, is wrapped in an {@link EntryProcessorException}; nothing is applied.
 *
 * <p>Thread-safe; blocks on the processor, the owner, the writer and the loader.
 */
final class ProcessorInvoker<K, V> {
  private final EntryStore<K, V> entries;
  private final AtomicUpdate<K, V> atomic;
  private final ReadThrough<K, V> readThrough;
  private final WriteThrough<K, V> writeThrough;
  private final JCacheStatistics statistics;

  ProcessorInvoker(
      EntryStore<K, V> entries,
      AtomicUpdate<K, V> atomic,
      ReadThrough<K, V> readThrough,
      WriteThrough<K, V> writeThrough,
      JCacheStatistics statistics) {
    this.entries = entries;
    this.atomic = atomic;
    this.readThrough = readThrough;
    this.writeThrough = writeThrough;
    this.statistics = statistics;
  }

  /** Runs {@code processor} on the entry of {@code key} until its effect is applied; its result. */
  <T> @Nullable T invoke(K key, EntryProcessor<K, V, T> processor, Object... arguments) {
    long start = System.nanoTime();
    KeyBytes k = entries.keyOf(key);
    return atomic.runFromNewReads(
        k,
        key,
        (current, now) -> {
          V original = current == null ? null : entries.decode(current);
          ProcessorEntry<K, V> entry =
              new ProcessorEntry<>(key, original, readThrough.forProcessor());
          T result;
          try {
            result = processor.process(entry, arguments);
          } catch (EntryProcessorException e) {
            throw e;
          } catch (VirtualMachineError e) {
            throw e;
          } catch (Exception | Error e) {
            throw new EntryProcessorException("entry processor failed on key " + key + ": " + e, e);
          }
          if (!apply(k, key, current, entry, now, start)) {
            return retry();
          }
          if (current == null) {
            statistics.miss();
          } else {
            statistics.hit();
          }
          return done(result);
        });
  }

  /**
   * Applies the net effect of a processor with at most one compare-and-set from {@code current}.
   * Returns false if that lost, so the processor must run again.
   */
  private boolean apply(
      KeyBytes k,
      K key,
      @Nullable Envelope current,
      ProcessorEntry<K, V> entry,
      long now,
      long start) {
    V value = entry.value();
    switch (entry.operation()) {
      case NONE:
        return true;
      case ACCESS:
        entries.touch(k, requireNonNull(current), now);
        return true;
      case LOAD:
        entries.createLoaded(
            k, key, requireNonNull(value), entries.encodeValue(requireNonNull(value)), now);
        return true;
      case CREATE:
        {
          V created = requireNonNull(value);
          byte[] bytes = entries.encodeValue(created);
          writeThrough.write(key, created);
          switch (entries.create(k, key, created, bytes, now)) {
            case LOST:
              return false;
            case STORED:
              statistics.putTime(start);
              return true;
            default:
              return true; // expired as it was made: nothing to store
          }
        }
      case UPDATE:
        {
          V updated = requireNonNull(value);
          byte[] bytes = entries.encodeValue(updated);
          writeThrough.write(key, updated);
          if (current == null) {
            return false; // it vanished after the snapshot: run again as a create
          }
          return entries.update(k, key, updated, bytes, current, now);
        }
      case REMOVE:
        writeThrough.delete(key);
        return current == null || entries.remove(k, key, current, start);
      default:
        throw new AssertionError(entry.operation());
    }
  }
}
