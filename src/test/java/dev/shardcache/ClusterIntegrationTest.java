package dev.shardcache;

import static dev.shardcache.TestClusters.loader;
import static dev.shardcache.TestClusters.recordingCache;
import static dev.shardcache.TestClusters.totalLoads;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Three or more real nodes on 127.0.0.1 talking real gRPC: the distributed behaviour of issue 2.
 */
class ClusterIntegrationTest {
  private static final String CACHE = "users";

  /** The nodes' ticker: it moves only when a test advances it. */
  private final FakeTicker ticker = new FakeTicker();

  private TestCluster cluster;
  private ExecutorService pool;

  @AfterEach
  void tearDown() {
    if (pool != null) {
      pool.shutdownNow();
    }
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void everyNodeAgreesOnOwnersAndKeysAreLoadedOnTheirOwner() {
    cluster = startCluster(3);
    for (int k = 0; k < 90; k++) {
      String key = "user:" + k;
      String owner = cluster.cache(0).ownerOf(key);
      assertThat(cluster.cache(1).ownerOf(key)).isEqualTo(owner);
      assertThat(cluster.cache(2).ownerOf(key)).isEqualTo(owner);

      String value = cluster.cache(k % 3).get(key);
      assertThat(value).isEqualTo(RecordingLoader.valueOf(key, owner));
    }
    assertThat(totalLoads(cluster)).isEqualTo(90);
    long held = 0;
    for (int i = 0; i < 3; i++) {
      // Each node holds exactly the keys it loaded, which are the keys it owns.
      assertThat(cluster.cache(i).localSize()).isEqualTo(loader(cluster, i).calls());
      assertThat(loader(cluster, i).calls()).as("node %s owns some keys", i).isPositive();
      held += cluster.cache(i).localSize();
    }
    assertThat(held).isEqualTo(90);

    // Reading again anywhere loads nothing more.
    for (int k = 0; k < 90; k++) {
      cluster.cache((k + 1) % 3).get("user:" + k);
    }
    assertThat(totalLoads(cluster)).isEqualTo(90);
  }

  @Test
  void concurrentMissesFromAllNodesLoadOnceForTheWholeCluster() throws Exception {
    cluster = startCluster(3);
    for (int i = 0; i < 3; i++) {
      loader(cluster, i).withDelay(300);
    }
    pool = Executors.newFixedThreadPool(48);
    for (int round = 0; round < 3; round++) {
      String key = "hot:" + round;
      CountDownLatch start = new CountDownLatch(1);
      List<Future<String>> reads = new ArrayList<>();
      for (int t = 0; t < 48; t++) {
        DistributedCache<String, String> via = cluster.cache(t % 3);
        reads.add(
            pool.submit(
                () -> {
                  start.await();
                  return via.get(key);
                }));
      }
      start.countDown();
      String expected = RecordingLoader.valueOf(key, cluster.cache(0).ownerOf(key));
      for (Future<String> read : reads) {
        assertThat(read.get(30, TimeUnit.SECONDS)).isEqualTo(expected);
      }
      assertThat(totalLoads(cluster, key)).as("loader calls for %s", key).isEqualTo(1);
    }
  }

  @Test
  void callersOnOneNodeShareOneRemoteCall() throws Exception {
    cluster = startCluster(3);
    loader(cluster, 1).withDelay(300);
    String key = cluster.keyOwnedBy(1, "shared:");
    CacheStats before = cluster.cache(0).stats();
    List<CompletableFuture<String>> reads = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      reads.add(cluster.cache(0).getAsync(key));
    }
    for (CompletableFuture<String> read : reads) {
      assertThat(read.get(30, TimeUnit.SECONDS))
          .isEqualTo(RecordingLoader.valueOf(key, cluster.node(1).address()));
    }
    assertThat(cluster.cache(0).stats().minus(before).remoteCallCount()).isEqualTo(1);
    assertThat(totalLoads(cluster, key)).isEqualTo(1);
  }

