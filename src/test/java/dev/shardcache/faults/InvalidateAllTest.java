package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.PeerUnavailableException;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Test;

/**
 * {@code invalidateAll()} removes every entry for good: nothing written or loaded before it comes
 * back afterwards, whether it was a load in flight during the clear, a copy on a member the clear
 * could not reach, or a hinted write queued for such a member.
 */
class InvalidateAllTest {
  private static final String CACHE = "kv";
  private static final List<String> KEYS =
      IntStream.range(0, 100).mapToObj(i -> "key-" + i).toList();

  /**
   * (a) The owner starts a slow load, the cache is cleared, then the load finishes: the value it
   * loaded is older than the clear and must not be stored (on the owner or its replica); the next
   * read loads again.
   */
  @Test
  void aLoadInFlightDuringTheClearIsNotStored() throws Exception {
    GatedLoader loader = new GatedLoader();
    try (TestCluster cluster =
        TestCluster.builder()
            .size(2)
            .cache(
                CACHE,
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                    .replicationFactor(2)
                    .loader(loader)
                    .build())
            .build()) {
      List<DistributedCache<String, String>> caches = new ArrayList<>();
      for (int i = 0; i < cluster.size(); i++) {
        caches.add(cluster.cache(i));
      }
      DistributedCache<String, String> owner = caches.get(0);
      String key =
          IntStream.range(0, 10_000)
              .mapToObj(i -> "slow-" + i)
              .filter(k -> owner.ownerOf(k).equals(cluster.node(0).address()))
              .findFirst()
              .orElseThrow();

      Started<String> read = Started.onNewThread("slow-get", () -> owner.get(key));
      loader.awaitEntered();
      owner.invalidateAll();
      loader.release();
      String firstRead = read.outcome();
      await()
          .atMost(Duration.ofSeconds(10))
          .until(() -> cluster.nodes().stream().allMatch(n -> n.replicationBacklog() == 0));

      List<String> held = new ArrayList<>();
      for (DistributedCache<String, String> cache : caches) {
        held.add(cache.getIfPresent(key));
      }
      int callsBefore = loader.calls();
      String nextRead = owner.get(key);
      int callsAfter = loader.calls();

      System.out.printf(
          "load in flight during invalidateAll: the read that started it answered %s;"
              + " getIfPresent(k) per node afterwards = %s; loader calls = %d; the next get(k) answered"
              + " %s, loader calls then = %d%n",
          firstRead, held, callsBefore, nextRead, callsAfter);
      SoftAssertions.assertSoftly(
          soft -> {
            soft.assertThat(held)
                .as(
                    "getIfPresent(k) on each node after invalidateAll, once the load started before"
                        + " it had finished")
                .containsOnlyNulls();
            soft.assertThat(nextRead).as("the next get(k) (a new load)").isEqualTo("v2");
            soft.assertThat(callsAfter).as("loader calls after the next get(k)").isEqualTo(2);
          });
    }
  }

  /**
   * (b) One node is cut off while the cache is cleared, so it keeps its copies; once the network
   * heals and anti-entropy has run, no key may come back on any node. (Heartbeats every 100 ms: the
   * cut node may be suspected and rejoin, as it would in production.)
   */
  @Test
  void copiesOnAMemberCutOffDuringTheClearDoNotComeBack() {
    try (TestCluster trio = proxiedTrio(Duration.ofMillis(100))) {
      trio.awaitSettled();
      KEYS.forEach(key -> trio.cache(0).put(key, "value-of-" + key));
      trio.awaitSettled();
      List<Long> sizesBefore = localSizes(trio);

      trio.proxy(2).cut();
      String clear = clearAll(trio.cache(0));
      List<Long> sizesDuringCut = localSizes(trio);
      trio.proxy(2).heal();

      assertNothingComesBack(
          trio,
          String.format(
              "written: 100 keys, local sizes %s; node 2 cut off;"
                  + " invalidateAll() from node 0 %s; local sizes then %s",
              sizesBefore, clear, sizesDuringCut));
    }
  }

  /**
   * (c) One replica is down while keys are written, so the other nodes queue hinted writes for it;
   * the cache is cleared; the replica returns (empty, at the same address): the hints must not
   * bring keys back. Heartbeats are slow (1 min) so that the down replica stays in the rings while
   * the keys are written, and every write it holds is hinted rather than routed around it.
   */
  @Test
  void hintsQueuedBeforeTheClearDoNotBringKeysBack() {
    try (TestCluster trio = proxiedTrio(Duration.ofMinutes(1))) {
      trio.awaitSettled();
      trio.stop(2);
      KEYS.forEach(key -> trio.cache(0).put(key, "value-of-" + key));
      List<Long> backlogs = backlogs(trio);
      List<Long> sizesBefore = localSizes(trio);
      assertThat(backlogs.stream().mapToLong(Long::longValue).filter(b -> b > 0).sum())
          .as("precondition: hinted writes queued for the down node 2 (backlogs %s)", backlogs)
          .isPositive();

      String clear = clearAll(trio.cache(0));
      List<Long> backlogsAfterClear = backlogs(trio);
      trio.restart(2);

      assertNothingComesBack(
          trio,
          String.format(
              "written: 100 keys while node 2 was down,"
                  + " local sizes %s (-1: down), replication backlogs (hints) %s; invalidateAll() from"
                  + " node 0 %s; backlogs then %s; node 2 restarted empty",
              sizesBefore, backlogs, clear, backlogsAfterClear));
    }
  }

