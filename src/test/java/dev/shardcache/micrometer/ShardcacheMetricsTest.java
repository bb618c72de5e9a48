package dev.shardcache.micrometer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shardcache.CacheConfig;
import dev.shardcache.CacheStats;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.testing.TestCluster;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The binder against a real two-node cluster, read back from a {@link SimpleMeterRegistry}. */
class ShardcacheMetricsTest {

  @Test
  void publishesEachCachesStatisticsAndTheNodesMembership() {
    try (TestCluster cluster =
        TestCluster.builder()
            .size(2)
            .cache(
                "users",
                (i, node) ->
                    CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                        .loader(
                            key -> {
                              if (key.startsWith("bad")) {
                                throw new IllegalStateException("no such user");
                              }
                              return "user " + key;
                            })
                        .build())
            .build()) {
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      SimpleMeterRegistry nodeOnly = new SimpleMeterRegistry();
      new ShardcacheMetrics(cluster.node(0)).withoutCacheMeters().bindTo(nodeOnly);
      assertThat(nodeOnly.find("cache.gets").meters()).isEmpty();
      assertThat(nodeOnly.find("shardcache.ring.members").gauge()).isNotNull();
      ShardcacheMetrics metrics = new ShardcacheMetrics(cluster.node(0), Tags.of("node", "a"));
      metrics.bindTo(registry);
      metrics.bindTo(registry); // idempotent

      DistributedCache<String, String> users = cluster.cache(0);
      for (int k = 0; k < 40; k++) {
        users.get("u" + k);
        users.get("u" + k);
      }
      try {
        users.get("bad-" + localKey(users, cluster.node(0).address()));
      } catch (RuntimeException expected) {
        // counted as a load failure
      }

      CacheStats stats = users.stats();
      assertThat(stats.loadSuccessCount()).isPositive();
      assertThat(counter(registry, "cache.gets", "result", "hit"))
          .isEqualTo((double) stats.hitCount())
          .isPositive();
      assertThat(counter(registry, "cache.gets", "result", "miss"))
          .isEqualTo((double) stats.missCount())
          .isPositive();
      assertThat(counter(registry, "cache.puts", null, null))
          .as("values stored in node 0's shard: its loads")
          .isEqualTo((double) stats.putCount())
          .isPositive();
      assertThat(counter(registry, "shardcache.cache.loads", "result", "success"))
          .isEqualTo((double) stats.loadSuccessCount());
      assertThat(counter(registry, "shardcache.cache.loads", "result", "failure")).isEqualTo(1);
      assertThat(counter(registry, "shardcache.cache.remote.calls", null, null))
          .isEqualTo((double) stats.remoteCallCount())
          .isPositive();
      assertThat(counter(registry, "shardcache.cache.remote.failures", null, null)).isZero();
      assertThat(counter(registry, "shardcache.cache.fallback.loads", null, null)).isZero();
      assertThat(counter(registry, "shardcache.cache.peer.requests", null, null))
          .isEqualTo((double) stats.peerRequestCount());
      assertThat(counter(registry, "cache.evictions", null, null)).isZero();
      assertThat(counter(registry, "shardcache.cache.near.hits", null, null)).isZero();
      assertThat(registry.get("cache.size").tags("cache", "users", "node", "a").gauge().value())
          .isEqualTo((double) users.localSize())
          .isPositive();
      FunctionTimer loadTime =
          registry.get("shardcache.cache.load.duration").tags("cache", "users").functionTimer();
      assertThat(loadTime.count()).isEqualTo((double) stats.loadCount());
      assertThat(registry.find("shardcache.cache.weight").meters())
          .as("only for a cache bounded by weight")
          .isEmpty();
      assertThat(registry.find("cache.gets").tag("cache", "users").meters())
          .as("one counter per result, registered once")
          .hasSize(2);
      // Micrometer converts through seconds as a double, so the nanoseconds may not round-trip
      // exactly.
      assertThat(loadTime.totalTime(TimeUnit.NANOSECONDS))
          .isCloseTo(
              (double) stats.totalLoadTimeNanos(), org.assertj.core.data.Offset.offset(1_000.0));

      assertThat(registry.get("shardcache.ring.members").tag("node", "a").gauge().value())
          .isEqualTo(2);
      assertThat(registry.get("shardcache.peers").gauge().value()).isEqualTo(1);
      assertThat(registry.get("shardcache.peers.reachable").gauge().value()).isEqualTo(1);
      assertThat(registry.get("shardcache.peers.suspected").gauge().value()).isZero();
      assertThat(registry.get("shardcache.replication.backlog").gauge().value()).isZero();

      cluster.node(1).close();
      users.get("after-close-" + remoteKey(users, cluster.node(1).address()));
      assertThat(registry.get("shardcache.peers.reachable").gauge().value()).isZero();
      assertThat(counter(registry, "shardcache.cache.fallback.loads", null, null)).isEqualTo(1);

      cluster.node(0).close();
      assertThat(registry.get("shardcache.ring.members").gauge().value()).isNaN();
    }
  }