  @Test
  void writesThroughAnyNodeAreSeenThroughEveryNode() {
    cluster = startCluster(3);
    for (int k = 0; k < 30; k++) {
      String key = "w:" + k;
      cluster.cache(k % 3).put(key, "written-" + k);
      for (int i = 0; i < 3; i++) {
        assertThat(cluster.cache(i).get(key)).isEqualTo("written-" + k);
        assertThat(cluster.cache(i).getIfPresent(key)).isEqualTo("written-" + k);
      }
      cluster.cache((k + 1) % 3).invalidate(key);
      for (int i = 0; i < 3; i++) {
        assertThat(cluster.cache(i).getIfPresent(key)).isNull();
      }
      // After an invalidation the next read loads again, on the owner.
      assertThat(cluster.cache((k + 2) % 3).get(key))
          .isEqualTo(RecordingLoader.valueOf(key, cluster.cache(0).ownerOf(key)));
    }
    assertThat(totalLoads(cluster)).isEqualTo(30);
  }

  @Test
  void compareAndSetIsAtomicOnTheOwner() throws Exception {
    cluster = startCluster(3);
    String key = cluster.keyOwnedBy(2, "cas:");
    assertThat(cluster.cache(0).compareAndSet(key, null, "first")).isTrue();
    assertThat(cluster.cache(1).compareAndSet(key, null, "second")).isFalse();
    assertThat(cluster.cache(1).compareAndSet(key, "wrong", "second")).isFalse();
    assertThat(cluster.cache(1).compareAndSet(key, "first", "second")).isTrue();
    assertThat(cluster.cache(2).getIfPresent(key)).isEqualTo("second");
    assertThat(cluster.cache(0).compareAndSet(key, "second", null)).isTrue();
    assertThat(cluster.cache(2).getIfPresent(key)).isNull();

    // Concurrent increments through all nodes: each CAS success is one increment, none lost.
    cluster.cache(0).put(key, "0");
    pool = Executors.newFixedThreadPool(6);
    List<Future<?>> workers = new ArrayList<>();
    for (int t = 0; t < 6; t++) {
      DistributedCache<String, String> via = cluster.cache(t % 3);
      workers.add(
          pool.submit(
              () -> {
                for (int i = 0; i < 25; i++) {
                  while (true) {
                    String current = via.getIfPresent(key);
                    if (via.compareAndSet(
                        key, current, String.valueOf(Integer.parseInt(current) + 1))) {
                      break;
                    }
                  }
                }
                return null;
              }));
    }
    for (Future<?> worker : workers) {
      worker.get(60, TimeUnit.SECONDS);
    }
    assertThat(cluster.cache(1).get(key)).isEqualTo("150");
  }

  @Test
  void getWithALoaderStoresTheFirstValueOnTheOwner() {
    cluster = startCluster(3);
    String key = cluster.keyOwnedBy(1, "callable:");
    assertThat(cluster.cache(0).get(key, k -> "from-0")).isEqualTo("from-0");
    assertThat(cluster.cache(2).get(key, k -> "from-2")).isEqualTo("from-0");
    assertThat(cluster.cache(1).getIfPresent(key)).isEqualTo("from-0");
    String owned = cluster.keyOwnedBy(0, "callable:");
    assertThat(cluster.cache(0).get(owned, k -> "local")).isEqualTo("local");
    assertThat(totalLoads(cluster)).isZero(); // the cache's own loader was never used
    assertThatThrownBy(() -> cluster.cache(0).get("callable:x", k -> null))
        .isInstanceOf(CacheLoadException.class);
  }

