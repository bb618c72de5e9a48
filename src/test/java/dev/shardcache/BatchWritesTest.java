package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.replication.Versioned;
import dev.shardcache.testing.TestCluster;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@code putAll} and {@code invalidateAll(keys)} over real nodes: one call per holder, each key
 * replicated and acknowledged as its single write, and a partial failure that names its keys.
 */
class BatchWritesTest {
  private static final String CACHE = "batch";

  private TestCluster cluster;

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
  }

  private TestCluster start(
      int size, UnaryOperator<CacheConfig.Builder<String, String>> settings, int... proxied) {
    cluster =
        TestCluster.builder()
            .size(size)
            .nodeSettings(node -> node.antiEntropyInterval(Duration.ofHours(1)))
            .cache(CACHE, settings.apply(CacheConfig.builder(Codecs.utf8(), Codecs.utf8())).build())
            .behindProxy(proxied)
            .build();
    return cluster;
  }

  /** {@code perOwner} entries whose keys each node owns, by owner. */
  private List<Map<String, String>> entriesByOwner(String prefix, int perOwner) {
    List<Map<String, String>> byOwner = new ArrayList<>();
    for (int i = 0; i < cluster.size(); i++) {
      byOwner.add(new LinkedHashMap<>());
    }
    for (int n = 0; byOwner.stream().anyMatch(entries -> entries.size() < perOwner); n++) {
      String key = prefix + n;
      Map<String, String> entries = byOwner.get(cluster.indexOf(cluster.cache(0).ownerOf(key)));
      if (entries.size() < perOwner) {
        entries.put(key, "value of " + key);
      }
    }
    return byOwner;
  }

  private static Map<String, String> all(List<Map<String, String>> byOwner) {
    Map<String, String> all = new LinkedHashMap<>();
    byOwner.forEach(all::putAll);
    return all;
  }

  private CacheStats[] stats() {
    CacheStats[] stats = new CacheStats[cluster.size()];
    for (int i = 0; i < stats.length; i++) {
      stats[i] = cluster.cache(i).stats();
    }
    return stats;
  }

  @Test
  void putAllIsOneCallPerHolderAndEveryValueIsReadableThroughEveryNode() {
    start(3, config -> config);
    Map<String, String> entries = all(entriesByOwner("put-", 100));
    CacheStats[] before = stats();

    cluster.cache(0).putAll(entries);

    CacheStats[] after = stats();
    assertThat(after[0].minus(before[0]).remoteCallCount())
        .as("calls from node 0: one WriteAll to each other owner")
        .isEqualTo(2);
    for (int i = 1; i < 3; i++) {
      assertThat(after[i].minus(before[i]).peerRequestCount())
          .as("requests served by node %s", i)
          .isEqualTo(1);
      assertThat(cluster.cache(i).localSize()).isEqualTo(100);
    }
    for (int i = 0; i < 3; i++) {
      assertThat(cluster.cache(i).getAll(entries.keySet())).isEqualTo(entries);
    }
  }

  @Test
  void withReplicasEachHolderGetsItsEntriesInOneCallBeforeTheWriteIsAcknowledged() {
    start(3, config -> config.replicationFactor(2));
    Map<String, String> entries = all(entriesByOwner("replicated-", 50));
    CacheStats[] before = stats();

    cluster.cache(1).putAll(entries);

    // No waiting: an acknowledged batch is on every holder of every key.
    for (String key : entries.keySet()) {
      for (String holder : holdersOf(key)) {
        Versioned<String> held = TestClusters.internals(cluster, cluster.indexOf(holder)).peek(key);
        assertThat(held).as("%s on holder %s", key, holder).isNotNull();
        assertThat(held.value()).isEqualTo(entries.get(key));
      }
    }
    CacheStats[] after = stats();
    assertThat(after[1].minus(before[1]).remoteCallCount())
        .as("WriteAll calls from node 1: to the two other owners")
        .isEqualTo(2);
    for (int i = 0; i < 3; i++) {
      // One WriteAll (not for node 1, the caller), and one Replicate from each other applying node.
      assertThat(after[i].minus(before[i]).peerRequestCount())
          .as("requests served by node %s", i)
          .isLessThanOrEqualTo(i == 1 ? 2 : 3);
    }
  }

  /**
   * Regression (issue 10): a batch for a holder used to be split at a fixed 4 MiB, so nodes that
   * accept smaller messages refused it whole (RESOURCE_EXHAUSTED: every key not applied) and
   * refused its replication (left to hints), although each key alone fits. The calls now fit the
   * node's {@code maxBatchBytes}, half its {@code maxInboundMessageBytes} here.
   */
  @Test
  void aBatchOverTheNodesMessageLimitIsSplitIntoCallsThatFitIt() {
    for (int replicas = 1; replicas <= 2; replicas++) {
      int factor = replicas;
      cluster =
          TestCluster.builder()
              .size(2)
              .nodeSettings(
                  node ->
                      node.antiEntropyInterval(Duration.ofHours(1))
                          .maxInboundMessageBytes(256 * 1024))
              .cache(
                  CACHE,
                  CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                      .maxValueBytes(64 * 1024)
                      .replicationFactor(factor)
                      .build())
              .build();
      Map<String, String> entries = new LinkedHashMap<>();
      // 20 values of 20,000 bytes for the other node: 400 KB, over its 256 KiB limit.
      entriesByOwner("large-", 20)
          .get(1)
          .keySet()
          .forEach(key -> entries.put(key, "v".repeat(20_000) + key));
      CacheStats before = cluster.cache(0).stats();

      cluster.cache(0).putAll(entries);

      // rf 1: WriteAll calls to the owner; rf 2: node 0 holds every key and replicates them.
      assertThat(cluster.cache(0).stats().minus(before).remoteCallCount())
          .as("calls from node 0 (replicas %s), each under the limit", factor)
          .isGreaterThanOrEqualTo(factor == 1 ? 4 : 0);
      for (String key : entries.keySet()) {
        // No waiting: an acknowledged batch is on every holder of every key.
        Versioned<String> held = TestClusters.internals(cluster, 1).peek(key);
        assertThat(held).as("%s on node 1 (replicas %s)", key, factor).isNotNull();
        assertThat(held.value()).isEqualTo(entries.get(key));
      }
      cluster.close();
      cluster = null;
    }
  }

  private List<String> holdersOf(String key) {
    return cluster.node(0).ring().ownersOf(key.getBytes(StandardCharsets.UTF_8), 2);
  }

  @Test
  void invalidateAllOfKeysLeavesTombstonesThatStick() {
    start(3, config -> config.replicationFactor(2));
    Map<String, String> entries = all(entriesByOwner("gone-", 20));
    cluster.cache(0).putAll(entries);
    String sample = entries.keySet().iterator().next();
    Versioned<String> written =
        TestClusters.internals(cluster, cluster.indexOf(holdersOf(sample).get(0))).peek(sample);
    CacheStats[] before = stats();

    cluster.cache(2).invalidateAll(entries.keySet());

    assertThat(stats()[2].minus(before[2]).remoteCallCount()).isEqualTo(2);
    for (String key : entries.keySet()) {
      for (String holder : holdersOf(key)) {
        Versioned<String> held = TestClusters.internals(cluster, cluster.indexOf(holder)).peek(key);
        assertThat(held).as("%s on holder %s", key, holder).isNotNull();
        assertThat(held.isTombstone()).as("%s is a tombstone on %s", key, holder).isTrue();
      }
    }
    // The old write, arriving late (a hint, a replica that was away), does not bring the key back;
    // nor do hand-off and anti-entropy.
    for (String holder : holdersOf(sample)) {
      TestClusters.internals(cluster, cluster.indexOf(holder))
          .serveReplicate(
              CacheBatch.newBuilder()
                  .setCache(CACHE)
                  .addEntries(
                      EntryCodec.toWire(
                          ByteString.copyFromUtf8(sample),
                          entries.get(sample).getBytes(StandardCharsets.UTF_8),
                          written.version(),
                          0))
                  .build(),
              cluster.node(0).address());
    }
    TestClusters.maintainAll(cluster);
    cluster.awaitQuiescence();
    for (int i = 0; i < 3; i++) {
      for (String key : entries.keySet()) {
        assertThat(cluster.cache(i).getIfPresent(key)).as("%s through node %s", key, i).isNull();
      }
    }
  }

  @Test
  void whenAnOwnerCannotBeReachedTheOtherKeysAreWrittenAndItsKeysAreNamedNotApplied() {
    start(3, config -> config, 2);
    List<Map<String, String>> byOwner = entriesByOwner("cut-", 10);
    Map<String, String> entries = all(byOwner);
    cluster.proxy(2).cut();

    BatchWriteException failure =
        (BatchWriteException)
            catchThrowable(() -> cluster.cache(0).putAll(entries), BatchWriteException.class);

    assertThat(failure.notApplied()).containsExactlyInAnyOrderElementsOf(byOwner.get(2).keySet());
    assertThat(failure.outcomeUnknown()).isEmpty();
    assertThat(failure).hasCauseInstanceOf(PeerUnavailableException.class);
    assertThat(failure.getMessage()).contains("10 of 30 keys not applied", "the other 20");
    for (int owner = 0; owner < 2; owner++) {
      for (Map.Entry<String, String> entry : byOwner.get(owner).entrySet()) {
        assertThat(cluster.cache(1).getIfPresent(entry.getKey())).isEqualTo(entry.getValue());
      }
    }

    cluster.proxy(2).heal();
    await()
        .atMost(Duration.ofSeconds(30))
        .ignoreExceptions()
        .untilAsserted(() -> cluster.cache(0).putAll(byOwner.get(2)));
    await()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> assertThat(cluster.cache(2).getAll(entries.keySet())).isEqualTo(entries));
  }

  @Test
  void whenAnOwnerIsSlowItsKeysAreNamedOfUnknownOutcome() {
    start(3, config -> config.remoteTimeout(Duration.ofMillis(500)), 1);
    List<Map<String, String>> byOwner = entriesByOwner("slow-", 10);
    cluster.proxy(1).stall();

    BatchWriteException failure =
        (BatchWriteException)
            catchThrowable(() -> cluster.cache(2).putAll(all(byOwner)), BatchWriteException.class);

    assertThat(failure.outcomeUnknown())
        .containsExactlyInAnyOrderElementsOf(byOwner.get(1).keySet());
    assertThat(failure.notApplied()).isEmpty();
    assertThat(failure).hasCauseInstanceOf(OutcomeUnknownException.class);
    for (String key : byOwner.get(0).keySet()) {
      assertThat(cluster.cache(0).getIfPresent(key)).isNotNull();
    }
    cluster.proxy(1).heal();
  }

  @Test
  void aNodeThatDoesNotHoldKeysPassesThemOnOnceAndAnswersAbortedForThoseItCannot() {
    start(3, config -> config, 2);
    // Node 0 does not know node 2: it takes node 1 for the owner of some of node 2's keys.
    cluster.node(0).setPeers(List.of(cluster.node(0).address(), cluster.node(1).address()));
    List<String> misrouted = new ArrayList<>();
    for (int n = 0; misrouted.size() < 10; n++) {
      String key = "moved-" + n;
      if (cluster.cache(0).ownerOf(key).equals(cluster.node(1).address())
          && cluster.cache(1).ownerOf(key).equals(cluster.node(2).address())) {
        misrouted.add(key);
      }
    }
    Map<String, String> entries = new LinkedHashMap<>();
    misrouted.forEach(key -> entries.put(key, "v-" + key));

    cluster.cache(0).putAll(entries);

    for (String key : misrouted) {
      assertThat(TestClusters.internals(cluster, 2).peek(key)).as("%s on node 2", key).isNotNull();
      assertThat(TestClusters.internals(cluster, 1).peek(key)).as("%s on node 1", key).isNull();
    }

    // When node 1 cannot pass them on either, they are not applied, and nothing is queued for them.
    cluster.proxy(2).cut();
    Map<String, String> newer = new HashMap<>();
    misrouted.forEach(key -> newer.put(key, "newer-" + key));
    BatchWriteException failure =
        (BatchWriteException)
            catchThrowable(() -> cluster.cache(0).putAll(newer), BatchWriteException.class);
    assertThat(failure.notApplied()).containsExactlyInAnyOrderElementsOf(misrouted);
    assertThat(failure.getCause()).isInstanceOf(PeerUnavailableException.class);
    assertThat(failure.getCause().getMessage()).contains("does not hold the key");
    cluster.proxy(2).heal();
  }

  @Test
  void badInputFailsTheWholeBatchBeforeAnythingIsWritten() {
    start(2, config -> config.maxValueBytes(16));
    Map<String, String> entries = all(entriesByOwner("k", 5));
    Map<String, String> tooLarge = new LinkedHashMap<>(entries);
    tooLarge.put("large", "x".repeat(17));

    assertThatThrownBy(() -> cluster.cache(0).putAll(tooLarge))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("maxValueBytes");
    Map<String, String> withNull = new HashMap<>(entries);
    withNull.put("null", null);
    assertThatThrownBy(() -> cluster.cache(0).putAll(withNull))
        .isInstanceOf(NullPointerException.class);
    List<String> keys = new ArrayList<>(entries.keySet());
    keys.add(null);
    assertThatThrownBy(() -> cluster.cache(0).invalidateAll(keys))
        .isInstanceOf(NullPointerException.class);
    for (int i = 0; i < 2; i++) {
      assertThat(cluster.cache(i).localSize()).isZero();
    }
  }

  private static Throwable catchThrowable(Runnable call, Class<? extends Throwable> type) {
    Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(call::run);
    assertThat(thrown).isInstanceOf(type);
    return thrown;
  }
}
