/**
 * Micrometer metrics of a Shardcache node: {@link dev.shardcache.micrometer.ShardcacheMetrics}.
 *
 * <h2>Design note</h2>
 *
 * <p>Every meter is a function meter over state the node already keeps: counters read {@link
 * dev.shardcache.DistributedCache#stats()} (sums of {@code LongAdder}s) when the registry samples,
 * gauges read the ring and peer snapshots. Nothing is counted twice and the cache's hot path does
 * not know Micrometer exists, so the dependency stays optional and costs nothing when no registry
 * samples. Meter names follow Micrometer's dotted lower-case convention under the {@code
 * shardcache.} prefix, with the cache name as the {@code cache} tag, so one dashboard query covers
 * every cache.
 */
@org.jspecify.annotations.NullMarked
package dev.shardcache.micrometer;
