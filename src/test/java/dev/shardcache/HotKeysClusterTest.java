package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Hot keys with no configuration, over real gRPC on 127.0.0.1: three nodes, replication factor 1,
 * no near cache.
 *
 * <ul>
 *   <li>A Zipf(0.99) workload (fixed seed, 20,000 reads of 10,000 keys through one node) costs at
 *       most half the remote calls with hot keys on (the default) than with {@code hotKeys(false)}:
 *       a count of calls, not a timing.
 *   <li>A value kept because its owner marked it hot is dropped on a write through another node
 *       (the owner sends an invalidation), and, with invalidations lost, is fresh again within the
 *       hot keys' TTL (1 s).
 * </ul>
 *
 * Run time: about 10 s.
 */
class HotKeysClusterTest {
  private static final String CACHE = "hot";
  private static final int KEYS = 10_000;
  private static final int READS = 20_000;

  @Test
  void aZipfWorkloadCostsAtMostHalfTheRemoteCallsWithHotKeys() {
    long without = remoteCallsOfZipfReads(false);
    long with = remoteCallsOfZipfReads(true);
    System.out.printf(
        "hot keys: Zipf(0.99), %,d reads of %,d keys through 1 of 3 nodes (rf=1, no near cache):"
            + " %,d remote calls with hotKeys(false), %,d with hot keys on (%.0f%% fewer)%n",
        READS, KEYS, without, with, 100.0 * (without - with) / without);
    assertThat(with).isLessThanOrEqualTo(without / 2);
  }

  /** Reads the workload through node 0 of a fresh cluster; answers node 0's remote calls. */
  private static long remoteCallsOfZipfReads(boolean hotKeys) {
    CacheConfig<String, String> config =
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
            .maximumSize(KEYS)
            .loader(key -> "value-of-" + key)
            .hotKeys(hotKeys)
            .build();
    try (TestCluster cluster =
        TestCluster.builder().size(3).cache(CACHE, (i, node) -> config).build()) {
      DistributedCache<String, String> reader = cluster.cache(0);
      long before = reader.stats().remoteCallCount();
      Zipf zipf = new Zipf(KEYS, 0.99, new Random(42));
      for (int i = 0; i < READS; i++) {
        String key = "key-" + zipf.next();
        assertThat(reader.get(key)).isEqualTo("value-of-" + key);
      }
      return reader.stats().remoteCallCount() - before;
    }
  }

  @Test
  void aHotCopyIsDroppedOnAWriteAndIsFreshWithinTheTtlWhenTheInvalidationIsLost() {
    CacheConfig<String, String> config = CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build();
    try (TestCluster cluster =
        TestCluster.builder().size(3).cache(CACHE, (i, node) -> config).build()) {
      DistributedCache<String, String> reader = cluster.cache(0);
      DistributedCache<String, String> writer = cluster.cache(2);
      ShardcacheNode owner = cluster.node(1);
      String key = cluster.keyOwnedBy(1, "hot-");
      assertThat(writer.ownerOf(key)).isEqualTo(owner.address());

      writer.put(key, "v1");
      makeHot(reader, key, "v1");

      writer.put(key, "v2"); // applied by the owner, which marked the key hot: it invalidates
      await().atMost(Duration.ofSeconds(5)).until(() -> owner.replicationBacklog() == 0);
      assertThat(reader.get(key)).as("read right after the invalidation arrived").isEqualTo("v2");

      makeHot(reader, key, "v2");
      owner.testHooks().dropNearCacheInvalidations(true);
      long written = System.nanoTime();
      writer.put(key, "v3");
      String first = reader.get(key);
      await()
          .atMost(Duration.ofSeconds(5))
          .pollInterval(Duration.ofMillis(20))
          .until(() -> "v3".equals(reader.get(key)));
      long staleMillis = (System.nanoTime() - written) / 1_000_000;
      System.out.printf(
          "hot keys: invalidation dropped, first read after the write %s, stale for %d ms (ttl %d"
              + " ms)%n",
          first, staleMillis, HotKeys.TTL.toMillis());
      assertThat(staleMillis).isLessThanOrEqualTo(HotKeys.TTL.toMillis() + 500);
    }
  }

  /** Reads {@code key} through {@code reader} until a read is answered by its hot-key copy. */
  private static void makeHot(DistributedCache<String, String> reader, String key, String value) {
    await()
        .atMost(Duration.ofSeconds(5))
        .until(
            () -> {
              long nearHits = reader.stats().nearHitCount();
              assertThat(reader.get(key)).isEqualTo(value);
              return reader.stats().nearHitCount() > nearHits;
            });
  }

  /** Zipf-distributed ranks in [0, n): rank r with probability proportional to 1 / (r + 1)^s. */
  static final class Zipf {
    private final double[] cumulative;
    private final Random random;

    Zipf(int n, double s, Random random) {
      this.random = random;
      this.cumulative = new double[n];
      double sum = 0;
      for (int r = 0; r < n; r++) {
        sum += 1 / Math.pow(r + 1, s);
        cumulative[r] = sum;
      }
      for (int r = 0; r < n; r++) {
        cumulative[r] /= sum;
      }
    }

    int next() {
      int at = Arrays.binarySearch(cumulative, random.nextDouble());
      return Math.min(at >= 0 ? at : -at - 1, cumulative.length - 1);
    }
  }
}
