package dev.shardcache.micrometer;

import static java.util.Objects.requireNonNull;

import dev.shardcache.CacheStats;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.Collections;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import java.util.function.ToLongFunction;

/**
 * Publishes a {@link ShardcacheNode}'s state and the statistics of its caches to Micrometer.
 *
 * <p>Per cache, tagged {@code cache=<name>} (plus the tags given to the constructor), read from
 * {@link DistributedCache#stats()} each time the registry samples:
 *
 * <table>
 *   <caption>Cache meters</caption>
 *   <tr><th>meter</th><th>type</th><th>source</th></tr>
 *   <tr><td>{@code shardcache.cache.gets{result=hit|miss}}</td><td>function counter</td>
 *       <td>lookups in this node's shard ({@code hitCount}, {@code missCount})</td></tr>
 *   <tr><td>{@code shardcache.cache.near.hits}</td><td>function counter</td><td>{@code nearHitCount}</td></tr>
 *   <tr><td>{@code shardcache.cache.loads{result=success|failure}}</td><td>function counter</td>
 *       <td>loader calls on this node</td></tr>
 *   <tr><td>{@code shardcache.cache.load.duration}</td><td>function timer</td>
 *       <td>{@code loadCount}, {@code totalLoadTimeNanos}</td></tr>
 *   <tr><td>{@code shardcache.cache.remote.calls}</td><td>function counter</td><td>calls this node made to peers</td></tr>
 *   <tr><td>{@code shardcache.cache.remote.failures}</td><td>function counter</td><td>those that failed</td></tr>
 *   <tr><td>{@code shardcache.cache.fallback.loads}</td><td>function counter</td>
 *       <td>loads made here because the owner was unreachable</td></tr>
 *   <tr><td>{@code shardcache.cache.peer.requests}</td><td>function counter</td><td>requests peers made here</td></tr>
 *   <tr><td>{@code shardcache.cache.evictions}</td><td>function counter</td><td>shard evictions for size or expiry</td></tr>
 *   <tr><td>{@code shardcache.cache.size}</td><td>gauge</td><td>entries in this node's shard</td></tr>
 * </table>
 *
 * Per node: {@code shardcache.ring.members} (members of the ring, this node included), {@code
 * shardcache.peers} (the other members), {@code shardcache.peers.reachable} (those whose last call
 * did not fail for want of a connection), {@code shardcache.peers.suspected} (those the failure
 * detector has taken out of the ring) and {@code shardcache.replication.backlog} ({@link
 * ShardcacheNode#replicationBacklog()}: replica writes and invalidations not yet delivered, hinted
 * writes held for unreachable peers included, so a backlog that drains to zero after an outage is
 * the hinted handoff completing) and {@code shardcache.rebalance.handed.off} (entries streamed to
 * new holders after membership changes: the progress of rebalancing). They read {@code NaN} while
 * the node is not running.
 *
 * <p><b>Not reported:</b> anti-entropy repairs.
 *
 * <p>The caches reported are those the node defines when {@link #bindTo} runs; bind after defining
 * them (the Spring Boot auto-configuration binds once the context's singletons exist). Several
 * nodes in one JVM sharing a registry need distinguishing tags, such as {@code node=a}.
 *
 * <p>Thread-safe. Binding the same instance to the same registry twice registers nothing twice.
 * Sampling never blocks: statistics are local counters, and membership is a local snapshot.
 */
public final class ShardcacheMetrics implements MeterBinder {
  private final ShardcacheNode node;
  private final Tags tags;
  private final Set<MeterRegistry> bound =
      Collections.synchronizedSet(Collections.newSetFromMap(new WeakHashMap<>()));

  /** Reports {@code node} and its caches with no extra tags. */
  public ShardcacheMetrics(ShardcacheNode node) {
    this(node, Tags.empty());
  }

