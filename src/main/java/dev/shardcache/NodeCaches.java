package dev.shardcache;

import static com.google.common.base.Preconditions.checkState;

import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The named caches of one node, and the bounded pool their loads run on.
 *
 * <p>Its invariant: a name keeps the configuration it was first defined with for the life of the
 * node. Defining it again with an equal configuration returns the same cache; with another
 * configuration it fails, so two parts of an application never share, unknowingly, a cache they
 * configured differently, and a peer's request for a name always reaches one cache. Concurrent
 * first definitions of a name create one cache.
 *
 * <p>Thread-safe; nothing here blocks.
 */
final class NodeCaches {
  /** How many loads may wait for a thread, per load thread. */
  static final int LOADS_WAITING_PER_THREAD = 16;

  private final Map<String, DefaultDistributedCache<?, ?>> byName = new ConcurrentHashMap<>();
  private final Supplier<Cluster> clusters;
  private final ExecutorService loads;
  private final int maxInboundMessageBytes;
  private final int maxBatchBytes;
  private final Subscribers subscribers;
  private final Predicate<String> nearOpen;

  /**
   * {@code clusters} gives each cache the node's cluster while the node runs (and throws {@link
   * IllegalStateException} otherwise); loads get at most {@code maxConcurrentLoads} threads; writes
   * applied here push their invalidations to {@code subscribers}, and near caches keep values only
   * while {@code nearOpen} says so for their name (see {@link NearCache}).
   */
  NodeCaches(
      Supplier<Cluster> clusters,
      int maxConcurrentLoads,
      int maxInboundMessageBytes,
      int maxBatchBytes,
      Subscribers subscribers,
      Predicate<String> nearOpen) {
    this.clusters = clusters;
    this.subscribers = subscribers;
    this.nearOpen = nearOpen;
    this.maxInboundMessageBytes = maxInboundMessageBytes;
    this.maxBatchBytes = maxBatchBytes;
    this.loads =
        BoundedPools.create(
            "shardcache-load-%d",
            maxConcurrentLoads, LOADS_WAITING_PER_THREAD * maxConcurrentLoads);
  }

  /**
   * Returns the cache named {@code name}, creating it with {@code config} on the first call.
   *
   * @throws IllegalStateException if the name is already defined with a different configuration
   */
  @SuppressWarnings("unchecked") // an equal configuration has equal codecs, hence the same K and V
  <K, V> DefaultDistributedCache<K, V> define(String name, CacheConfig<K, V> config) {
    DefaultDistributedCache<?, ?> cache =
        byName.computeIfAbsent(
            name,
            n -> {
              ReplicateBatch.warnIfTooLarge(n, config, maxInboundMessageBytes);
              return new DefaultDistributedCache<>(
                  n, config, clusters, loads, maxBatchBytes, subscribers, () -> nearOpen.test(n));
            });
    checkState(
        cache.config().equals(config),
        "cache '%s' is already defined with %s; a name can have only one configuration (reuse the"
            + " DistributedCache returned the first time)",
        name,
        cache.config());
    return (DefaultDistributedCache<K, V>) cache;
  }

  /** Returns the cache named {@code name}, or null if none is defined. */
  @Nullable DefaultDistributedCache<?, ?> get(String name) {
    return byName.get(name);
  }

  /** Returns a live view of the caches, in no particular order. */
  Collection<DefaultDistributedCache<?, ?>> all() {
    return byName.values();
  }

  /** Returns the entries handed to new holders, summed over the caches. */
  long handedOffEntries() {
    return byName.values().stream().mapToLong(DefaultDistributedCache::handedOffCount).sum();
  }

  /** Returns the pool the caches' loads run on; {@link NodeShutdown} stops it. */
  ExecutorService loads() {
    return loads;
  }
}
