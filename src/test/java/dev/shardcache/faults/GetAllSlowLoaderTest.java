package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A {@code getAll} of many cold keys loads each key once, even when an owner's share of the batch
 * takes longer to load than the remote timeout.
 *
 * <p>Three nodes with default settings (remote timeout 5 s) and a loader that takes 100 ms. A
 * {@code getAll} of 200 cold keys through one node, about a third owned by each node (66 by the
 * calling node, 67 by each peer: 6.7 s of loading per peer if done one after another), must answer
 * all 200, call the loader exactly once per key in the whole cluster, and never mark a peer down.
 *
 * <p>Defect: each owner loads its share of the batch key after key; the caller's 5 s deadline
 * expires, marks the owner unreachable, and the caller reads the batch again key by key, loading on
 * itself the keys it reads while the owner is marked down: those keys are loaded twice.
 */
class GetAllSlowLoaderTest {
  private static final Duration LOAD_TIME = Duration.ofMillis(100);
  private static final String CACHE = "batch";
  private static final int KEYS = 200;

  @Test
  void aBatchOfColdKeysIsLoadedOnceEachAndNoOwnerIsMarkedDown() throws Exception {
    Map<String, AtomicInteger> loadsPerKey = new ConcurrentHashMap<>();
    AtomicInteger[] loadsPerNode = {new AtomicInteger(), new AtomicInteger(), new AtomicInteger()};
    ExecutorService caller = Executors.newSingleThreadExecutor();
    try (TestCluster cluster =
        TestCluster.builder()
            .size(3)
            .cache(
                CACHE,
                (i, node) -> {
                  AtomicInteger mine = loadsPerNode[i];
                  return CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                      .loader(
                          key -> {
                            loadsPerKey
                                .computeIfAbsent(key, k -> new AtomicInteger())
                                .incrementAndGet();
                            mine.incrementAndGet();
                            Thread.sleep(LOAD_TIME.toMillis());
                            return "value of " + key;
                          })
                      .build();
                })
            .build()) {
      List<DistributedCache<String, String>> caches = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        caches.add(cluster.cache(i));
      }

      // 66 keys owned by node0 (the caller), 67 by node1, 67 by node2.
      int[] quota = {66, 67, 67};
      int[] owned = new int[3];
      List<String> keys = new ArrayList<>();
      for (int i = 0; keys.size() < KEYS; i++) {
        String key = "item:" + i;
        int owner = cluster.indexOf(caches.get(0).ownerOf(key));
        if (owned[owner] < quota[owner]) {
          owned[owner]++;
          keys.add(key);
        }
      }

      Map<String, String> answer;
      String failure = null;
      long elapsedMillis;
      List<ReachabilityWatch.Lapse> lapses;
      try (ReachabilityWatch watch = ReachabilityWatch.allPeersOf(cluster.nodes())) {
        long started = System.nanoTime();
        Future<Map<String, String>> batch = caller.submit(() -> caches.get(0).getAll(keys));
        try {
          answer = batch.get(25, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
          answer = Map.of();
          failure = String.valueOf(e.getCause());
        }
        elapsedMillis = (System.nanoTime() - started) / 1_000_000;
        lapses = watch.lapses();
      }

      Map<String, Integer> loadedMoreThanOnce = new LinkedHashMap<>();
      List<String> neverLoaded = new ArrayList<>();
      List<String> wrongOrMissing = new ArrayList<>();
      int totalLoads = 0;
      for (String key : keys) {
        AtomicInteger count = loadsPerKey.get(key);
        int n = count == null ? 0 : count.get();
        totalLoads += n;
        if (n == 0) {
          neverLoaded.add(key);
        } else if (n > 1) {
          loadedMoreThanOnce.put(
              key + " (owner node" + cluster.indexOf(caches.get(0).ownerOf(key)) + ")", n);
        }
        if (!("value of " + key).equals(answer.get(key))) {
          wrongOrMissing.add(key + "=" + answer.get(key));
        }
      }

      System.out.println(
          "GetAllSlowLoaderTest: getAll of "
              + KEYS
              + " cold keys through node0,"
              + " owned "
              + owned[0]
              + "/"
              + owned[1]
              + "/"
              + owned[2]
              + " by node0/1/2; loader takes "
              + LOAD_TIME.toMillis()
              + " ms; remote timeout "
              + caches.get(0).config().remoteTimeout().toMillis()
              + " ms");
      System.out.println(
          "  answered "
              + answer.size()
              + " of "
              + KEYS
              + " keys in "
              + elapsedMillis
              + " ms"
              + (failure == null ? "" : "; getAll threw " + failure));
      System.out.println(
          "  loader calls: "
              + totalLoads
              + " for "
              + KEYS
              + " keys; per node:"
              + " node0="
              + loadsPerNode[0]
              + " node1="
              + loadsPerNode[1]
              + " node2="
              + loadsPerNode[2]);
      System.out.println(
          "  keys loaded more than once: " + loadedMoreThanOnce.size() + " " + loadedMoreThanOnce);
      System.out.println("  keys never loaded: " + neverLoaded.size());
      System.out.println("  peers marked down or suspected during the getAll: " + lapses.size());
      lapses.forEach(l -> System.out.println("    " + l));
      for (int i = 0; i < 3; i++) {
        ShardcacheNode node = cluster.node(i);
        System.out.println(
            "  after: node"
                + i
                + " reachable="
                + node.reachablePeers()
                + " suspected="
                + node.suspectedPeers());
      }

      String thrown = failure;
      Expectations expectations = new Expectations();
      expectations.expect(() -> assertThat(thrown).as("getAll threw").isNull());
      expectations.expect(
          () -> assertThat(wrongOrMissing).as("keys answered wrongly or not at all").isEmpty());
      expectations.expect(
          () ->
              assertThat(loadedMoreThanOnce)
                  .as("keys loaded more than once in the cluster (loader calls per key)")
                  .isEmpty());
      expectations.expect(() -> assertThat(neverLoaded).as("keys never loaded").isEmpty());
      expectations.expect(
          () ->
              assertThat(lapses)
                  .as("peers marked down or suspected during the getAll (sampled)")
                  .isEmpty());
      for (int i = 0; i < 3; i++) {
        ShardcacheNode node = cluster.node(i);
        String name = "node" + i;
        expectations.expect(
            () ->
                assertThat(node.reachablePeers())
                    .as("%s reachablePeers() after the getAll", name)
                    .isEqualTo(node.peers()));
        expectations.expect(
            () ->
                assertThat(node.suspectedPeers())
                    .as("%s suspectedPeers() after the getAll", name)
                    .isEmpty());
      }
      expectations.verify();
    } finally {
      caller.shutdownNow();
    }
  }
}
