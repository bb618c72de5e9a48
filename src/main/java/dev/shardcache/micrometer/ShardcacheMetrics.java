package dev.shardcache.micrometer;

import static java.util.Objects.requireNonNull;

import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.Collections;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Publishes a {@link ShardcacheNode}'s state and its caches' statistics to Micrometer.
 *
 * <p>Per cache, a {@link ShardcacheCacheMetrics}: Micrometer's cache meters ({@code
 * cache.gets{result=hit|miss}}, {@code cache.puts}, {@code cache.evictions}, {@code cache.size})
 * and the distributed ones beside them ({@code shardcache.cache.remote.calls}, {@code
 * shardcache.cache.fallback.loads}, {@code shardcache.cache.near.hits}, ...), tagged {@code
 * cache=<name>} plus the tags given to the constructor; the table is on {@link
 * ShardcacheCacheMetrics}. {@link #withoutCacheMeters()} leaves them to someone else, such as
 * Spring Boot's cache metrics, which bind the caches of a Spring cache manager with tags of their
 * own.
 *
 * <p>Per node: {@code shardcache.ring.members} (members of the ring, this node included), {@code
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
 * <p>The caches reported are those the node defines when {@link #bindTo} runs; binding again later
 * adds the caches defined since (the Spring Boot auto-configuration binds once the context is
 * refreshed). Several nodes in one JVM sharing a registry need distinguishing tags, such as {@code
 * node=a}.
 *
 * <p>Thread-safe. Binding the same instance to the same registry twice registers nothing twice.
 * Sampling never blocks: statistics are local counters, and membership is a local snapshot.
 */
public final class ShardcacheMetrics implements MeterBinder {
  private final ShardcacheNode node;
  private final Tags tags;
  private final boolean cacheMeters;

  /** The caches bound to each registry, by name; a registry is here once its node meters are. */
  private final Map<MeterRegistry, Set<String>> bound =
      Collections.synchronizedMap(new WeakHashMap<>());

  /** Reports {@code node} and its caches with no extra tags. */
  public ShardcacheMetrics(ShardcacheNode node) {
    this(node, Tags.empty());
  }

  /** Reports {@code node} and its caches, adding {@code tags} to every meter. */
  public ShardcacheMetrics(ShardcacheNode node, Iterable<Tag> tags) {
    this(requireNonNull(node, "node"), Tags.of(requireNonNull(tags, "tags")), true);
  }

  private ShardcacheMetrics(ShardcacheNode node, Tags tags, boolean cacheMeters) {
    this.node = node;
    this.tags = tags;
    this.cacheMeters = cacheMeters;
  }

  /**
   * Returns a binder of the node's meters only, with the same tags: the caches' meters are bound by
   * someone else (Spring Boot's cache metrics, or {@link ShardcacheCacheMetrics} by hand).
   */
  public ShardcacheMetrics withoutCacheMeters() {
    return new ShardcacheMetrics(node, tags, false);
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    requireNonNull(registry, "registry");
    Set<String> caches;
    synchronized (bound) {
      caches = bound.get(registry);
      if (caches == null) {
        caches = ConcurrentHashMap.newKeySet();
        bound.put(registry, caches);
        bindNode(registry);
      }
    }
    if (!cacheMeters) {
      return;
    }
    for (DistributedCache<?, ?> cache : node.caches()) {
      if (caches.add(cache.name())) {
        new ShardcacheCacheMetrics(cache, tags).bindTo(registry);
      }
    }
  }

  private void bindNode(MeterRegistry registry) {
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
    return "ShardcacheMetrics{"
        + node
        + ", tags="
        + tags
        + (cacheMeters ? "" : ", without cache meters")
        + "}";
  }
}
