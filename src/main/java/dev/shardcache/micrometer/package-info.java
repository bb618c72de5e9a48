/**
 * Micrometer metrics of a Shardcache node: {@link dev.shardcache.micrometer.ShardcacheMetrics} for
 * the node and its caches, {@link dev.shardcache.micrometer.ShardcacheCacheMetrics} for one cache.
 *
 * <h2>Design note</h2>
 *
 * <p>Every meter is a function meter over state the node already keeps: counters read {@link
 * dev.shardcache.DistributedCache#stats()} (sums of {@code LongAdder}s) when the registry samples,
 * gauges read the ring and peer snapshots. Nothing is counted twice and the cache's hot path does
 * not know Micrometer exists, so the dependency stays optional and costs nothing when no registry
 * samples.
 *
 * <p><b>The ecosystem's names first.</b> What a cache has in common with every other cache (gets by
 * hit and miss, puts, evictions, size) is published under Micrometer's own cache names ({@code
 * cache.gets}, ...) through its {@code CacheMeterBinder}, tagged {@code cache=<name>}: the
 * dashboards and alerts people already have for Caffeine, Hazelcast or Redis caches then show
 * Shardcache's, and Spring Boot's cache metrics can bind them like any other cache. What only a
 * distributed cache has (calls to peers, fallback loads, near-cache hits, loads, the replication
 * backlog, membership) keeps the {@code shardcache.} prefix beside them. Each figure is the node's
 * own, so a query sums over nodes.
 */
@org.jspecify.annotations.NullMarked
package dev.shardcache.micrometer;
