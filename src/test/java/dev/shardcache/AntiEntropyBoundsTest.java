package dev.shardcache;

import static dev.shardcache.TestClusters.internals;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.DigestPage;
import dev.shardcache.internal.proto.DigestRequest;
import dev.shardcache.internal.proto.DigestResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.BucketDigest;
import dev.shardcache.replication.HybridLogicalClock;
import dev.shardcache.replication.Versioned;
import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Anti-entropy bounded in bytes: a round converges on values of 300 KiB under a 1 MiB inbound
 * limit, and a Digest answer comes in pages within the bound that together hold every differing
 * entry once.
 *
 * <p>Replicas are made to differ through the serving side's {@code serveReplicate}, as if a write's
 * replication to the other holder had been dropped: a write reaches one replica only.
 *
 * <p>Defect: a Digest answer held every entry of every differing bucket, and the caller sent its
 * own in batches of 500 entries whatever their size; with 300 KiB values the peer refused the batch
 * ({@code RESOURCE_EXHAUSTED}) on every round, so the replicas never converged.
 */
class AntiEntropyBoundsTest {
  private static final String CACHE = "ae";
  private static final int KIB = 1024;

  private TestCluster cluster;

  @AfterEach
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void replicasConvergeOn300KiBValuesUnderA1MiBInboundLimit() {
    int inbound = 1024 * KIB;
    cluster = start(node -> node.maxInboundMessageBytes(inbound), 2 * inbound);
    String valueTail = "v".repeat(300 * KIB);
    List<String> keys = new ArrayList<>();
    for (int k = 0; k < 8; k++) {
      keys.add(writeToOneReplica(0, "only-on-0:" + k, valueTail));
      keys.add(writeToOneReplica(1, "only-on-1:" + k, valueTail));
    }

    internals(cluster, 0).antiEntropyWith(cluster.node(1).address());

    for (String key : keys) {
      for (int node = 0; node < 2; node++) {
        Versioned<String> held = internals(cluster, node).peek(key);
        assertThat(held).as("%s on node %s", key, node).isNotNull();
        assertThat(held.value()).isEqualTo(key + valueTail);
      }
    }
    assertThat(internals(cluster, 0).refusedEntryCount()).isZero();
    assertThat(internals(cluster, 1).refusedEntryCount()).isZero();
    System.out.printf(
        "AntiEntropyBoundsTest: 8 + 8 values of 300 KiB exchanged under a %d KiB inbound limit"
            + " in one round: %d Digest pages, %d bytes%n",
        inbound / KIB,
        internals(cluster, 0).digestPageCount(),
        internals(cluster, 0).antiEntropyBytes());
  }

  @Test
  void aDigestAnswerComesInPagesWithinTheBoundThatHoldEveryDifferingEntryOnce() {
    int bound = 64 * KIB;
    cluster = start(node -> node, KIB * KIB);
    Set<String> written = new HashSet<>();
    for (int k = 0; k < 300; k++) {
      written.add(writeToOneReplica(1, "entry:" + k, "x".repeat(KIB)));
    }
    DefaultDistributedCache<String, String> serving = internals(cluster, 1);
    DigestRequest.Builder first =
        DigestRequest.newBuilder()
            .setCache(CACHE)
            .setCaller(cluster.node(0).address())
            .setMaxAnswerBytes(bound);
    for (int b = 0; b < BucketDigest.DEFAULT_BUCKETS; b++) {
      first.addBuckets(0); // an empty replica: every bucket node 1 has entries in differs
    }

    DigestResponse answer = serving.serveDigest(first.build());
    List<Integer> differing = answer.getDifferingList();
    List<String> answered = new ArrayList<>();
    int pages = 0;
    while (true) {
      pages++;
      assertThat(answer.getSerializedSize()).as("page %s", pages).isLessThanOrEqualTo(bound);
      assertThat(answer.getEntriesCount()).isPositive();
      answer.getEntriesList().forEach(entry -> answered.add(entry.getKey().toStringUtf8()));
      if (!answer.hasNextAfterHash()) {
        break;
      }
      answer =
          serving.serveDigest(
              DigestRequest.newBuilder()
                  .setCache(CACHE)
                  .setCaller(cluster.node(0).address())
                  .setMaxAnswerBytes(bound)
                  .setPage(
                      DigestPage.newBuilder()
                          .setBucketCount(BucketDigest.DEFAULT_BUCKETS)
                          .addAllDiffering(differing)
                          .setAfterHash(answer.getNextAfterHash()))
                  .build());
    }

    assertThat(answered).doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(written);
    assertThat(pages).isGreaterThanOrEqualTo(5); // 300 KiB of entries in pages of 64 KiB
    System.out.printf(
        "AntiEntropyBoundsTest: 300 entries of 1 KiB answered in %d pages of at most %d KiB%n",
        pages, bound / KIB);
  }

  // ---------------------------------------------------------------- helpers

  private static TestCluster start(
      UnaryOperator<ShardcacheNode.Builder> settings, int maxValueBytes) {
    return TestCluster.builder()
        .size(2)
        .nodeSettings(
            node ->
                settings.apply(
                    node.heartbeatInterval(Duration.ofMillis(100))
                        .antiEntropyInterval(Duration.ofHours(1))))
        .cache(
            CACHE,
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .replicationFactor(2)
                .maxValueBytes(maxValueBytes)
                .build())
        .build();
  }

  /** Applies a write of {@code key} on node {@code node} only; returns the key. */
  private String writeToOneReplica(int node, String key, String valueTail) {
    internals(cluster, node)
        .serveReplicate(
            CacheBatch.newBuilder()
                .setCache(CACHE)
                .addEntries(
                    VersionedEntry.newBuilder()
                        .setKey(ByteString.copyFromUtf8(key))
                        .setValue(ByteString.copyFromUtf8(key + valueTail))
                        .setTimestamp(HybridLogicalClock.pack(System.currentTimeMillis(), 0))
                        .setWriter(42))
                .build(),
            "test");
    return key;
  }
}
