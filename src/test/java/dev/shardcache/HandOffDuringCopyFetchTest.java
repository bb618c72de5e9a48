package dev.shardcache;

import static dev.shardcache.TestClusters.internals;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shardcache.ring.HashRing;
import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A new holder that misses a key and asks its previous holder for a copy finds the key even when
 * the previous holder handed it off, and dropped it, while the question was on its way.
 *
 * <p>Node A holds a key alone (replication factor 1, no loader). Node B joins and, under its ring,
 * now owns the key; A has not heard of B yet. Calls to A pass a {@link
 * dev.shardcache.testing.TcpProxy}, stalled, so B's {@code Fetch} for the key waits there. Then A
 * hears of B: it hands the key to B (its own calls do not pass its proxy), B acknowledges, and A
 * drops its copy. The proxy heals, and A answers the fetch: nothing.
 *
 * <p>Defect (seen as a rare empty read in {@code ReadYourWritesDuringMembershipChangeTest} while a
 * fourth member joined): B answered that nothing, although the handed-off entry had been in its own
 * shard since before A dropped it. The miss was checked before the fetch and not after.
 */
class HandOffDuringCopyFetchTest {
  private static final String CACHE = "kv";
  private static final int A = 0;

  private TestCluster cluster;
  private final ExecutorService reader = Executors.newSingleThreadExecutor();

  @AfterEach
  void stop() {
    reader.shutdownNow();
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void aCopyHandedOffWhileItWasFetchedIsAnswered() throws Exception {
    cluster =
        TestCluster.builder()
            .size(1)
            .behindProxy(A)
            .nodeSettings(node -> node.antiEntropyInterval(Duration.ofHours(1)))
            .cache(CACHE, CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build())
            .build();
    int b = cluster.add(); // started with the cache, not joined
    List<String> members = List.of(cluster.node(A).address(), cluster.node(b).address());
    String key = keyOwnedBy(HashRing.of(members), cluster.node(b).address());
    cluster.cache(A).put(key, "written through A");

    cluster.node(b).setPeers(members);
    long fetchesBefore = internals(cluster, b).fetchCallCount();
    cluster.proxy(A).stall();
    Future<String> read = reader.submit(() -> cluster.cache(b).get(key));
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> internals(cluster, b).fetchCallCount() > fetchesBefore);

    cluster.node(A).setPeers(members); // A hands the key to B and drops it
    await()
        .atMost(Duration.ofSeconds(10))
        .until(
            () ->
                internals(cluster, A).peek(key) == null && internals(cluster, b).peek(key) != null);
    cluster.proxy(A).heal();

    assertThat(read.get(10, TimeUnit.SECONDS))
        .as("B's read of a key handed to it while it asked A for a copy")
        .isEqualTo("written through A");
  }

  private static String keyOwnedBy(HashRing ring, String member) {
    for (int i = 0; ; i++) {
      String key = "key:" + i;
      if (ring.ownerOf(Codecs.utf8().encode(key)).equals(member)) {
        return key;
      }
    }
  }
}
