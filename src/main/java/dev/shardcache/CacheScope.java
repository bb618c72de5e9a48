package dev.shardcache;

import java.util.concurrent.Executor;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * What every part of one cache's data path shares: its name and configuration, this node's view of
 * the cluster, the executor loads run on, the counters, the codec, the shard, the router, the near
 * cache and the owner's hot keys, the node's bound on the messages hand-off and anti-entropy build,
 * and the client-only members subscribed to this node's invalidations. Immutable; the parts it
 * holds are thread-safe.
 *
 * @param clusters this node's current view; throws {@link IllegalStateException} when the node is
 *     not running
 * @param executor runs loads and anything else that may block; never a gRPC thread
 * @param maxBatchBytes the most bytes of one hand-off chunk, Digest or ScanPage answer page, GetAll
 *     or Fetch answer this node builds (the node's {@code maxBatchBytes}); {@link
 *     HashOrderedPage#answerBytes} bounds an answer by it
 * @param subscribers the client-only members that get the invalidations of writes applied here
 *     (none on a client-only node, which applies no write)
 */
record CacheScope<K, V>(
    String name,
    CacheConfig<K, V> config,
    Supplier<Cluster> clusters,
    Executor executor,
    CacheCounters counters,
    EntryCodec<K, V> codec,
    Shard<K, V> shard,
    Router<K> router,
    NearCache<K, V> near,
    HotKeys hotKeys,
    int maxBatchBytes,
    Subscribers subscribers) {

  @Nullable CacheLoader<K, V> loader() {
    return config.loader().orElse(null);
  }

  int replicationFactor() {
    return config.replicationFactor();
  }
}
