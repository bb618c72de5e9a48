package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.google.protobuf.ByteString;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;

/**
 * The owner's side of hot keys: which keys it serves to peers so often that the peers should keep
 * them for a moment, and which keys it has told them so.
 *
 * <p><b>What is counted.</b> Only reads served to peers ({@code Get} and {@code GetAll} answered
 * from this node's shard or loads), in a {@link HotKeySketch}: a read of a key this node holds,
 * answered from its own shard, costs nothing more than before. The sketch ({@value #WIDTH} counters
 * in each of {@value HotKeySketch#ROWS} rows, 32 KiB) is made at the first counted read, so a cache
 * no peer reads from never pays for it.
 *
 * <p><b>What is hot.</b> A key read at least {@value HotKeySketch#HOT_MINIMUM} times and at least
 * 1/{@value #CALLER_CACHE_SIZE} of the reads counted recently (the sketch halves its counts every
 * {@value #SAMPLE_PERIOD} reads): at most about as many keys as a caller's hot-key cache holds.
 *
 * <p><b>Invalidations.</b> A key marked hot in an answer is remembered for twice {@link #TTL} (a
 * caller keeps it at most {@code TTL} from when the answer arrives, which is after it was sent), in
 * a set bounded to {@value #MARKED_KEYS} keys. A write applied here to a remembered key sends
 * near-cache invalidations to every peer and waits for them, bounded, before it is acknowledged
 * ({@link Replication#invalidateNearCaches}). A mark is taken before the value is read, so a write
 * that changes a value an answer carried finds the mark. A mark the bound or a write elsewhere
 * misses (such as a write applied by a replica while the owner was unreachable) only leaves the
 * caller's copy until its TTL ends, the bound of every near cache.
 *
 * <p>Off (every method a no-op answering false) when {@link CacheConfig#hotKeys()} is false, and
 * when a near cache is configured: that keeps every remote read already, and every write sends
 * invalidations. Thread-safe; nothing blocks, so a peer's {@code Get} can be counted and marked on
 * the transport thread that serves it ({@link ServingExecutors}): the sketch skips a read it would
 * have to wait for ({@link HotKeySketch#record}), and the marks are a Caffeine cache, whose reads
 * and writes leave their bookkeeping to buffers drained in the background.
 */
final class HotKeys {
  /** How long a caller keeps a hot key's value: the staleness bound of hot keys. */
  static final Duration TTL = Duration.ofSeconds(1);

  /** The most hot keys a caller keeps. */
  static final int CALLER_CACHE_SIZE = 1_024;

  /** The most keys the owner remembers having marked hot. */
  static final int MARKED_KEYS = 4 * CALLER_CACHE_SIZE;

  static final int WIDTH = 2_048;
  static final int SAMPLE_PERIOD = 10 * CALLER_CACHE_SIZE;

  private final AtomicReference<@Nullable HotKeySketch> sketch = new AtomicReference<>();
  private final @Nullable Cache<ByteString, Boolean> marked;

  HotKeys(CacheConfig<?, ?> config) {
    this.marked =
        on(config)
            ? Caffeine.newBuilder()
                .maximumSize(MARKED_KEYS)
                .expireAfterWrite(TTL.multipliedBy(2))
                .build()
            : null;
  }

  /** Whether a cache with this configuration marks and keeps hot keys. */
  static boolean on(CacheConfig<?, ?> config) {
    return config.hotKeys() && !config.nearCacheEnabled();
  }

  /**
   * Counts a read of {@code key} served to a peer, before its value is read; returns whether the
   * answer marks it hot (and then remembers the mark).
   */
  boolean served(ByteString key) {
    Cache<ByteString, Boolean> remembered = marked;
    if (remembered == null) {
      return false;
    }
    if (!sketch().record(key.hashCode())) {
      return false;
    }
    remembered.put(key, Boolean.TRUE);
    return true;
  }

  /** Whether an answer of this node marked {@code key} hot recently enough to be held still. */
  boolean marked(ByteString key) {
    Cache<ByteString, Boolean> remembered = marked;
    return remembered != null && remembered.getIfPresent(key) != null;
  }

  /**
   * The sketch, made by the first counted read without a lock (the serving thread must not wait):
   * of concurrent first reads, one sketch wins and the others' are dropped.
   */
  private HotKeySketch sketch() {
    HotKeySketch made = sketch.get();
    if (made != null) {
      return made;
    }
    HotKeySketch fresh = new HotKeySketch(WIDTH, SAMPLE_PERIOD, CALLER_CACHE_SIZE);
    return sketch.compareAndSet(null, fresh) ? fresh : requireNonNull(sketch.get());
  }
}
