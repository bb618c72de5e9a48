package dev.shardcache;

import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.function.UnaryOperator;
import java.util.stream.IntStream;

/**
 * The clusters the tests of this package build with {@link TestCluster}, and what of their nodes
 * only this package reaches: the {@link RecordingLoader} behind a cache, a cache's internals, a
 * maintenance pass run now. {@code TestCluster} itself keeps to the public API.
 */
final class TestClusters {
  /** The cache of {@link #replicated}. */
  static final String KV = "kv";

  private TestClusters() {}

  /**
   * A cache of UTF-8 strings whose loader on each node is a {@link RecordingLoader} naming that
   * node, with {@code settings} applied after the loader (they must not set another).
   */
  static TestCluster.CacheSpec recordingCache(
      UnaryOperator<CacheConfig.Builder<String, String>> settings) {
    return (index, node) ->
        settings
            .apply(
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                    .loader(new RecordingLoader(node::address)))
            .build();
  }

  /**
   * Nodes with a replicated {@link #recordingCache} {@value #KV} (remote timeout 2 s, a near cache
   * if asked), heartbeats every 100 ms and anti-entropy only when a test runs it ({@link
   * #maintainAll}); with {@code proxied}, every node behind its own proxy.
   */
  static TestCluster replicated(
      int size, int replicationFactor, boolean proxied, boolean nearCache) {
    TestCluster.Builder builder =
        TestCluster.builder()
            .size(size)
            .nodeSettings(
                node ->
                    node.heartbeatInterval(Duration.ofMillis(100))
                        .antiEntropyInterval(Duration.ofHours(1)))
            .cache(
                KV,
                recordingCache(
                    config -> {
                      config
                          .replicationFactor(replicationFactor)
                          .remoteTimeout(Duration.ofSeconds(2));
                      return nearCache ? config.nearCache(1_000, Duration.ofMinutes(5)) : config;
                    }));
    if (proxied) {
      builder.behindProxy(IntStream.range(0, size).toArray());
    }
    return builder.build();
  }

  /** The {@link RecordingLoader} of node {@code i}'s first cache (a {@link #recordingCache}). */
  static RecordingLoader loader(TestCluster cluster, int i) {
    return (RecordingLoader) cluster.cache(i).config().loader().orElseThrow();
  }

  /** Loader calls on all nodes, stopped ones included; a restarted node counts from zero. */
  static int totalLoads(TestCluster cluster) {
    return IntStream.range(0, cluster.size()).map(i -> loader(cluster, i).calls()).sum();
  }

  /** Loader calls for {@code key} on all nodes, as {@link #totalLoads(TestCluster)}. */
  static int totalLoads(TestCluster cluster, String key) {
    return IntStream.range(0, cluster.size()).map(i -> loader(cluster, i).calls(key)).sum();
  }

  /** Node {@code i}'s first cache, with its package-private parts. */
  static DefaultDistributedCache<String, String> internals(TestCluster cluster, int i) {
    return (DefaultDistributedCache<String, String>) cluster.cache(i);
  }

  /** One rebalancing and anti-entropy pass on every running node, on the caller's thread. */
  static void maintainAll(TestCluster cluster) {
    for (ShardcacheNode node : cluster.nodes()) {
      if (node.isRunning()) {
        node.testHooks().maintainNow();
      }
    }
  }
}