  /** Reports {@code node} and its caches, adding {@code tags} to every meter. */
  public ShardcacheMetrics(ShardcacheNode node, Iterable<Tag> tags) {
    this.node = requireNonNull(node, "node");
    this.tags = Tags.of(requireNonNull(tags, "tags"));
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    requireNonNull(registry, "registry");
    if (!bound.add(registry)) {
      return;
    }
    Gauge.builder("shardcache.ring.members", node, n -> whileRunning(n, () -> n.ring().size()))
        .tags(tags)
        .description("Members of this node's hash ring, itself included")
        .register(registry);
    Gauge.builder("shardcache.peers", node, n -> whileRunning(n, () -> n.peers().size()))
        .tags(tags)
        .description("Other members of the cluster")
        .register(registry);
    Gauge.builder(
            "shardcache.peers.reachable",
            node,
            n -> whileRunning(n, () -> n.reachablePeers().size()))
        .tags(tags)
        .description("Peers whose last call did not fail for want of a connection")
        .register(registry);
    Gauge.builder(
            "shardcache.peers.suspected",
            node,
            n -> whileRunning(n, () -> n.suspectedPeers().size()))
        .tags(tags)
        .description("Peers the failure detector has taken out of the ring")
        .register(registry);
    Gauge.builder(
            "shardcache.replication.backlog",
            node,
            n -> whileRunning(n, () -> (int) Math.min(Integer.MAX_VALUE, n.replicationBacklog())))
        .tags(tags)
        .description("Replica writes and invalidations not yet delivered, hinted writes included")
        .register(registry);
    FunctionCounter.builder(
            "shardcache.rebalance.handed.off",
            node,
            n -> n.isRunning() ? n.handedOffEntries() : Double.NaN)
        .tags(tags)
        .description("Entries streamed to their new holders after membership changes")
        .register(registry);
    for (DistributedCache<?, ?> cache : node.caches()) {
      bindCache(registry, cache);
    }
  }

  private void bindCache(MeterRegistry registry, DistributedCache<?, ?> cache) {
    Tags cacheTags = tags.and("cache", cache.name());
    counter(
        registry,
        "shardcache.cache.gets",
        cacheTags.and("result", "hit"),
        cache,
        CacheStats::hitCount,
        "Lookups in this node's shard that found the key");
    counter(
        registry,
        "shardcache.cache.gets",
        cacheTags.and("result", "miss"),
        cache,
        CacheStats::missCount,
        "Lookups in this node's shard that missed");
    counter(
        registry,
        "shardcache.cache.near.hits",
        cacheTags,
        cache,
        CacheStats::nearHitCount,
        "Reads answered by this node's near cache");
    counter(
        registry,
        "shardcache.cache.loads",
        cacheTags.and("result", "success"),
        cache,
        CacheStats::loadSuccessCount,
        "Loader calls on this node that returned a value");
    counter(
        registry,
        "shardcache.cache.loads",
        cacheTags.and("result", "failure"),
        cache,
        CacheStats::loadFailureCount,
        "Loader calls on this node that failed");
    counter(
        registry,
        "shardcache.cache.remote.calls",
        cacheTags,
        cache,
        CacheStats::remoteCallCount,
        "Calls this node made to peers");
    counter(
        registry,
        "shardcache.cache.remote.failures",
        cacheTags,
        cache,
        CacheStats::remoteFailureCount,
        "Calls this node made to peers that failed");
    counter(
        registry,
        "shardcache.cache.fallback.loads",
        cacheTags,
        cache,
        CacheStats::fallbackLoadCount,
        "Loads made here because the key's owner was unreachable");
    counter(
        registry,
        "shardcache.cache.peer.requests",
        cacheTags,
        cache,
        CacheStats::peerRequestCount,
        "Requests peers made to this node");
    counter(
        registry,
        "shardcache.cache.evictions",
        cacheTags,
        cache,
        CacheStats::evictionCount,
        "Entries this node's shard evicted for size or expiry");
    FunctionTimer.builder(
            "shardcache.cache.load.duration",
            cache,
            c -> c.stats().loadCount(),
            c -> c.stats().totalLoadTimeNanos(),
            TimeUnit.NANOSECONDS)
        .tags(cacheTags)
        .description("Time spent in the loader on this node")
        .register(registry);
    Gauge.builder(
            "shardcache.cache.size",
            cache,
            (ToDoubleFunction<DistributedCache<?, ?>>) c -> c.localSize())
        .tags(cacheTags)
        .description("Entries in this node's shard (not the near cache)")
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

  private static double whileRunning(ShardcacheNode node, java.util.function.IntSupplier value) {
    if (!node.isRunning()) {
      return Double.NaN;
    }
    try {
      return value.getAsInt();
    } catch (IllegalStateException closedMeanwhile) {
      return Double.NaN;
    }
  }

  @Override
  public String toString() {
    return "ShardcacheMetrics{" + node + ", tags=" + tags + "}";
  }
}
