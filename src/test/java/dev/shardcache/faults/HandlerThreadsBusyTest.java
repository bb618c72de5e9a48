package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codec;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheException;
import dev.shardcache.testing.TestCluster;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A call that finds every handler thread of its member busy is refused at once with {@code
 * RESOURCE_EXHAUSTED} naming {@code handlerThreads}, and never runs on the network thread instead:
 * a {@code Get} hit on the same connection is still answered meanwhile.
 *
 * <p>Two members with {@code handlerThreads} {@value #HANDLER_THREADS}. Node 1's key codec blocks,
 * on a gate, while it decodes a key named {@code slow-*}: a peer's write of such a key holds a
 * handler thread of node 1 until the gate opens. Node 0 sends {@value #HANDLER_THREADS} such writes
 * to node 1 and waits until both are held; then, with the gate still shut:
 *
 * <ul>
 *   <li>a third write of a gated key fails with a {@link ShardcacheException} naming {@code
 *       handlerThreads}, before the gate opens;
 *   <li>a read of a key node 1 holds is answered.
 * </ul>
 *
 * Then the gate opens: the two held writes complete, the refused key is absent on its owner (the
 * refusal applied nothing), and writing it again succeeds. Run without and with a cluster secret:
 * with one, the refusal must carry the proof of the secret, or the caller would take the busy
 * member for an impostor and mark it down.
 *
 * <p>Defect: past the pool's bound the call ran on the calling thread (a caller-runs policy), which
 * is the event loop of the caller's connection: the third write blocked it on the gate, and the
 * read on that connection waited behind it.
 */
class HandlerThreadsBusyTest {
  private static final int HANDLER_THREADS = 2;
  private static final String CACHE = "gated";

  @ParameterizedTest(name = "cluster secret: {0}")
  @ValueSource(booleans = {false, true})
  void aCallPastTheHandlerThreadsIsRefusedAndReadsStillAnswer(boolean secret) throws Exception {
    GatedKeys gated = new GatedKeys();
    ExecutorService writers = Executors.newCachedThreadPool();
    try (TestCluster cluster =
        TestCluster.builder()
            .size(2)
            .nodeSettings(
                node -> {
                  node.handlerThreads(HANDLER_THREADS).antiEntropyInterval(Duration.ofHours(1));
                  return secret
                      ? node.clusterSecret(
                          "handler-threads-test-secret".getBytes(StandardCharsets.UTF_8))
                      : node;
                })
            .cache(
                CACHE,
                (i, node) ->
                    CacheConfig.builder(i == 1 ? gated : Codecs.utf8(), Codecs.utf8())
                        .replicationFactor(1)
                        // The held writes wait for the gate, not for a deadline.
                        .remoteTimeout(Duration.ofSeconds(60))
                        .build())
            .build()) {
      cluster.awaitSettled();
      DistributedCache<String, String> caller = cluster.cache(CACHE, 0);
      DistributedCache<String, String> owner = cluster.cache(CACHE, 1);
      String held = cluster.keyOwnedBy(1, "held-");
      owner.put(held, "v"); // on its owner: no call
      List<String> slow = keysOwnedByNode1(cluster, "slow-", HANDLER_THREADS + 1);

      List<Future<?>> holding = new ArrayList<>();
      for (int i = 0; i < HANDLER_THREADS; i++) {
        String key = slow.get(i);
        holding.add(writers.submit(() -> caller.put(key, "held")));
      }
      assertThat(gated.entered.tryAcquire(HANDLER_THREADS, 30, TimeUnit.SECONDS))
          .as("node 1's handler threads holding the gated writes")
          .isTrue();

      String refusedKey = slow.get(HANDLER_THREADS);
      long started = System.nanoTime();
      CompletableFuture<Void> extra =
          CompletableFuture.runAsync(() -> caller.put(refusedKey, "refused"), writers);
      Throwable refusal = null;
      try {
        extra.get(20, TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        refusal = e.getCause();
      }
      long refusedMillis = (System.nanoTime() - started) / 1_000_000;
      started = System.nanoTime();
      String read = caller.get(held);
      long readMillis = (System.nanoTime() - started) / 1_000_000;
      boolean stillReachable = cluster.node(0).reachablePeers().contains(cluster.node(1).address());
      boolean gateStillShut = gated.open.getCount() == 1;
      gated.open.countDown();
      for (Future<?> write : holding) {
        write.get(30, TimeUnit.SECONDS);
      }

      System.out.printf(
          "HandlerThreadsBusyTest (cluster secret: %s): handlerThreads %d, %d writes held on node"
              + " 1: a further write refused in %d ms (%s); a Get hit on the same connection"
              + " answered in %d ms; node 1 still reachable: %s%n",
          secret,
          HANDLER_THREADS,
          HANDLER_THREADS,
          refusedMillis,
          refusal,
          readMillis,
          stillReachable);
      assertThat(gateStillShut).as("the gate was shut while the write was refused").isTrue();
      assertThat(refusal)
          .isInstanceOf(ShardcacheException.class)
          .hasMessageContaining("handlerThreads")
          .hasMessageContaining("busy");
      assertThat(read).isEqualTo("v");
      assertThat(stillReachable)
          .as("a refusal proves the secret: the refused caller does not take node 1 for down")
          .isTrue();
      for (int i = 0; i < HANDLER_THREADS; i++) {
        assertThat(owner.getIfPresent(slow.get(i))).isEqualTo("held");
      }
      assertThat(owner.getIfPresent(refusedKey)).as("the refused write").isNull();
      caller.put(refusedKey, "again");
      assertThat(owner.getIfPresent(refusedKey)).isEqualTo("again");
    } finally {
      gated.open.countDown();
      writers.shutdownNow();
    }
  }

  private static List<String> keysOwnedByNode1(TestCluster cluster, String prefix, int count) {
    String owner = cluster.node(1).address();
    List<String> keys = new ArrayList<>();
    for (int n = 0; keys.size() < count; n++) {
      String key = prefix + n;
      if (cluster.cache(CACHE, 0).ownerOf(key).equals(owner)) {
        keys.add(key);
      }
    }
    return keys;
  }

  /** UTF-8 keys; decoding a {@code slow-*} key waits for the gate, once per key. */
  private static final class GatedKeys implements Codec<String> {
    final CountDownLatch open = new CountDownLatch(1);
    final Semaphore entered = new Semaphore(0);

    @Override
    public byte[] encode(String value) {
      return Codecs.utf8().encode(value);
    }

    @Override
    public String decode(byte[] bytes) {
      String key = Codecs.utf8().decode(bytes);
      if (key.startsWith("slow-") && open.getCount() > 0) {
        entered.release();
        try {
          open.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return key;
    }
  }
}