  /** Regression: an owner's load that lost to a newer compare-and-set answered its own value. */
  @Test
  void aLoadThatLosesToANewerWriteAnswersTheWinner() throws Exception {
    cluster = startCluster(2);
    loader(cluster, 1).withDelay(500);
    String key = cluster.keyOwnedBy(1, "race:");
    CompletableFuture<String> ownerRead =
        cluster.cache(1).getAsync(key); // loads slowly on the owner
    Thread.sleep(100);
    String other = cluster.cache(0).get(key, k -> "from-0"); // stored by compare-and-set meanwhile
    assertThat(other).isEqualTo("from-0");
    assertThat(ownerRead.get(10, TimeUnit.SECONDS)).isEqualTo("from-0");
    assertThat(cluster.cache(1).getIfPresent(key)).isEqualTo("from-0");
  }

  @Test
  void invalidateAllClearsEveryMember() {
    cluster = startCluster(3);
    for (int k = 0; k < 60; k++) {
      cluster.cache(0).get("all:" + k);
    }
    for (int i = 0; i < 3; i++) {
      assertThat(cluster.cache(i).localSize()).isPositive();
    }
    cluster.cache(1).invalidateAll();
    for (int i = 0; i < 3; i++) {
      assertThat(cluster.cache(i).localSize()).isZero();
    }
    assertThat(cluster.cache(2).get("all:1")).endsWith("@" + cluster.cache(2).ownerOf("all:1"));
    assertThat(totalLoads(cluster)).isEqualTo(61);

    cluster.node(2).close();
    assertThatThrownBy(() -> cluster.cache(0).invalidateAll())
        .isInstanceOf(PeerUnavailableException.class)
        .hasMessageContaining("did not reach");
  }

  @Test
  void getAllMakesOneCallPerOwnerNode() {
    cluster = startCluster(3);
    List<String> keys = new ArrayList<>();
    for (int k = 0; k < 300; k++) {
      keys.add("batch:" + k);
    }
    CacheStats before = cluster.cache(0).stats();
    long fetchesBefore = fetchCalls(0);
    Map<String, String> values = cluster.cache(0).getAll(keys);

    assertThat(values).hasSize(300);
    for (String key : keys) {
      assertThat(values.get(key))
          .isEqualTo(RecordingLoader.valueOf(key, cluster.cache(0).ownerOf(key)));
    }
    // Two other owners: two calls, not 200. (Node 0's own misses, right after the members joined,
    // also ask the keys' earlier holders for a copy: those Fetch calls are not reads.)
    assertThat(
            cluster.cache(0).stats().minus(before).remoteCallCount()
                - (fetchCalls(0) - fetchesBefore))
        .isEqualTo(2);
    assertThat(totalLoads(cluster)).isEqualTo(300);

    // A second getAll through another node finds everything cached.
    CacheStats before1 = cluster.cache(1).stats();
    long fetchesBefore1 = fetchCalls(1);
    assertThat(cluster.cache(1).getAll(keys)).isEqualTo(values);
    assertThat(
            cluster.cache(1).stats().minus(before1).remoteCallCount()
                - (fetchCalls(1) - fetchesBefore1))
        .isEqualTo(2);
    assertThat(totalLoads(cluster)).isEqualTo(300);
  }

  @Test
  void getAllSplitsBatchesOverTheBatchLimit() {
    cluster = startCluster(2);
    List<String> keys = new ArrayList<>();
    for (int k = 0; keys.size() < CacheConfig.MAX_KEYS_PER_BATCH + 10; k++) {
      String key = "big:" + k;
      if (cluster.cache(0).ownerOf(key).equals(cluster.node(1).address())) {
        keys.add(key);
      }
    }
    CacheStats before = cluster.cache(0).stats();
    assertThat(cluster.cache(0).getAll(keys)).hasSize(keys.size());
    assertThat(cluster.cache(0).stats().minus(before).remoteCallCount()).isEqualTo(2);
  }

