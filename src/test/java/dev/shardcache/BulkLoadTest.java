package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Bulk loads over real nodes: a {@code getAll} costs each owner one call of the loader's {@code
 * loadAll} for the keys it misses, single-flight per key with every other read, on the owner's load
 * executor.
 */
class BulkLoadTest {
  private static final String CACHE = "bulk";

  private final List<BulkRecordingLoader> loaders = new ArrayList<>();
  private TestCluster cluster;

  @AfterEach
  void tearDown() {
    loaders.forEach(BulkRecordingLoader::open);
    if (cluster != null) {
      cluster.close();
    }
  }

  private TestCluster start(int size, UnaryOperator<CacheConfig.Builder<String, String>> settings) {
    return start(size, settings, UnaryOperator.identity());
  }

  private TestCluster start(
      int size,
      UnaryOperator<CacheConfig.Builder<String, String>> settings,
      UnaryOperator<ShardcacheNode.Builder> nodeSettings) {
    for (int i = 0; i < size; i++) {
      loaders.add(new BulkRecordingLoader());
    }
    cluster =
        TestCluster.builder()
            .size(size)
            .nodeSettings(nodeSettings)
            .cache(
                CACHE,
                (i, node) ->
                    settings
                        .apply(
                            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                                .loader(loaders.get(i)))
                        .build())
            .build();
    return cluster;
  }

  /**
   * Three nodes, replication factor 2, each with a loader that has no {@code loadAll} of its own
   * (recorded by {@link #loaders}), so a {@code getAll} loads key by key.
   */
  private void startWithPerKeyLoaders() {
    for (int i = 0; i < 3; i++) {
      loaders.add(new BulkRecordingLoader());
    }
    cluster =
        TestCluster.builder()
            .size(3)
            .cache(
                CACHE,
                (i, node) -> {
                  BulkRecordingLoader recording = loaders.get(i);
                  CacheLoader<String, String> perKey = recording::load; // no loadAll of its own
                  return CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                      .replicationFactor(2)
                      .loader(perKey)
                      .build();
                })
            .build();
  }

  /** {@code perOwner} keys owned by each node, in a stable order. */
  private List<List<String>> keysByOwner(String prefix, int perOwner) {
    List<List<String>> byOwner = new ArrayList<>();
    for (int i = 0; i < cluster.size(); i++) {
      byOwner.add(new ArrayList<>());
    }
    for (int n = 0; byOwner.stream().anyMatch(keys -> keys.size() < perOwner); n++) {
      String key = prefix + n;
      List<String> keys = byOwner.get(cluster.indexOf(cluster.cache(0).ownerOf(key)));
      if (keys.size() < perOwner) {
        keys.add(key);
      }
    }
    return byOwner;
  }

  /** Waits until node {@code i} counted {@code atLeast} misses: the reads joined their flights. */
  private void awaitMisses(int i, long atLeast) throws InterruptedException {
    await()
        .atMost(Duration.ofSeconds(30))
        .until(() -> cluster.cache(i).stats().missCount() >= atLeast);
    Thread.sleep(100); // a read joins its flight right after counting its miss
  }

  private int loadAllCalls() {
    return loaders.stream().mapToInt(loader -> loader.loadAlls().size()).sum();
  }

  private int loadCalls() {
    return loaders.stream().mapToInt(loader -> loader.loads().size()).sum();
  }

  private static Map<String, String> valuesOf(List<String> keys) {
    Map<String, String> values = new LinkedHashMap<>();
    keys.forEach(key -> values.put(key, BulkRecordingLoader.valueOf(key)));
    return values;
  }

