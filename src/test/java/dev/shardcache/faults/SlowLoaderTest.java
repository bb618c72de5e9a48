package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A loader slower than the remote timeout is not a dead owner.
 *
 * <p>Three nodes with default settings (remote timeout 5 s) and a loader that takes 7 s. Nine
 * concurrent reads of one cold key, three through each node, must share the owner's single load:
 * one loader call in the whole cluster, the same value for all nine callers, and no node marking a
 * peer down, at any moment, because a load took long (the owner answered its heartbeats all along).
 *
 * <p>Defect: a caller's 5 s deadline expires while the owner is still loading, DEADLINE_EXCEEDED
 * marks the healthy owner unreachable, and each non-owner node then loads the key itself: three
 * loader calls and three different values.
 */
class SlowLoaderTest {
  private static final Duration LOAD_TIME = Duration.ofSeconds(7);
  private static final String CACHE = "slow";
  private static final String KEY = "cold-key";

  @Test
  void concurrentReadersOfAColdKeyWaitForTheOwnersSlowLoadInsteadOfMarkingItDown()
      throws Exception {
    AtomicInteger loaderCalls = new AtomicInteger();
    List<String> loads = Collections.synchronizedList(new ArrayList<>());
    ExecutorService readers = Executors.newFixedThreadPool(9);
    try (TestCluster cluster =
        TestCluster.builder()
            .size(3)
            .cache(
                CACHE,
                (i, built) -> {
                  String node = "node" + i;
                  return CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                      .loader(
                          key -> {
                            int call = loaderCalls.incrementAndGet();
                            loads.add(node + " (call " + call + ")");
                            Thread.sleep(LOAD_TIME.toMillis());
                            return key + " loaded by " + node + " in call " + call;
                          })
                      .build();
                })
            .build()) {
      List<DistributedCache<String, String>> caches = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        caches.add(cluster.cache(i));
      }
      int owner = cluster.indexOf(caches.get(0).ownerOf(KEY));

      List<String> answers = new ArrayList<>();
      long started = System.nanoTime();
      try (ReachabilityWatch watch = ReachabilityWatch.allPeersOf(cluster.nodes())) {
        CountDownLatch go = new CountDownLatch(1);
        List<Future<String>> reads = new ArrayList<>();
        for (int r = 0; r < 9; r++) {
          DistributedCache<String, String> via = caches.get(r % 3);
          reads.add(
              readers.submit(
                  () -> {
                    go.await();
                    return via.get(KEY);
                  }));
        }
        go.countDown();
        for (int r = 0; r < 9; r++) {
          String answer;
          try {
            answer = reads.get(r).get(25, TimeUnit.SECONDS);
          } catch (java.util.concurrent.ExecutionException e) {
            answer = "threw " + e.getCause();
          } catch (java.util.concurrent.TimeoutException e) {
            answer = "no answer within 25 s";
          }
          answers.add("via node" + (r % 3) + ": " + answer);
        }
        long elapsedMillis = (System.nanoTime() - started) / 1_000_000;
        Set<String> distinct = new LinkedHashSet<>();
        for (String answer : answers) {
          distinct.add(answer.substring(answer.indexOf(": ") + 2));
        }
        List<String> peerStateAfter = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
          ShardcacheNode node = cluster.node(i);
          peerStateAfter.add(
              "node"
                  + i
                  + " reachable="
                  + node.reachablePeers()
                  + " suspected="
                  + node.suspectedPeers()
                  + " of peers="
                  + node.peers());
        }
        List<ReachabilityWatch.Lapse> lapses = watch.lapses();

        System.out.println(
            "SlowLoaderTest: owner of '"
                + KEY
                + "' is node"
                + owner
                + "; loader takes "
                + LOAD_TIME.toMillis()
                + " ms; remote timeout "
                + caches.get(0).config().remoteTimeout().toMillis()
                + " ms");
        System.out.println("  loader calls in the cluster: " + loaderCalls.get() + " " + loads);
        System.out.println(
            "  distinct answers: "
                + distinct.size()
                + ", all nine answered in "
                + elapsedMillis
                + " ms");
        answers.forEach(a -> System.out.println("    " + a));
        System.out.println("  peers marked down or suspected during the reads: " + lapses.size());
        lapses.forEach(l -> System.out.println("    " + l));
        peerStateAfter.forEach(s -> System.out.println("  after: " + s));

        int calls = loaderCalls.get();
        Expectations expectations = new Expectations();
        expectations.expect(
            () ->
                assertThat(calls)
                    .as(
                        "loader calls in the cluster for one cold key read by nine callers %s",
                        loads)
                    .isEqualTo(1));
        expectations.expect(
            () ->
                assertThat(answers)
                    .as("every caller gets the owner's value")
                    .allSatisfy(
                        a -> assertThat(a).doesNotContain("threw").doesNotContain("no answer")));
        expectations.expect(
            () ->
                assertThat(distinct).as("distinct values answered to the nine callers").hasSize(1));
        expectations.expect(
            () ->
                assertThat(lapses)
                    .as("peers marked down or suspected while the owner was loading (sampled)")
                    .isEmpty());
        for (int i = 0; i < 3; i++) {
          ShardcacheNode node = cluster.node(i);
          String name = "node" + i;
          expectations.expect(
              () ->
                  assertThat(node.reachablePeers())
                      .as("%s reachablePeers() after the reads", name)
                      .isEqualTo(node.peers()));
          expectations.expect(
              () ->
                  assertThat(node.suspectedPeers())
                      .as("%s suspectedPeers() after the reads", name)
                      .isEmpty());
        }
        expectations.verify();
      }
    } finally {
      readers.shutdownNow();
    }
  }
}
