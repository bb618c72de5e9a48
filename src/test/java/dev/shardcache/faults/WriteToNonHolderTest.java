package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheException;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * A write that reaches a node which does not hold the key under its own ring (the two nodes' member
 * lists disagree) is acknowledged only if the value is then held by a live node, where the next
 * read finds it; otherwise it fails with a (retryable) {@link ShardcacheException}. It is never
 * acknowledged while its only copy sits in a hint queue for an unreachable holder.
 *
 * <p>A's members are {A, B}; B's are {A, B, D}, where nothing listens at D. The key is owned by B
 * under A's ring and by D under B's ring (replication factor 1). B's heartbeats are slow, so B does
 * not suspect D during the test and its ring keeps D.
 */
class WriteToNonHolderTest {
  private static final String CACHE = "kv";

  @Test
  void aWriteLandingOnANonHolderIsNotAcknowledgedFromAQueue() throws Exception {
    String dead = "127.0.0.1:" + TestCluster.freePort();
    try (TestCluster cluster =
        TestCluster.builder()
            .size(2)
            .nodeSettings(
                (i, node) -> i == 1 ? node.heartbeatInterval(Duration.ofMinutes(1)) : node)
            .cache(CACHE, config())
            .joined(false)
            .build()) {
      ShardcacheNode nodeA = cluster.node(0);
      ShardcacheNode nodeB = cluster.node(1);
      DistributedCache<String, String> a = cluster.cache(0);
      DistributedCache<String, String> b = cluster.cache(1);
      nodeA.setPeers(List.of(nodeA.address(), nodeB.address()));
      nodeB.setPeers(List.of(nodeA.address(), nodeB.address(), dead));
      String key =
          IntStream.range(0, 10_000)
              .mapToObj(i -> "landing-" + i)
              .filter(k -> a.ownerOf(k).equals(nodeB.address()) && b.ownerOf(k).equals(dead))
              .findFirst()
              .orElseThrow();

      String outcome;
      String readThroughA = null;
      long backlogOnB = -1;
      try {
        a.put(key, "v");
        outcome = "returned normally";
        backlogOnB = nodeB.replicationBacklog();
        readThroughA = a.getIfPresent(key);
      } catch (ShardcacheException e) {
        outcome = "threw " + e.getClass().getSimpleName() + " (" + e.getMessage() + ")";
      }

      String heldOnB;
      try (DefectTests2RawPeer peer = DefectTests2RawPeer.to(nodeB.address())) {
        heldOnB = DefectTests2RawPeer.describe(peer.fetch(CACHE, key));
      }
      System.out.printf(
          "key owned by B under A's ring, by dead %s under B's: A.put(k, \"v\") %s;"
              + " B's replication backlog (hints) = %d; B's shard holds %s; A.getIfPresent(k) = %s%n",
          dead, outcome, backlogOnB, heldOnB, readThroughA);
      if (outcome.equals("returned normally")) {
        assertThat(readThroughA)
            .as(
                "A.getIfPresent(k) after A.put(k, \"v\") was acknowledged (B's shard holds %s,"
                    + " B's hint backlog %d)",
                heldOnB, backlogOnB)
            .isEqualTo("v");
      }
    }
  }

  private static CacheConfig<String, String> config() {
    return CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
        .replicationFactor(1)
        .remoteTimeout(Duration.ofSeconds(2))
        .build();
  }
}
