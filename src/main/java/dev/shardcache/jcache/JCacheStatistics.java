package dev.shardcache.jcache;

import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;
import javax.cache.management.CacheStatisticsMXBean;

/**
 * The counters of one JCache cache on this node, in the spec's terms, exposed as its {@link
 * CacheStatisticsMXBean}. Counted on the node where an operation is invoked, whichever node owns
 * the key; to total a cache over the cluster, add up the nodes' beans.
 *
 * <p>The counting rules (those the TCK checks): a read of a present entry is a hit, of an absent or
 * expired one a miss; {@code containsKey} counts nothing; conditional operations count a hit or a
 * miss for the lookup they make; a put is counted when a value was stored (not when a zero creation
 * expiry kept it out); a removal when an entry was removed; {@code clear} counts nothing. Evictions
 * are those of this node's shard (for size), which the core counts. Times are in microseconds.
 *
 * <p>Counts only while enabled ({@link #setEnabled}), as the cache's {@code statisticsEnabled}
 * setting says; the recording methods are no-ops otherwise, so callers need not ask first. The
 * counts kept while disabled stay as they were. Thread-safe.
 */
final class JCacheStatistics implements CacheStatisticsMXBean {
  private final LongAdder hits = new LongAdder();
  private final LongAdder misses = new LongAdder();
  private final LongAdder puts = new LongAdder();
  private final LongAdder removals = new LongAdder();
  private final LongAdder getNanos = new LongAdder();
  private final LongAdder putNanos = new LongAdder();
  private final LongAdder removeNanos = new LongAdder();
  private final LongSupplier coreEvictions;
  private volatile long evictionsAtClear;
  private volatile boolean enabled;

  /**
   * @param coreEvictions the eviction count of the core shard that holds this cache's entries
   */
  JCacheStatistics(LongSupplier coreEvictions) {
    this.coreEvictions = coreEvictions;
    this.evictionsAtClear = coreEvictions.getAsLong();
  }

  /** Starts or stops counting. */
  void setEnabled(boolean enabled) {
    this.enabled = enabled;
  }

  /** Whether it counts: an operation whose counts need a read first may skip the read if not. */
  boolean isEnabled() {
    return enabled;
  }

  void hit() {
    if (enabled) {
      hits.increment();
    }
  }

  void miss() {
    if (enabled) {
      misses.increment();
    }
  }

  void put() {
    if (enabled) {
      puts.increment();
    }
  }

  void removal() {
    if (enabled) {
      removals.increment();
    }
  }

  void getTime(long startNanos) {
    if (enabled) {
      getNanos.add(System.nanoTime() - startNanos);
    }
  }

  void putTime(long startNanos) {
    if (enabled) {
      putNanos.add(System.nanoTime() - startNanos);
    }
  }

  void removeTime(long startNanos) {
    if (enabled) {
      removeNanos.add(System.nanoTime() - startNanos);
    }
  }

  @Override
  public void clear() {
    hits.reset();
    misses.reset();
    puts.reset();
    removals.reset();
    getNanos.reset();
    putNanos.reset();
    removeNanos.reset();
    evictionsAtClear = coreEvictions.getAsLong();
  }

  @Override
  public long getCacheHits() {
    return hits.sum();
  }

  @Override
  public float getCacheHitPercentage() {
    long gets = getCacheGets();
    return gets == 0 ? 0f : getCacheHits() * 100f / gets;
  }

  @Override
  public long getCacheMisses() {
    return misses.sum();
  }

  @Override
  public float getCacheMissPercentage() {
    long gets = getCacheGets();
    return gets == 0 ? 0f : getCacheMisses() * 100f / gets;
  }

  @Override
  public long getCacheGets() {
    return hits.sum() + misses.sum();
  }

  @Override
  public long getCachePuts() {
    return puts.sum();
  }

  @Override
  public long getCacheRemovals() {
    return removals.sum();
  }

  @Override
  public long getCacheEvictions() {
    return Math.max(0, coreEvictions.getAsLong() - evictionsAtClear);
  }

  @Override
  public float getAverageGetTime() {
    return averageMicros(getNanos.sum(), getCacheGets());
  }

  @Override
  public float getAveragePutTime() {
    return averageMicros(putNanos.sum(), getCachePuts());
  }

  @Override
  public float getAverageRemoveTime() {
    return averageMicros(removeNanos.sum(), getCacheRemovals());
  }

  private static float averageMicros(long nanos, long count) {
    return count == 0 ? 0f : (nanos / 1_000f) / count;
  }
}