  @Test
  void aCacheDefinedAfterBindingIsBoundByTheNextBindingAndItsWeightIsPublished() {
    try (TestCluster cluster = TestCluster.builder().size(1).build()) {
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      ShardcacheMetrics metrics = new ShardcacheMetrics(cluster.node(0));
      metrics.bindTo(registry);
      DistributedCache<String, String> covers =
          cluster
              .node(0)
              .cache(
                  "covers",
                  CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).maximumWeight(1 << 20).build());
      assertThat(registry.find("cache.size").tag("cache", "covers").gauge()).isNull();

      metrics.bindTo(registry);
      covers.put("k", "v");
      assertThat(registry.get("cache.size").tag("cache", "covers").gauge().value()).isEqualTo(1);
      assertThat(registry.get("cache.puts").tag("cache", "covers").functionCounter().count())
          .isEqualTo(1);
      // The weight counts a write once Caffeine's cleanup after it has run (asynchronously).
      await()
          .atMost(Duration.ofSeconds(10))
          .untilAsserted(
              () ->
                  assertThat(
                          registry
                              .get("shardcache.cache.weight")
                              .tag("cache", "covers")
                              .gauge()
                              .value())
                      .isEqualTo(2 + CacheConfig.ENTRY_OVERHEAD_BYTES));
      assertThat(registry.find("shardcache.ring.members").gauges()).hasSize(1);
    }
  }

  @Test
  void oneCacheCanBeBoundAloneWithTagsOfItsOwn() {
    try (TestCluster cluster = TestCluster.builder().size(1).build()) {
      DistributedCache<String, String> cache =
          cluster.node(0).cache("solo", CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build());
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      new ShardcacheCacheMetrics(cache, Tags.of("region", "eu")).bindTo(registry);
      cache.getIfPresent("absent");
      assertThat(
              registry
                  .get("cache.gets")
                  .tags("cache", "solo", "region", "eu", "result", "miss")
                  .functionCounter()
                  .count())
          .isEqualTo(1);
      assertThat(registry.find("shardcache.ring.members").meters()).isEmpty();
    }
  }

  private static double counter(
      SimpleMeterRegistry registry, String name, String tag, String value) {
    var search = registry.get(name).tags("cache", "users");
    if (tag != null) {
      search = search.tag(tag, value);
    }
    return search.functionCounter().count();
  }

  private static int localKey(DistributedCache<String, String> cache, String self) {
    for (int k = 0; ; k++) {
      if (cache.ownerOf("bad-" + k).equals(self)) {
        return k;
      }
    }
  }

  private static int remoteKey(DistributedCache<String, String> cache, String peer) {
    for (int k = 0; ; k++) {
      if (cache.ownerOf("after-close-" + k).equals(peer)) {
        return k;
      }
    }
  }
}
