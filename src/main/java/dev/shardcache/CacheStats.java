package dev.shardcache;

import static com.google.common.base.Preconditions.checkArgument;

import org.jspecify.annotations.Nullable;

/**
 * A snapshot of the counters of one {@link DistributedCache} on one node. Immutable and
 * thread-safe. Counters only grow while a node runs; {@link #minus} gives the activity between two
 * snapshots.
 *
 * <p>What is counted where:
 *
 * <ul>
 *   <li>{@link #hitCount} / {@link #missCount}: lookups in <em>this node's shard</em>, for this
 *       node's own callers and for requests that peers sent here;
 *   <li>{@link #nearHitCount}: reads answered from this node's near cache without a call;
 *   <li>{@link #loadSuccessCount} / {@link #loadFailureCount} / {@link #totalLoadTimeNanos}: calls
 *       of the loader <em>on this node</em> (a read served by another node's load is not counted
 *       here);
 *   <li>{@link #remoteCallCount} / {@link #remoteFailureCount}: calls this node made to peers, and
 *       those that failed for any reason;
 *   <li>{@link #fallbackLoadCount}: reads loaded here because their owner could not be reached;
 *   <li>{@link #peerRequestCount}: requests that peers made to this node for this cache;
 *   <li>{@link #evictionCount}: entries the shard evicted for size or expiry.
 * </ul>
 */
public final class CacheStats {
  private static final CacheStats EMPTY = new CacheStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

  private final long hitCount;
  private final long missCount;
  private final long nearHitCount;
  private final long loadSuccessCount;
  private final long loadFailureCount;
  private final long totalLoadTimeNanos;
  private final long remoteCallCount;
  private final long remoteFailureCount;
  private final long fallbackLoadCount;
  private final long peerRequestCount;
  private final long evictionCount;
  private final long putCount;

  @SuppressWarnings("ParameterNumber")
  CacheStats(
      long hitCount,
      long missCount,
      long nearHitCount,
      long loadSuccessCount,
      long loadFailureCount,
      long totalLoadTimeNanos,
      long remoteCallCount,
      long remoteFailureCount,
      long fallbackLoadCount,
      long peerRequestCount,
      long evictionCount,
      long putCount) {
    checkArgument(
        (hitCount
                | missCount
                | nearHitCount
                | loadSuccessCount
                | loadFailureCount
                | totalLoadTimeNanos
                | remoteCallCount
                | remoteFailureCount
                | fallbackLoadCount
                | peerRequestCount
                | evictionCount
                | putCount)
            >= 0,
        "counters must not be negative");
    this.hitCount = hitCount;
    this.missCount = missCount;
    this.nearHitCount = nearHitCount;
    this.loadSuccessCount = loadSuccessCount;
    this.loadFailureCount = loadFailureCount;
    this.totalLoadTimeNanos = totalLoadTimeNanos;
    this.remoteCallCount = remoteCallCount;
    this.remoteFailureCount = remoteFailureCount;
    this.fallbackLoadCount = fallbackLoadCount;
    this.peerRequestCount = peerRequestCount;
    this.evictionCount = evictionCount;
    this.putCount = putCount;
  }

  /** Returns a snapshot whose counters are all zero. */
  public static CacheStats empty() {
    return EMPTY;
  }

  public long hitCount() {
    return hitCount;
  }

  public long missCount() {
    return missCount;
  }

  /** Lookups in this node's shard: {@code hitCount + missCount}. */
  public long requestCount() {
    return saturatedAdd(hitCount, missCount);
  }

  /** The fraction of shard lookups that hit, or 1.0 when there were none (as Caffeine reports). */
  public double hitRate() {
    long requests = requestCount();
    return requests == 0 ? 1.0 : (double) hitCount / requests;
  }

  public long nearHitCount() {
    return nearHitCount;
  }

  public long loadSuccessCount() {
    return loadSuccessCount;
  }

  public long loadFailureCount() {
    return loadFailureCount;
  }

  /** Loader calls on this node: {@code loadSuccessCount + loadFailureCount}. */
  public long loadCount() {
    return saturatedAdd(loadSuccessCount, loadFailureCount);
  }

