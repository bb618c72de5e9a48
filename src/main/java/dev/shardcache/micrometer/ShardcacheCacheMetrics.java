package dev.shardcache.micrometer;

import static java.util.Objects.requireNonNull;

import dev.shardcache.CacheStats;
import dev.shardcache.DistributedCache;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.cache.CacheMeterBinder;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;
import org.jspecify.annotations.Nullable;

/**
 * Publishes one {@link DistributedCache}'s statistics on this node by Micrometer's cache
 * conventions ({@link CacheMeterBinder}), so the dashboards and alerts made for Caffeine, Hazelcast
 * or Redis caches show it too, and its distributed figures beside them under {@code shardcache.*}.
 * Every meter is tagged {@code cache=<name>} plus the tags given.
 *
 * <table>
 *   <caption>Meters of one cache</caption>
 *   <tr><th>meter</th><th>type</th><th>what</th></tr>
 *   <tr><td>{@code cache.gets{result=hit|miss}}</td><td>function counter</td>
 *       <td>lookups in this node's shard, for its own callers and for peers
 *       ({@link CacheStats#hitCount}, {@link CacheStats#missCount})</td></tr>
 *   <tr><td>{@code cache.puts}</td><td>function counter</td>
 *       <td>values stored in this node's shard: writes, loads and copies from peers
 *       ({@link CacheStats#putCount})</td></tr>
 *   <tr><td>{@code cache.evictions}</td><td>function counter</td>
 *       <td>entries the shard evicted for size, weight or expiry</td></tr>
 *   <tr><td>{@code cache.size}</td><td>gauge</td><td>entries in this node's shard</td></tr>
 *   <tr><td>{@code shardcache.cache.weight}</td><td>gauge</td>
 *       <td>bytes the shard holds as {@code maximumWeight} counts them; only for a cache bounded by
 *       weight</td></tr>
 *   <tr><td>{@code shardcache.cache.near.hits}</td><td>function counter</td>
 *       <td>reads this node's near cache answered without a call</td></tr>
 *   <tr><td>{@code shardcache.cache.remote.calls}</td><td>function counter</td>
 *       <td>calls this node made to peers</td></tr>
 *   <tr><td>{@code shardcache.cache.remote.failures}</td><td>function counter</td>
 *       <td>those that failed</td></tr>
 *   <tr><td>{@code shardcache.cache.fallback.loads}</td><td>function counter</td>
 *       <td>loads made here because the owner was unreachable</td></tr>
 *   <tr><td>{@code shardcache.cache.peer.requests}</td><td>function counter</td>
 *       <td>requests peers made to this node</td></tr>
 *   <tr><td>{@code shardcache.cache.loads{result=success|failure}}</td><td>function counter</td>
 *       <td>loader calls on this node</td></tr>
 *   <tr><td>{@code shardcache.cache.load.duration}</td><td>function timer</td>
 *       <td>time spent in the loader on this node</td></tr>
 * </table>
 *
 * Every figure is this node's: summed over the nodes, {@code cache.gets} counts each lookup once
 * (where the key is held), while {@code cache.size} and {@code cache.puts} count a replicated entry
 * once per holder. Node-wide figures (members, suspected peers, replication backlog) are published
 * by {@link ShardcacheMetrics}.
 *
 * <p>Spring Boot binds it to every cache of a Shardcache cache manager through its cache metrics
 * support ({@code dev.shardcache.spring.boot.ShardcacheCacheMeterBinderProvider}); elsewhere bind
 * it by hand, or let {@link ShardcacheMetrics} bind one per cache of a node.
 *
 * <p>Thread-safe. Sampling never blocks: it reads local counters. It holds the cache weakly, as
 * Micrometer's binders do: meters of a cache no longer referenced read {@code NaN}.
 */
public final class ShardcacheCacheMetrics extends CacheMeterBinder<DistributedCache<?, ?>> {