  @Test
  void aGetAllOfColdKeysIsOneLoadAllPerOwnerAndTheValuesAreReadableEverywhere() {
    start(3, config -> config);
    List<List<String>> byOwner = keysByOwner("cold-", 100);
    List<String> keys = byOwner.stream().flatMap(List::stream).toList();
    CacheStats before = cluster.cache(0).stats();

    Map<String, String> answer = cluster.cache(0).getAll(keys);

    assertThat(answer).containsExactlyInAnyOrderEntriesOf(valuesOf(keys));
    for (int i = 0; i < 3; i++) {
      assertThat(loaders.get(i).loadAlls())
          .as("loadAll calls on node %s, the owner of 100 of the keys", i)
          .containsExactly(Set.copyOf(byOwner.get(i)));
      assertThat(loaders.get(i).threads())
          .as("threads node %s loaded on", i)
          .allMatch(thread -> thread.startsWith("shardcache-load-"));
    }
    assertThat(loadCalls()).as("load calls").isZero();
    // Besides one GetAll to each other owner, node 0's bulk may ask the members of the rings of
    // the last minute for copies (the cluster just formed): one Fetch each, not one per key.
    long fetches = TestClusters.internals(cluster, 0).fetchCallCount();
    assertThat(fetches).as("Fetch calls from node 0").isLessThanOrEqualTo(2);
    assertThat(cluster.cache(0).stats().minus(before).remoteCallCount() - fetches)
        .as("GetAll calls from node 0")
        .isEqualTo(2);

    for (int i = 0; i < 3; i++) {
      assertThat(cluster.cache(i).getAll(keys)).containsExactlyInAnyOrderEntriesOf(valuesOf(keys));
      for (String key : List.of(keys.get(0), keys.get(150), keys.get(299))) {
        assertThat(cluster.cache(i).getIfPresent(key)).isEqualTo(BulkRecordingLoader.valueOf(key));
      }
    }
    assertThat(loadAllCalls()).as("loadAll calls after reading through every node").isEqualTo(3);
    assertThat(loadCalls()).isZero();
  }

  @Test
  void aGetAllOfColdKeysWithAPerKeyLoaderAsksForCopiesOncePerHolderNotOncePerKey() {
    startWithPerKeyLoaders();
    List<List<String>> byOwner = keysByOwner("each-", 100);
    List<String> keys = byOwner.stream().flatMap(List::stream).toList();
    long[] fetchesBefore = new long[3];
    for (int i = 0; i < 3; i++) {
      fetchesBefore[i] = TestClusters.internals(cluster, i).fetchCallCount();
    }

    assertThat(cluster.cache(0).getAll(keys)).containsExactlyInAnyOrderEntriesOf(valuesOf(keys));

    assertThat(loadAllCalls()).isZero();
    for (int i = 0; i < 3; i++) {
      assertThat(Set.copyOf(loaders.get(i).loads()))
          .as("keys loaded on node %s, the owner of 100 of them", i)
          .isEqualTo(Set.copyOf(byOwner.get(i)));
      // Each owner asks the key's other holder, and the members of the rings of the last minute
      // (the cluster just formed), for copies: one Fetch each for all its keys; before, one
      // Fetch per key (about 100 per owner), each holding a load thread for a round trip.
      assertThat(TestClusters.internals(cluster, i).fetchCallCount() - fetchesBefore[i])
          .as("Fetch calls from node %s", i)
          .isLessThanOrEqualTo(2);
    }
    assertThat(loadCalls()).as("each key loaded once in the cluster").isEqualTo(300);
    for (int i = 0; i < 3; i++) {
      assertThat(cluster.cache(i).getAll(keys)).containsExactlyInAnyOrderEntriesOf(valuesOf(keys));
    }
    assertThat(loadCalls()).as("after reading through every node").isEqualTo(300);
  }

  @Test
  void aRestartedOwnerTakesItsReplicasCopiesInsteadOfLoadingThemKeyByKey() {
    startWithPerKeyLoaders();
    List<String> keys = keysByOwner("kept-", 40).get(1);
    Map<String, String> written = new LinkedHashMap<>();
    keys.forEach(key -> written.put(key, "written-" + key));
    cluster.cache(0).putAll(written);
    cluster.awaitQuiescence();

    cluster.restart(1); // the owner comes back empty; each key's replica still has it
    cluster.awaitSettled();

    assertThat(cluster.cache(0).getAll(keys)).containsExactlyInAnyOrderEntriesOf(written);
    assertThat(loadCalls()).as("keys loaded although a holder had them").isZero();
    assertThat(cluster.cache(1).getAll(keys)).containsExactlyInAnyOrderEntriesOf(written);
  }