  public long totalLoadTimeNanos() {
    return totalLoadTimeNanos;
  }

  public long remoteCallCount() {
    return remoteCallCount;
  }

  public long remoteFailureCount() {
    return remoteFailureCount;
  }

  public long fallbackLoadCount() {
    return fallbackLoadCount;
  }

  public long peerRequestCount() {
    return peerRequestCount;
  }

  public long evictionCount() {
    return evictionCount;
  }

  public long putCount() {
    return putCount;
  }

  /**
   * Returns the counters of this snapshot minus those of {@code earlier}, floored at zero (a
   * restarted node's counters start again from zero).
   */
  public CacheStats minus(CacheStats earlier) {
    return new CacheStats(
        Math.max(0, hitCount - earlier.hitCount),
        Math.max(0, missCount - earlier.missCount),
        Math.max(0, nearHitCount - earlier.nearHitCount),
        Math.max(0, loadSuccessCount - earlier.loadSuccessCount),
        Math.max(0, loadFailureCount - earlier.loadFailureCount),
        Math.max(0, totalLoadTimeNanos - earlier.totalLoadTimeNanos),
        Math.max(0, remoteCallCount - earlier.remoteCallCount),
        Math.max(0, remoteFailureCount - earlier.remoteFailureCount),
        Math.max(0, fallbackLoadCount - earlier.fallbackLoadCount),
        Math.max(0, peerRequestCount - earlier.peerRequestCount),
        Math.max(0, evictionCount - earlier.evictionCount),
        Math.max(0, putCount - earlier.putCount));
  }

  /** Returns the sum of this snapshot and {@code other}, such as to total a cache over nodes. */
  public CacheStats plus(CacheStats other) {
    return new CacheStats(
        saturatedAdd(hitCount, other.hitCount),
        saturatedAdd(missCount, other.missCount),
        saturatedAdd(nearHitCount, other.nearHitCount),
        saturatedAdd(loadSuccessCount, other.loadSuccessCount),
        saturatedAdd(loadFailureCount, other.loadFailureCount),
        saturatedAdd(totalLoadTimeNanos, other.totalLoadTimeNanos),
        saturatedAdd(remoteCallCount, other.remoteCallCount),
        saturatedAdd(remoteFailureCount, other.remoteFailureCount),
        saturatedAdd(fallbackLoadCount, other.fallbackLoadCount),
        saturatedAdd(peerRequestCount, other.peerRequestCount),
        saturatedAdd(evictionCount, other.evictionCount),
        saturatedAdd(putCount, other.putCount));
  }

  private static long saturatedAdd(long a, long b) {
    long sum = a + b;
    return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof CacheStats s
        && hitCount == s.hitCount
        && missCount == s.missCount
        && nearHitCount == s.nearHitCount
        && loadSuccessCount == s.loadSuccessCount
        && loadFailureCount == s.loadFailureCount
        && totalLoadTimeNanos == s.totalLoadTimeNanos
        && remoteCallCount == s.remoteCallCount
        && remoteFailureCount == s.remoteFailureCount
        && fallbackLoadCount == s.fallbackLoadCount
        && peerRequestCount == s.peerRequestCount
        && evictionCount == s.evictionCount
        && putCount == s.putCount;
  }

  @Override
  public int hashCode() {
    return Long.hashCode(hitCount) * 31
        + Long.hashCode(missCount) * 17
        + Long.hashCode(loadCount()) * 7
        + Long.hashCode(remoteCallCount);
  }

  @Override
  public String toString() {
    return "CacheStats{hits="
        + hitCount
        + ", misses="
        + missCount
        + ", nearHits="
        + nearHitCount
        + ", loadSuccesses="
        + loadSuccessCount
        + ", loadFailures="
        + loadFailureCount
        + ", totalLoadTimeNanos="
        + totalLoadTimeNanos
        + ", remoteCalls="
        + remoteCallCount
        + ", remoteFailures="
        + remoteFailureCount
        + ", fallbackLoads="
        + fallbackLoadCount
        + ", peerRequests="
        + peerRequestCount
        + ", evictions="
        + evictionCount
        + ", puts="
        + putCount
        + "}";
  }
}