  @Test
  void aStoppedNodeCostsOneFailedCallThenReadsLoadLocally() {
    cluster = startCluster(3);
    String deadKey = cluster.keyOwnedBy(2, "dead:");
    String deadAddress = cluster.node(2).address();
    assertThat(cluster.cache(0).get(deadKey)).endsWith("@" + cluster.node(2).address());
    cluster.node(2).close();

    CacheStats before = cluster.cache(0).stats();
    List<String> keysOfDeadNode = new ArrayList<>();
    for (int k = 0; keysOfDeadNode.size() < 20; k++) {
      String key = "gone:" + k;
      if (cluster.cache(0).ownerOf(key).equals(cluster.node(2).address())) {
        keysOfDeadNode.add(key);
      }
    }
    for (String key : keysOfDeadNode) {
      assertThat(cluster.cache(0).get(key))
          .isEqualTo(RecordingLoader.valueOf(key, cluster.node(0).address()));
    }
    CacheStats delta = cluster.cache(0).stats().minus(before);
    // The first read found the peer down; the ticker is frozen, so no probe was due afterwards.
    assertThat(delta.remoteCallCount()).isEqualTo(1);
    assertThat(delta.remoteFailureCount()).isEqualTo(1);
    assertThat(delta.fallbackLoadCount()).isEqualTo(20);
    assertThat(cluster.node(0).reachablePeers()).containsExactly(cluster.node(1).address());
    assertThat(cluster.node(0).peers()).hasSize(2);
    // Fallback values are not kept in the shard of a node that does not own them. (Node 2 closed
    // in an orderly way and handed its one entry, deadKey's, to its holder without node 2, which
    // may be node 0.)
    assertThat(cluster.cache(0).localSize())
        .isBetween((long) loader(cluster, 0).calls() - 20, (long) loader(cluster, 0).calls() - 19);

    // Keys of live nodes are unaffected.
    String liveKey = cluster.keyOwnedBy(1, "alive:");
    assertThat(cluster.cache(0).get(liveKey))
        .isEqualTo(RecordingLoader.valueOf(liveKey, cluster.node(1).address()));

    // Writes to the dead owner fail clearly instead of vanishing.
    assertThatThrownBy(() -> cluster.cache(0).put(deadKey, "x"))
        .isInstanceOf(PeerUnavailableException.class)
        .hasMessageContaining(cluster.node(2).address())
        .hasMessageContaining("not applied");

    // After the back-off a background probe goes out; callers never wait for it.
    ticker.advance(PeerClient.MAX_BACKOFF.multipliedBy(2));
    CacheStats beforeProbe = cluster.cache(0).stats();
    cluster.cache(0).get(keysOfDeadNode.get(0));
    cluster.cache(0).get(keysOfDeadNode.get(1));
    assertThat(cluster.cache(0).stats().minus(beforeProbe).remoteCallCount()).isZero();
    assertThat(cluster.cache(0).stats().minus(beforeProbe).fallbackLoadCount()).isEqualTo(2);

    // Dropping the dead member re-owns its keys on the survivors.
    cluster.joinAll();
    assertThat(cluster.cache(0).ownerOf(deadKey)).isNotEqualTo(deadAddress);
    assertThat(cluster.node(0).ring().nodes()).hasSize(2);
  }