  @Test
  void aGetOfAKeyBeingBulkLoadedJoinsTheBulkLoad() throws Exception {
    start(3, config -> config);
    BulkRecordingLoader owner = loaders.get(1);
    owner.gated();
    List<String> keys = keysByOwner("join-", 5).get(1);

    CompletableFuture<Map<String, String>> batch =
        CompletableFuture.supplyAsync(() -> cluster.cache(0).getAll(keys));
    owner.awaitEntered();
    long misses = cluster.cache(1).stats().missCount();
    CompletableFuture<String> single =
        CompletableFuture.supplyAsync(() -> cluster.cache(2).get(keys.get(3)));
    CompletableFuture<String> local =
        CompletableFuture.supplyAsync(() -> cluster.cache(1).get(keys.get(4)));
    awaitMisses(1, misses + 2); // both reads reached the owner while its loadAll is held
    owner.open();

    assertThat(batch.get(30, TimeUnit.SECONDS)).containsExactlyInAnyOrderEntriesOf(valuesOf(keys));
    assertThat(single.get(30, TimeUnit.SECONDS))
        .isEqualTo(BulkRecordingLoader.valueOf(keys.get(3)));
    assertThat(local.get(30, TimeUnit.SECONDS)).isEqualTo(BulkRecordingLoader.valueOf(keys.get(4)));
    assertThat(owner.loadAlls()).containsExactly(Set.copyOf(keys));
    assertThat(loadCalls()).as("load calls: the gets joined the bulk load").isZero();
  }

  @Test
  void aBulkLoadAwaitsAKeyAlreadyLoadingInsteadOfLoadingItAgain() throws Exception {
    start(2, config -> config);
    BulkRecordingLoader owner = loaders.get(1);
    owner.gated();
    List<String> keys = keysByOwner("already-", 4).get(1);

    CompletableFuture<String> single =
        CompletableFuture.supplyAsync(() -> cluster.cache(1).get(keys.get(0)));
    owner.awaitEntered(); // load(keys[0]) is running
    long misses = cluster.cache(1).stats().missCount();
    CompletableFuture<Map<String, String>> batch =
        CompletableFuture.supplyAsync(() -> cluster.cache(0).getAll(keys));
    awaitMisses(1, misses + 4); // the batch reached the owner, which started a bulk of the others
    owner.open();

    assertThat(batch.get(30, TimeUnit.SECONDS)).containsExactlyInAnyOrderEntriesOf(valuesOf(keys));
    assertThat(single.get(30, TimeUnit.SECONDS))
        .isEqualTo(BulkRecordingLoader.valueOf(keys.get(0)));
    assertThat(owner.loads()).containsExactly(keys.get(0));
    assertThat(owner.loadAlls()).containsExactly(Set.copyOf(keys.subList(1, 4)));
  }