  /** Clears the cache; describes how invalidateAll ended. */
  private static String clearAll(DistributedCache<String, String> cache) {
    try {
      cache.invalidateAll();
      return "returned normally";
    } catch (PeerUnavailableException e) {
      return "threw PeerUnavailableException (" + e.getMessage() + ")";
    }
  }

  /**
   * Once the cluster settled and ran anti-entropy rounds (and, for a fixed implementation, had a
   * few more seconds to converge on the clear), no node holds or answers any of the keys.
   */
  private static void assertNothingComesBack(TestCluster trio, String story) {
    trio.awaitSettled();
    awaitAntiEntropyRounds(trio, 3);
    try {
      await()
          .atMost(Duration.ofSeconds(3))
          .pollInterval(Duration.ofMillis(50))
          .until(() -> localSizes(trio).stream().allMatch(size -> size == 0));
    } catch (org.awaitility.core.ConditionTimeoutException stillThere) {
      // reported below, with the figures
    }
    awaitAntiEntropyRounds(trio, 3);
    List<Long> sizes = localSizes(trio);
    List<Integer> visible = visibleCounts(trio, KEYS);
    System.out.printf(
        "%s; after healing, settling and anti-entropy: local sizes per node %s,"
            + " keys answered by getIfPresent per node %s (of %d)%n",
        story, sizes, visible, KEYS.size());
    SoftAssertions.assertSoftly(
        soft -> {
          soft.assertThat(sizes)
              .as("localSize() per node after the clear and anti-entropy")
              .containsOnly(0L);
          soft.assertThat(visible)
              .as(
                  "keys (of %d) answered by getIfPresent per node after the clear and anti-entropy",
                  KEYS.size())
              .containsOnly(0);
        });
  }

  // ---------------------------------------------------------------- the proxied trio

  /**
   * Three nodes with a replicated cache {@value #CACHE} (factor 2, remote timeout 2 s, no loader);
   * node 2 is reached by its peers only through its proxy, so a test can cut it off and heal it, or
   * stop it and restart it empty at the same address. The cut is one-way: node 2's own calls to its
   * peers still go through. Anti-entropy runs every 200 ms; {@code heartbeatInterval} is how soon a
   * silent node is suspected (a few intervals) and leaves the others' rings.
   */
  private static TestCluster proxiedTrio(Duration heartbeatInterval) {
    return TestCluster.builder()
        .size(3)
        .behindProxy(2)
        .nodeSettings(
            node ->
                node.heartbeatInterval(heartbeatInterval)
                    .antiEntropyInterval(Duration.ofMillis(200)))
        .cache(
            CACHE,
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .replicationFactor(2)
                .remoteTimeout(Duration.ofSeconds(2))
                .build())
        .build();
  }

  /**
   * Waits (up to 20 s) until every node has served at least {@code rounds} more requests per peer
   * than now: with nothing else going on, those are the peers' anti-entropy digests.
   */
  private static void awaitAntiEntropyRounds(TestCluster cluster, int rounds) {
    long[] before = new long[cluster.size()];
    for (int i = 0; i < cluster.size(); i++) {
      before[i] = cluster.cache(i).stats().peerRequestCount();
    }
    long needed = (long) rounds * (cluster.size() - 1);
    await()
        .atMost(Duration.ofSeconds(20))
        .pollInterval(Duration.ofMillis(20))
        .until(
            () -> {
              for (int i = 0; i < cluster.size(); i++) {
                if (cluster.cache(i).stats().peerRequestCount() - before[i] < needed) {
                  return false;
                }
              }
              return true;
            });
  }

  /** The local sizes of the nodes' shards, by node index (-1 for a stopped node). */
  private static List<Long> localSizes(TestCluster cluster) {
    List<Long> sizes = new ArrayList<>();
    for (int i = 0; i < cluster.size(); i++) {
      sizes.add(cluster.node(i).isRunning() ? cluster.cache(i).localSize() : -1L);
    }
    return sizes;
  }

  /** How many of {@code keys} each node answers with a value through getIfPresent. */
  private static List<Integer> visibleCounts(TestCluster cluster, List<String> keys) {
    List<Integer> counts = new ArrayList<>();
    for (int i = 0; i < cluster.size(); i++) {
      int visible = 0;
      for (String key : keys) {
        if (cluster.cache(i).getIfPresent(key) != null) {
          visible++;
        }
      }
      counts.add(visible);
    }
    return counts;
  }

  /** The nodes' replication backlogs (hints included), by node index (-1 for a stopped node). */
  private static List<Long> backlogs(TestCluster cluster) {
    List<Long> backlogs = new ArrayList<>();
    for (ShardcacheNode node : cluster.nodes()) {
      backlogs.add(node.isRunning() ? node.replicationBacklog() : -1L);
    }
    return backlogs;
  }
}
