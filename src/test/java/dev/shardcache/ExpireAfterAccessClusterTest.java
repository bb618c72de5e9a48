package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * {@code expireAfterAccess} across two nodes over loopback: a key that callers on another node keep
 * reading stays on its owner, because each remote read is a read of the owner's shard; a key nobody
 * reads leaves the owner once idle, and the next read loads it again.
 *
 * <p>The idle time is 2 s and the hot key is read every 100 ms, so only a stall of the machine of
 * nearly 2 s between two reads could drop it; the test takes about as long as the cold key needs to
 * go idle.
 */
class ExpireAfterAccessClusterTest {
  private static final Duration IDLE = Duration.ofSeconds(3);

  @Test
  void remoteReadsKeepAKeyOnItsOwnerAndAnUnreadKeyGoesIdle() throws InterruptedException {
    try (TestCluster cluster =
        TestCluster.builder()
            .size(2)
            .cache(TestClusters.KV, TestClusters.recordingCache(c -> c.expireAfterAccess(IDLE)))
            .build()) {
      String hot = cluster.keyOwnedBy(1, "hot-");
      String cold = cluster.keyOwnedBy(1, "cold-");
      DistributedCache<String, String> throughOther = cluster.cache(0);
      throughOther.get(hot);
      throughOther.get(cold);
      DefaultDistributedCache<String, String> owner = TestClusters.internals(cluster, 1);
      assertThat(owner.peek(hot)).isNotNull();
      assertThat(owner.peek(cold)).isNotNull();

      long start = System.nanoTime();
      while (owner.peek(cold) != null) {
        assertThat(Duration.ofNanos(System.nanoTime() - start))
            .as("the cold key goes idle on its owner")
            .isLessThan(Duration.ofSeconds(30));
        assertThat(throughOther.get(hot)).isNotNull();
        Thread.sleep(100);
      }
      assertThat(Duration.ofNanos(System.nanoTime() - start))
          .isGreaterThanOrEqualTo(IDLE.minusMillis(200));

      assertThat(owner.peek(hot)).as("the key read through the other node").isNotNull();
      assertThat(TestClusters.loader(cluster, 1).calls(hot)).isEqualTo(1);
      assertThat(throughOther.get(cold)).isNotNull();
      assertThat(TestClusters.loader(cluster, 1).calls(cold)).as("loaded again").isEqualTo(2);
      await().atMost(Duration.ofSeconds(5)).until(() -> owner.peek(cold) != null);
    }
  }
}