  @Test
  void keysLeftOutAreAbsentAndUncachedAndKeysNotAskedForAreNeverCached() throws Exception {
    start(3, config -> config);
    for (BulkRecordingLoader loader : loaders) {
      loader
          .leavingOut(key -> key.contains("gone"))
          .adding(asked -> Map.of("extra-" + asked.size(), "unasked", "cold-0", "not asked here"));
    }
    List<String> kept = keysByOwner("here-", 10).stream().flatMap(List::stream).toList();
    List<String> gone = keysByOwner("gone-", 10).stream().flatMap(List::stream).toList();
    List<String> keys = new ArrayList<>(kept);
    keys.addAll(gone);

    Map<String, String> answer = cluster.cache(1).getAll(keys);

    assertThat(answer).containsExactlyInAnyOrderEntriesOf(valuesOf(kept));
    assertThat(loadAllCalls()).isEqualTo(3);
    for (int i = 0; i < 3; i++) {
      DefaultDistributedCache<String, String> cache = TestClusters.internals(cluster, i);
      for (String key : gone) {
        assertThat(cache.peek(key)).as("%s on node %s", key, i).isNull();
      }
      for (String extra : List.of("extra-10", "extra-20", "extra-30", "cold-0")) {
        assertThat(cache.peek(extra)).as("%s on node %s", extra, i).isNull();
      }
    }
    assertThat(
            cluster.cache(0).localSize()
                + cluster.cache(1).localSize()
                + cluster.cache(2).localSize())
        .isEqualTo(kept.size());

    // A get that joins a bulk load leaving its key out fails as if load had returned null.
    BulkRecordingLoader owner = loaders.get(2);
    owner.gated();
    String missing = keysByOwner("gone-later-", 1).get(2).get(0);
    String present = keysByOwner("here-later-", 1).get(2).get(0);
    CompletableFuture<Map<String, String>> batch =
        CompletableFuture.supplyAsync(() -> cluster.cache(0).getAll(List.of(missing, present)));
    owner.awaitEntered();
    long misses = cluster.cache(2).stats().missCount();
    CompletableFuture<String> single =
        CompletableFuture.supplyAsync(() -> cluster.cache(2).get(missing));
    awaitMisses(2, misses + 1);
    owner.open();
    assertThat(batch.get(30, TimeUnit.SECONDS))
        .containsExactly(Map.entry(present, BulkRecordingLoader.valueOf(present)));
    assertThatThrownBy(() -> single.get(30, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .cause()
        .isInstanceOf(CacheLoadException.class)
        .hasMessageContaining("returned no value");
  }

  @Test
  void aFailingLoadAllFailsTheGetAllAndCachesNothingOfItsKeys() {
    start(2, config -> config);
    loaders.forEach(
        loader -> loader.failingFor(keys -> keys.stream().anyMatch(k -> k.startsWith("bad"))));
    List<List<String>> byOwner = keysByOwner("good-", 5);
    String bad = keysByOwner("bad-", 1).get(1).get(0);
    List<String> keys = new ArrayList<>(byOwner.get(0));
    keys.addAll(byOwner.get(1));
    keys.add(bad);

    assertThatThrownBy(() -> cluster.cache(0).getAll(keys))
        .isInstanceOf(CacheLoadException.class)
        .hasMessageContaining(cluster.node(1).address());

    // Node 0's share loaded and was kept; node 1's bulk failed whole, so none of its keys is held.
    assertThat(cluster.cache(0).localSize()).isEqualTo(5);
    assertThat(cluster.cache(1).localSize()).isZero();
    assertThat(loaders.get(0).loadAlls()).containsExactly(Set.copyOf(byOwner.get(0)));
  }

  @Test
  void bulkLoadsRunWithinMaxConcurrentLoadsAndLoadTimeout() throws Exception {
    start(
        1,
        config -> config.loadTimeout(Duration.ofMillis(300)),
        node -> node.maxConcurrentLoads(1));
    BulkRecordingLoader loader = loaders.get(0).withDelay(600);
    List<String> first = IntStream.range(0, 20).mapToObj(i -> "a-" + i).toList();
    List<String> second = IntStream.range(0, 20).mapToObj(i -> "b-" + i).toList();

    CompletableFuture<Map<String, String>> one =
        CompletableFuture.supplyAsync(() -> cluster.cache(0).getAll(first));
    CompletableFuture<Map<String, String>> two =
        CompletableFuture.supplyAsync(() -> cluster.cache(0).getAll(second));
    for (CompletableFuture<Map<String, String>> batch : List.of(one, two)) {
      assertThatThrownBy(() -> batch.get(30, TimeUnit.SECONDS))
          .cause()
          .isInstanceOf(CacheLoadException.class)
          .hasMessageContaining("loadTimeout");
    }
    // The loads go on, one at a time, and are kept when they end.
    await().atMost(Duration.ofSeconds(30)).until(() -> cluster.cache(0).localSize() == 40);
    assertThat(loader.mostRunning()).as("loadAll calls running at once").isEqualTo(1);
    assertThat(loader.loadAlls()).containsExactlyInAnyOrder(Set.copyOf(first), Set.copyOf(second));
    assertThat(cluster.cache(0).getAll(first)).hasSize(20);
    assertThat(loader.loadAlls()).hasSize(2);
  }

  @Test
  void aLoaderWithoutLoadAllLoadsKeyByKeyWithinMaxConcurrentLoads() {
    RecordingLoader perKey = new RecordingLoader("node").withDelay(50);
    cluster =
        TestCluster.builder()
            .size(1)
            .nodeSettings(node -> node.maxConcurrentLoads(3))
            .cache(CACHE, CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).loader(perKey).build())
            .build();
    ConcurrencyProbe probe = new ConcurrencyProbe();
    CacheLoader<String, String> probed = key -> probe.during(() -> perKey.load(key));
    List<String> keys = IntStream.range(0, 30).mapToObj(i -> "k" + i).toList();
    DistributedCache<String, String> cache = cluster.cache(0);

    assertThat(Loads.loadsInBulk(perKey)).isFalse();
    assertThat(Loads.loadsInBulk(probed)).isFalse();
    assertThat(Loads.loadsInBulk(new BulkRecordingLoader())).isTrue();
    assertThat(cache.getAll(keys)).hasSize(30);
    assertThat(perKey.calls()).isEqualTo(30);
    assertThat(cache.getAll(keys, probed)).hasSize(30);
    assertThat(perKey.calls()).as("held keys are not loaded again").isEqualTo(30);
    List<String> fresh = IntStream.range(0, 30).mapToObj(i -> "f" + i).toList();
    assertThat(cache.getAll(fresh, probed)).hasSize(30);
    assertThat(probe.most()).as("loads at once with maxConcurrentLoads 3").isBetween(2, 3);
  }

  @Test
  void getAllWithALoaderLoadsTheAbsentKeysHereOnceAndStoresThemOnTheirOwners() {
    start(3, config -> config);
    BulkRecordingLoader mine = new BulkRecordingLoader();
    List<List<String>> byOwner = keysByOwner("given-", 10);
    List<String> keys = byOwner.stream().flatMap(List::stream).toList();
    String present = byOwner.get(2).get(0);
    cluster.cache(2).put(present, "written");

    Map<String, String> answer = cluster.cache(0).getAll(keys, mine);

    Map<String, String> expected = new LinkedHashMap<>(valuesOf(keys));
    expected.put(present, "written");
    assertThat(answer).containsExactlyInAnyOrderEntriesOf(expected);
    Set<String> loaded = new HashSet<>(keys);
    loaded.remove(present);
    assertThat(mine.loadAlls()).as("one loadAll, on the calling node").containsExactly(loaded);
    assertThat(mine.threads()).allMatch(thread -> thread.startsWith("shardcache-load-"));
    assertThat(loadAllCalls() + loadCalls()).as("the cache's own loaders").isZero();
    for (int i = 0; i < 3; i++) {
      for (String key : keys) {
        assertThat(cluster.cache(i).getIfPresent(key)).isEqualTo(expected.get(key));
      }
    }
  }

  /** Counts calls running at once. */
  private static final class ConcurrencyProbe {
    private final java.util.concurrent.atomic.AtomicInteger running =
        new java.util.concurrent.atomic.AtomicInteger();
    private final java.util.concurrent.atomic.AtomicInteger most =
        new java.util.concurrent.atomic.AtomicInteger();

    <T> T during(java.util.concurrent.Callable<T> call) throws Exception {
      most.accumulateAndGet(running.incrementAndGet(), Math::max);
      try {
        return call.call();
      } finally {
        running.decrementAndGet();
      }
    }

    int most() {
      return most.get();
    }
  }
}
