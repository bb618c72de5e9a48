package dev.shardcache;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * Reads this node has in flight to other holders, one per key: concurrent local readers of a key
 * share one remote call.
 *
 * <p><b>A read never outlives a write made here.</b> A write on this node {@linkplain #detach
 * detaches} the key's read: readers arriving after the write start a new read (which sees the
 * write) instead of joining one that started before it, and the old read's answer is not kept in
 * the near cache. The near cache and the detach race; {@link #keepNear} closes it by re-checking
 * after the put, in this interleaving: (1) the read puts its answer; (2) the write detaches and
 * then invalidates the near cache. If the read's re-check comes before (2)'s detach, the put came
 * before (2)'s invalidation, which removes it; if after, the read removes it itself.
 *
 * <p>Thread-safe.
 */
final class RemoteReads<K, V> {

  /** One read in flight. */
  static final class Read<V> {
    final CompletableFuture<@Nullable V> answer = new CompletableFuture<>();
    volatile boolean detached;
  }

  private final ConcurrentMap<K, Read<V>> reads = new ConcurrentHashMap<>();
  private final NearCache<K, V> near;

  /** Grows with every detach; a batch read keeps its answers only if it did not move. */
  private final AtomicLong detaches = new AtomicLong();

  RemoteReads(NearCache<K, V> near) {
    this.near = near;
  }

  /** Returns the answer of the read of {@code key} in flight, or starts one with {@code start}. */
  CompletableFuture<@Nullable V> join(K key, Consumer<Read<V>> start) {
    Read<V> mine = new Read<>();
    Read<V> running = reads.putIfAbsent(key, mine);
    if (running != null) {
      return running.answer;
    }
    Completions.whenDone(mine.answer, (value, failure) -> reads.remove(key, mine));
    start.accept(mine);
    return mine.answer;
  }

  /** Whether the near cache keeps a value a holder answered, marked {@code hot} or not. */
  boolean keeps(boolean hot) {
    return near.keeps(hot);
  }

  /**
   * Keeps a value read for {@code read} (its holder reported it {@code ageMillis} old) in the near
   * cache, if it keeps such values ({@code hot}: the holder marked the key hot), unless a write
   * detached the read.
   */
  void keepNear(Read<V> read, K key, V value, long ageMillis, boolean hot) {
    if (read.detached || !near.keeps(hot)) {
      return;
    }
    near.put(key, value, ageMillis);
    if (read.detached) {
      near.invalidate(key);
    }
  }

  /** The current detach count: take it before a batch read starts, for {@link #keepNearSince}. */
  long detachCount() {
    return detaches.get();
  }

  /**
   * Keeps a value a batch read answered in the near cache, as {@link #keepNear} does, unless a
   * write on this node detached any read since {@code detachCount} was taken (coarser than per key,
   * and as safe).
   */
  void keepNearSince(long detachCount, K key, V value, long ageMillis, boolean hot) {
    if (!near.keeps(hot) || detaches.get() != detachCount) {
      return;
    }
    near.put(key, value, ageMillis);
    if (detaches.get() != detachCount) {
      near.invalidate(key);
    }
  }

  /** Detaches the read of {@code key}, then drops the key from the near cache. */
  void detach(K key) {
    detaches.incrementAndGet();
    Read<V> read = reads.remove(key);
    if (read != null) {
      read.detached = true;
    }
    near.invalidate(key);
  }

  /** Detaches every read, then empties the near cache. */
  void detachAll() {
    detaches.incrementAndGet();
    for (K key : reads.keySet()) {
      Read<V> read = reads.remove(key);
      if (read != null) {
        read.detached = true;
      }
    }
    near.invalidateAll();
  }
}