  /** Reports {@code cache} with its name as the {@code cache} tag and no other tags. */
  public ShardcacheCacheMetrics(DistributedCache<?, ?> cache) {
    this(cache, Tags.empty());
  }

  /** Reports {@code cache}, tagged {@code cache=<its name>} and {@code tags}. */
  public ShardcacheCacheMetrics(DistributedCache<?, ?> cache, Iterable<Tag> tags) {
    super(requireNonNull(cache, "cache"), cache.name(), Tags.of(requireNonNull(tags, "tags")));
  }

  @Override
  protected @Nullable Long size() {
    DistributedCache<?, ?> cache = getCache();
    return cache == null ? null : cache.localSize();
  }

  @Override
  protected long hitCount() {
    return count(CacheStats::hitCount);
  }

  @Override
  protected @Nullable Long missCount() {
    return count(CacheStats::missCount);
  }

  @Override
  protected @Nullable Long evictionCount() {
    return count(CacheStats::evictionCount);
  }

  @Override
  protected long putCount() {
    return count(CacheStats::putCount);
  }

  private long count(ToLongFunction<CacheStats> counter) {
    DistributedCache<?, ?> cache = getCache();
    return cache == null ? 0 : counter.applyAsLong(cache.stats());
  }

  @Override
  protected void bindImplementationSpecificMetrics(MeterRegistry registry) {
    DistributedCache<?, ?> cache = getCache();
    if (cache == null) {
      return;
    }
    Iterable<Tag> tags = getTagsWithCacheName();
    if (cache.localWeight().isPresent()) {
      Gauge.builder(
              "shardcache.cache.weight",
              cache,
              c -> c.localWeight().isPresent() ? c.localWeight().getAsLong() : Double.NaN)
          .tags(tags)
          .baseUnit("bytes")
          .description("Bytes this node's shard holds, as maximumWeight counts them")
          .register(registry);
    }
    counter(
        registry,
        "shardcache.cache.near.hits",
        Tags.of(tags),
        cache,
        CacheStats::nearHitCount,
        "Reads answered by this node's near cache");
    counter(
        registry,
        "shardcache.cache.remote.calls",
        Tags.of(tags),
        cache,
        CacheStats::remoteCallCount,
        "Calls this node made to peers");
    counter(
        registry,
        "shardcache.cache.remote.failures",
        Tags.of(tags),
        cache,
        CacheStats::remoteFailureCount,
        "Calls this node made to peers that failed");
    counter(
        registry,
        "shardcache.cache.fallback.loads",
        Tags.of(tags),
        cache,
        CacheStats::fallbackLoadCount,
        "Loads made here because the key's owner was unreachable");
    counter(
        registry,
        "shardcache.cache.peer.requests",
        Tags.of(tags),
        cache,
        CacheStats::peerRequestCount,
        "Requests peers made to this node");
    counter(
        registry,
        "shardcache.cache.loads",
        Tags.of(tags).and("result", "success"),
        cache,
        CacheStats::loadSuccessCount,
        "Loader calls on this node that returned a value");
    counter(
        registry,
        "shardcache.cache.loads",
        Tags.of(tags).and("result", "failure"),
        cache,
        CacheStats::loadFailureCount,
        "Loader calls on this node that failed");
    FunctionTimer.builder(
            "shardcache.cache.load.duration",
            cache,
            c -> c.stats().loadCount(),
            c -> c.stats().totalLoadTimeNanos(),
            TimeUnit.NANOSECONDS)
        .tags(tags)
        .description("Time spent in the loader on this node")
        .register(registry);
  }

  private static void counter(
      MeterRegistry registry,
      String name,
      Tags tags,
      DistributedCache<?, ?> cache,
      ToLongFunction<CacheStats> count,
      String description) {
    FunctionCounter.builder(name, cache, c -> count.applyAsLong(c.stats()))
        .tags(tags)
        .description(description)
        .register(registry);
  }
}