  @Test
  void aPeerThatComesBackIsUsedAgainAfterTheBackOff() throws Exception {
    cluster = startCluster(2);
    String key = cluster.keyOwnedBy(1, "flap:");
    String address = cluster.node(1).address();
    int port = Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
    cluster.node(1).close();
    assertThat(cluster.cache(0).get(key)).endsWith("@" + cluster.node(0).address());

    // A new process on the same address: the peer is back.
    try (ShardcacheNode reborn = ShardcacheNode.builder().listen("127.0.0.1", port).build()) {
      RecordingLoader loader = new RecordingLoader(address);
      reborn.cache(CACHE, CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).loader(loader).build());
      reborn.start();
      reborn.setPeers(cluster.runningAddresses());
      ticker.advance(PeerClient.MAX_BACKOFF.multipliedBy(2));
      // The first read after the back-off starts a probe and loads locally; once the probe has
      // answered, reads go to the peer again.
      await()
          .atMost(Duration.ofSeconds(10))
          .untilAsserted(
              () ->
                  assertThat(cluster.cache(0).get(key))
                      .isEqualTo(RecordingLoader.valueOf(key, address)));
      assertThat(loader.calls(key)).isEqualTo(1);
    }
  }

  @Test
  void aNodeAddedAtRunTimeTakesOverOnlyTheKeysThatMoveToIt() {
    cluster = startCluster(3);
    List<String> keys = new ArrayList<>();
    Map<String, String> ownerBefore = new HashMap<>();
    for (int k = 0; k < 2_000; k++) {
      String key = "move:" + k;
      keys.add(key);
      ownerBefore.put(key, cluster.cache(0).ownerOf(key));
    }
    cluster.cache(0).getAll(keys);
    assertThat(totalLoads(cluster)).isEqualTo(2_000);

    int added = cluster.add();
    String newcomer = cluster.node(added).address();
    cluster.joinAll();

    int moved = 0;
    for (String key : keys) {
      String owner = cluster.cache(0).ownerOf(key);
      for (int i = 1; i <= added; i++) {
        assertThat(cluster.cache(i).ownerOf(key)).isEqualTo(owner);
      }
      if (!owner.equals(ownerBefore.get(key))) {
        assertThat(owner).as("a key only moves to the new member").isEqualTo(newcomer);
        moved++;
      }
    }
    // About a quarter of the keys move to the fourth member.
    assertThat(moved).isBetween(2_000 / 4 / 2, 2_000 * 3 / 8);

    // Moved keys are handed to the newcomer (or fetched by it on a miss), not loaded again.
    cluster.cache(1).getAll(keys);
    System.out.printf(
        "rebalancing: 4th member joined a warm 3-member cluster of 2000 keys;"
            + " %d keys moved to it, %d reloaded (%.2f%%)%n",
        moved, totalLoads(cluster) - 2_000, 100.0 * (totalLoads(cluster) - 2_000) / 2_000);
    assertThat(loader(cluster, added).calls()).isZero();
    long handedOff = 0;
    for (int i = 0; i < added; i++) {
      handedOff += cluster.node(i).handedOffEntries();
    }
    assertThat(handedOff).as("entries streamed to the newcomer").isPositive();
    assertThat(totalLoads(cluster)).isEqualTo(2_000);

    // The old owners dropped the keys they lost, so nothing stale is left to resurface.
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () -> {
              long held = 0;
              for (int i = 0; i <= added; i++) {
                held += cluster.cache(i).localSize();
              }
              assertThat(held).isEqualTo(2_000);
            });
  }

  /**
   * One node's view decides where a key lives: B, asked for a key it thinks C holds, passes the
   * read on to C once (marked forwarded, so C answers it and never passes it on); C loads it, once.
   */
  @Test
  void aReadReachingANonHolderIsPassedOnOnceToTheHolderUnderItsRing() {
    cluster = startCluster(3);
    String a = cluster.node(0).address();
    String b = cluster.node(1).address();
    String c = cluster.node(2).address();
    // A sees {A, B}; B sees {B, C}: A sends B keys that B thinks C owns.
    cluster.node(0).setPeers(List.of(b));
    cluster.node(1).setPeers(List.of(c));
    String key = null;
    for (int k = 0; key == null; k++) {
      String candidate = "split:" + k;
      if (cluster.cache(0).ownerOf(candidate).equals(b)
          && cluster.cache(1).ownerOf(candidate).equals(c)) {
        key = candidate;
      }
    }
    CacheStats cBefore = cluster.cache(2).stats();
    assertThat(cluster.cache(0).get(key)).isEqualTo(RecordingLoader.valueOf(key, c));
    assertThat(cluster.cache(2).stats().minus(cBefore).peerRequestCount()).isEqualTo(1);
    assertThat(totalLoads(cluster, key)).isEqualTo(1);
    assertThat(a).isNotEqualTo(b);
  }

  @Test
  void nearCacheServesHotRemoteKeysWithoutACall() {
    cluster = startCluster(2, config -> config.nearCache(100, Duration.ofMinutes(1)));
    String key = cluster.keyOwnedBy(1, "hot:");
    CacheStats before = cluster.cache(0).stats();
    for (int i = 0; i < 50; i++) {
      assertThat(cluster.cache(0).get(key)).endsWith("@" + cluster.node(1).address());
    }
    CacheStats delta = cluster.cache(0).stats().minus(before);
    assertThat(delta.remoteCallCount()).isEqualTo(1);
    assertThat(delta.nearHitCount()).isEqualTo(49);

    // A write through this node clears its own near-cache entry at once.
    cluster.cache(0).put(key, "fresh");
    assertThat(cluster.cache(0).get(key)).isEqualTo("fresh");
  }

  @Test
  void anUnknownCacheOnThePeerIsAClearError() throws Exception {
    cluster = startCluster(2);
    DistributedCache<String, String> orphan =
        cluster
            .node(0)
            .cache(
                "orders",
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).loader(k -> "x").build());
    String key = null;
    for (int k = 0; key == null; k++) {
      if (orphan.ownerOf("o" + k).equals(cluster.node(1).address())) {
        key = "o" + k;
      }
    }
    String missing = key;
    assertThatThrownBy(() -> orphan.get(missing))
        .isInstanceOf(ShardcacheException.class)
        .hasMessageContaining("no cache named 'orders'")
        .hasMessageContaining("define it");
    // The peer keeps serving its real cache.
    String other = cluster.keyOwnedBy(1, "ok:");
    assertThat(cluster.cache(0).get(other)).endsWith("@" + cluster.node(1).address());
  }

  @Test
  void aLoaderFailureOnTheOwnerReachesTheCallerAndIsNotCached() {
    cluster = startCluster(2);
    ShardcacheNode failing = cluster.node(1);
    DistributedCache<String, String> flaky0 =
        cluster
            .node(0)
            .cache(
                "flaky",
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                    .loader(
                        k -> {
                          throw new IllegalStateException("database down");
                        })
                    .build());
    java.util.concurrent.atomic.AtomicInteger calls =
        new java.util.concurrent.atomic.AtomicInteger();
    failing.cache(
        "flaky",
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
            .loader(
                k -> {
                  if (calls.incrementAndGet() == 1) {
                    throw new java.sql.SQLException("database down for " + k);
                  }
                  return "recovered";
                })
            .build());
    String key = null;
    for (int k = 0; key == null; k++) {
      if (flaky0.ownerOf("f" + k).equals(failing.address())) {
        key = "f" + k;
      }
    }
    String owned = key;
    assertThatThrownBy(() -> flaky0.get(owned))
        .isInstanceOf(CacheLoadException.class)
        .hasMessageContaining(failing.address())
        .hasMessageContaining("database down for " + owned);
    // Not cached: the next read loads again, on the owner, not on the caller.
    assertThat(flaky0.get(owned)).isEqualTo("recovered");
    assertThat(calls.get()).isEqualTo(2);
    assertThat(flaky0.stats().fallbackLoadCount()).isZero();
  }

  private long fetchCalls(int node) {
    return ((DefaultDistributedCache<?, ?>) cluster.cache(node)).fetchCallCount();
  }

  /** Started and joined nodes, each with a {@link #CACHE} whose loader records its calls. */
  private TestCluster startCluster(int size) {
    return startCluster(size, config -> config);
  }

  private TestCluster startCluster(
      int size, UnaryOperator<CacheConfig.Builder<String, String>> cache) {
    return TestCluster.builder()
        .size(size)
        .nodeSettings(node -> node.ticker(ticker))
        .cache(CACHE, recordingCache(cache))
        .build();
  }
}
