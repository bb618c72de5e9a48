package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.HybridLogicalClock;
import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Hinted writes between real nodes reach a replica on the hint path alone, whatever their size, a
 * refused entry or an undefined cache costing only themselves. In each test the replica's proxy is
 * cut while writes are made, so they queue as hints, then healed: heartbeats every minute keep the
 * replica in the rings (no rebalancing) and anti-entropy runs hourly, so nothing but the hints can
 * carry the writes.
 */
class HintBoundsClusterTest {
  private static final Duration AWAIT = Duration.ofSeconds(30);
  private static final String KV = "kv";

  @Test
  void valuesOf300KibReachAReplicaWhoseMessagesAreCappedAt1MibThroughTheHintsAlone() {
    CacheConfig<String, String> config =
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
            .replicationFactor(2)
            .maxValueBytes(512 * 1024)
            .build();
    try (TestCluster cluster =
        TestCluster.builder()
            .size(2)
            .behindProxy(1)
            .nodeSettings(node -> quiet(node).maxInboundMessageBytes(1 << 20))
            .cache(KV, config)
            .build()) {
      cluster.proxy(1).cut();
      for (int i = 0; i < 40; i++) {
        cluster.cache(0).put("big-" + i, value(i, 300 * 1024));
      }
      long queued = cluster.node(0).replicationBacklog();
      long queuedBytes = internals(cluster, 0).replicator().queuedBytes();

      cluster.proxy(1).heal();

      await().atMost(AWAIT).until(() -> cluster.cache(1).localSize() == 40);
      System.out.printf(
          "40 values of 300 KiB, 1 MiB message limit: %d hints (%d KiB) queued, all delivered;"
              + " %d dropped%n",
          queued, queuedBytes / 1024, cluster.node(0).replicationDropped());
      assertThat(queued).isEqualTo(40);
      await().atMost(AWAIT).until(() -> cluster.node(0).replicationBacklog() == 0);
      assertThat(cluster.node(0).replicationDropped()).isZero();
      for (int i = 0; i < 40; i++) {
        assertThat(internals(cluster, 1).peek("big-" + i)).isNotNull();
      }
    }
  }

  @Test
  void anEntryTheReplicaRefusesDoesNotTakeItsBatchMatesWithIt() {
    try (TestCluster cluster =
        TestCluster.builder()
            .size(2)
            .behindProxy(1)
            .nodeSettings(HintBoundsClusterTest::quiet)
            .cache(
                KV, CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).replicationFactor(2).build())
            .build()) {
      String replica = cluster.node(1).address();
      Replicator replicator = internals(cluster, 0).replicator();
      cluster.proxy(1).cut();
      cluster.cache(0).put("first", "marks the replica down, so the hints below wait");
      long now = System.currentTimeMillis();
      replicator.enqueue(replica, KV, entry("forged", HybridLogicalClock.pack(now + 3_600_000, 0)));
      List<String> mates = new ArrayList<>();
      for (int i = 0; i < 9; i++) {
        mates.add("mate-" + i);
        replicator.enqueue(replica, KV, entry("mate-" + i, HybridLogicalClock.pack(now, i)));
      }

      cluster.proxy(1).heal();

      await().atMost(AWAIT).until(() -> cluster.node(0).replicationBacklog() == 0);
      for (String mate : mates) {
        assertThat(internals(cluster, 1).peek(mate)).as(mate).isNotNull();
      }
      assertThat(internals(cluster, 1).peek("forged")).isNull();
      assertThat(internals(cluster, 1).futureVersionsRefused()).isEqualTo(1);
      assertThat(replicator.refused()).isEqualTo(1);
      assertThat(cluster.node(0).replicationDropped()).isEqualTo(1);
    }
  }

  @Test
  void aReplicaLackingACacheHoldsUpNeitherAnotherCachesHintsToItNorAnotherReplicas() {
    CacheConfig<String, String> config =
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).replicationFactor(3).build();
    try (TestCluster cluster =
        TestCluster.builder()
            .size(3)
            .behindProxy(1, 2)
            .nodeSettings(HintBoundsClusterTest::quiet)
            .cache(KV, config)
            .started(false)
            .build()) {
      // Node 1 runs an older configuration, without the cache "extra".
      DistributedCache<String, String> extra = cluster.node(0).cache("extra", config);
      DistributedCache<String, String> extraOn2 = cluster.node(2).cache("extra", config);
      cluster.startAndJoin();
      cluster.proxy(1).cut();
      cluster.proxy(2).cut();
      for (int i = 0; i < 20; i++) {
        cluster.cache(0).put("kv-" + i, "v" + i);
        extra.put("extra-" + i, "v" + i);
      }

      cluster.proxy(1).heal();
      cluster.proxy(2).heal();

      await()
          .atMost(AWAIT)
          .until(
              () ->
                  cluster.cache(1).localSize() == 20
                      && cluster.cache(2).localSize() == 20
                      && extraOn2.localSize() == 20);
      // What stays queued on node 0 is the hints of "extra" for node 1, waiting for its cache.
      await().atMost(AWAIT).until(() -> cluster.node(0).replicationBacklog() == 20);
      assertThat(cluster.node(0).replicationDropped()).isZero();
    }
  }

  // ---------------------------------------------------------------------------------------------

  /** Heartbeats rare enough that a cut replica stays in the rings; anti-entropy hourly. */
  private static ShardcacheNode.Builder quiet(ShardcacheNode.Builder node) {
    return node.heartbeatInterval(Duration.ofMinutes(1)).antiEntropyInterval(Duration.ofHours(1));
  }

  private static DefaultDistributedCache<String, String> internals(TestCluster cluster, int i) {
    return (DefaultDistributedCache<String, String>) cluster.cache(i);
  }

  private static String value(int i, int bytes) {
    String prefix = "value-" + i + ":";
    return prefix + "x".repeat(bytes - prefix.length());
  }

  private static VersionedEntry entry(String key, long timestamp) {
    return VersionedEntry.newBuilder()
        .setKey(ByteString.copyFromUtf8(key))
        .setValue(ByteString.copyFromUtf8("value of " + key))
        .setTimestamp(timestamp)
        .setWriter(42)
        .build();
  }
}
