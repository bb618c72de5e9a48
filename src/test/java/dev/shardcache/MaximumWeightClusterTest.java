package dev.shardcache;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.replication.Versioned;
import dev.shardcache.testing.TestCluster;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code maximumWeight} as a service uses it: three nodes over loopback, values of very different
 * sizes written through every node, far more bytes than the nodes may hold. After a maintenance
 * pass on each node, every node's shard holds at most {@code maximumWeight} bytes, counted here
 * from the entries it holds (encoded key and value plus the stated overhead), and the cache still
 * answers every key: what was evicted is loaded again.
 */
class MaximumWeightClusterTest {
  private static final long MAXIMUM_WEIGHT = 48 * 1024;
  private static final int KEYS = 300;

  @Test
  void bytesHeldPerNodeStayUnderMaximumWeightAfterMaintenance() {
    try (TestCluster cluster =
        TestCluster.builder()
            .size(3)
            .cache(
                TestClusters.KV,
                TestClusters.recordingCache(config -> config.maximumWeight(MAXIMUM_WEIGHT)))
            .build()) {
      Random random = new Random(42);
      List<String> keys = new ArrayList<>();
      long written = 0;
      for (int k = 0; k < KEYS; k++) {
        String key = "key-" + k;
        String value = "x".repeat(random.nextInt(k % 10 == 0 ? 8_000 : 1_500));
        cluster.cache(k % 3).put(key, value);
        keys.add(key);
        written += key.length() + value.length() + CacheConfig.ENTRY_OVERHEAD_BYTES;
      }
      assertThat(written)
          .as("precondition: more than the 3 nodes may hold")
          .isGreaterThan(3 * MAXIMUM_WEIGHT);

      TestClusters.maintainAll(cluster);

      for (int i = 0; i < cluster.size(); i++) {
        long held = 0;
        int entries = 0;
        for (String key : keys) {
          Versioned<String> entry = TestClusters.internals(cluster, i).peek(key);
          if (entry != null && entry.value() != null) {
            held +=
                key.getBytes(UTF_8).length
                    + entry.value().getBytes(UTF_8).length
                    + CacheConfig.ENTRY_OVERHEAD_BYTES;
            entries++;
          }
        }
        DistributedCache<String, String> cache = cluster.cache(i);
        System.out.printf(
            "node %d: %d entries, %,d bytes held (bound %,d), localWeight %s, %d evictions%n",
            i, entries, held, MAXIMUM_WEIGHT, cache.localWeight(), cache.stats().evictionCount());
        assertThat(held).as("bytes node %d holds", i).isLessThanOrEqualTo(MAXIMUM_WEIGHT);
        assertThat(cache.localWeight()).as("node %d's own figure", i).hasValue(held);
        assertThat(entries).as("node %d holds something", i).isPositive();
        assertThat(cache.stats().evictionCount()).as("node %d evicted", i).isPositive();
      }

      int reloaded = 0;
      for (String key : keys) {
        String value = cluster.cache(1).get(key);
        assertThat(value).isNotNull();
        if (value.startsWith("v(")) {
          reloaded++;
        }
      }
      assertThat(reloaded).as("evicted keys read through the loader").isPositive();
    }
  }
}
