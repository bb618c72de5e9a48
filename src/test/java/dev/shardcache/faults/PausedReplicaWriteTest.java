package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.PeerUnavailableException;
import dev.shardcache.ShardcacheException;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.ring.KeyHash;
import dev.shardcache.testing.TcpProxy;
import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.core.ConditionTimeoutException;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A paused replica does not make a healthy owner look dead, nor an applied write look unapplied.
 *
 * <p>Three nodes, replication factor 2. Node B is reached by its peers only through a {@link
 * TcpProxy}, which {@linkplain TcpProxy#stall() stalls} it: connections stay open, bytes are held,
 * nothing is refused, as with a process in a long GC pause. A key is owned by node A with B as its
 * other holder, and written through the third node C while B is paused. B stays paused until the
 * write has returned (at least {@value #MIN_PAUSE_MILLIS} ms), then resumes.
 *
 * <p>Expected: the write returns normally (A applied it; B gets it once it resumes), or throws an
 * exception whose class is named {@code OutcomeUnknownException} (a {@link ShardcacheException});
 * it never throws {@link PeerUnavailableException}, which says the write was not applied. C never
 * marks A down: A stays in {@code C.reachablePeers()} throughout (sampled continuously). Once B
 * resumes, a read through C returns the written value.
 *
 * <p>Defect: A waits for B's acknowledgement as long as C waits for A (the remote timeout, 5 s), so
 * C's deadline expires first; C marks the healthy A unreachable and reports the write as "not
 * applied", though A applied it.
 */
class PausedReplicaWriteTest {
  private static final String CACHE = "kv";
  private static final long MIN_PAUSE_MILLIS = 3_000;
  private static final long WRITE_WAIT_SECONDS = 20;
  private static final int A = 0;
  private static final int B = 1; // behind the proxy
  private static final int C = 2;

  private TestCluster cluster;
  private final List<DistributedCache<String, String>> caches = new ArrayList<>();
  private ExecutorService pool;

  @BeforeEach
  void startCluster() {
    pool = Executors.newSingleThreadExecutor();
    cluster =
        TestCluster.builder()
            .size(3)
            .behindProxy(B)
            .cache(
                CACHE,
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).replicationFactor(2).build())
            .build();
    for (int i = 0; i < 3; i++) {
      caches.add(cluster.cache(i));
    }
    // Open every connection the write will use while all is well: C -> A, and A -> B via the proxy.
    caches.get(C).put(keyHeldByAThenB("warm-up:"), "warm");
  }

  @AfterEach
  void stopCluster() {
    if (pool != null) {
      pool.shutdownNow();
    }
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void aPutThroughAThirdNodeWhileTheReplicaIsPausedIsNotReportedUnappliedNorTheOwnerDown()
      throws Exception {
    String key = keyHeldByAThenB("put:");
    String value = "written while the replica was paused";
    Outcome outcome =
        writeWhileBIsPaused(
            key,
            () -> {
              caches.get(C).put(key, value);
              return "returned normally";
            });
    String readBack = readBackThroughC(key, value);
    report("put(" + key + ")", outcome, readBack);
    check(outcome, readBack, value, null);
  }

  @Test
  void aCompareAndSetThroughAThirdNodeWhileTheReplicaIsPausedIsNotReportedUnappliedNorTheOwnerDown()
      throws Exception {
    String key = keyHeldByAThenB("cas:");
    caches.get(C).put(key, "before");
    Outcome outcome =
        writeWhileBIsPaused(
            key, () -> "returned " + caches.get(C).compareAndSet(key, "before", "after"));
    String readBack = readBackThroughC(key, "after");
    report("compareAndSet(" + key + ", before, after)", outcome, readBack);
    check(outcome, readBack, "after", "returned true");
  }

  // ---------------------------------------------------------------- helpers

  /** What a write through C did while B was paused, and what C thought of A meanwhile. */
  private record Outcome(
      @Nullable String result,
      @Nullable Throwable thrown,
      long millis,
      long pausedMillis,
      List<ReachabilityWatch.Lapse> lapses,
      String cViewAfterWrite) {}

  private Outcome writeWhileBIsPaused(String key, Callable<String> write) throws Exception {
    ShardcacheNode c = cluster.node(C);
    String a = cluster.node(A).address();
    TcpProxy proxyOfB = cluster.proxy(B);
    try (ReachabilityWatch watch = ReachabilityWatch.peerOf(c, a, cluster.nodes())) {
      long started = System.nanoTime();
      proxyOfB.stall();
      Future<String> running = pool.submit(write);
      String result = null;
      Throwable thrown = null;
      try {
        result = running.get(WRITE_WAIT_SECONDS, TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        thrown = e.getCause();
      } catch (TimeoutException e) {
        result = "still running after " + WRITE_WAIT_SECONDS + " s";
        running.cancel(true);
      }
      long millis = (System.nanoTime() - started) / 1_000_000;
      String cView = "reachable=" + c.reachablePeers() + " suspected=" + c.suspectedPeers();
      long remaining = MIN_PAUSE_MILLIS - millis;
      if (remaining > 0) {
        Thread.sleep(remaining);
      }
      proxyOfB.heal();
      long pausedMillis = (System.nanoTime() - started) / 1_000_000;
      return new Outcome(result, thrown, millis, pausedMillis, watch.lapses(), cView);
    }
  }

  /** Reads the key through C until it answers {@code expected} (up to 10 s); the last answer. */
  private @Nullable String readBackThroughC(String key, String expected) {
    AtomicReference<String> last = new AtomicReference<>("(not read)");
    try {
      await()
          .atMost(Duration.ofSeconds(10))
          .pollInterval(Duration.ofMillis(50))
          .until(
              () -> {
                String read;
                try {
                  read = caches.get(C).get(key);
                } catch (RuntimeException e) {
                  read = "threw " + e;
                }
                last.set(read);
                return expected.equals(read);
              });
    } catch (ConditionTimeoutException e) {
      // reported by the caller with the last answer
    }
    return last.get();
  }

  private void report(String what, Outcome outcome, @Nullable String readBack) {
    System.out.println(
        "PausedReplicaWriteTest: "
            + what
            + " through node"
            + C
            + " ("
            + cluster.node(C).address()
            + "), owner node"
            + A
            + " ("
            + cluster.node(A).address()
            + "), paused replica node"
            + B
            + " ("
            + cluster.node(B).address()
            + "), remote timeout "
            + caches.get(C).config().remoteTimeout().toMillis()
            + " ms");
    System.out.println(
        "  outcome after "
            + outcome.millis()
            + " ms: "
            + (outcome.thrown() == null
                ? outcome.result()
                : "threw "
                    + outcome.thrown().getClass().getSimpleName()
                    + ": "
                    + outcome.thrown().getMessage()));
    System.out.println(
        "  node" + C + "'s view right after the write: " + outcome.cViewAfterWrite());
    System.out.println("  replica paused for " + outcome.pausedMillis() + " ms");
    System.out.println(
        "  times node"
            + C
            + " did not count the owner reachable: "
            + outcome.lapses().size()
            + " "
            + outcome.lapses());
    System.out.println("  read back through node" + C + " after the pause: " + readBack);
  }

  private static void check(
      Outcome outcome, @Nullable String readBack, String written, @Nullable String expectedResult) {
    Expectations expectations = new Expectations();
    Throwable thrown = outcome.thrown();
    if (thrown == null) {
      String expected = expectedResult != null ? expectedResult : "returned normally";
      expectations.expect(
          () -> assertThat(outcome.result()).as("result of the write").isEqualTo(expected));
    } else {
      String description =
          "the write may only fail with OutcomeUnknownException (the owner applied"
              + " it; PeerUnavailableException says it was not applied), but threw "
              + thrown;
      expectations.expect(
          () ->
              assertThat(thrown)
                  .as("%s", description)
                  .isNotInstanceOf(PeerUnavailableException.class));
      expectations.expect(
          () ->
              assertThat(thrown)
                  .as("%s", description)
                  .isInstanceOf(ShardcacheException.class)
                  .extracting(t -> t.getClass().getSimpleName())
                  .isEqualTo("OutcomeUnknownException"));
    }
    expectations.expect(
        () ->
            assertThat(outcome.lapses())
                .as("times the writing node did not count the healthy owner as reachable (sampled)")
                .isEmpty());
    expectations.expect(
        () ->
            assertThat(readBack)
                .as("value read back through the writing node after the pause")
                .isEqualTo(written));
    expectations.verify();
  }

  /** A key whose holders, on every node's ring, are A then B. */
  private String keyHeldByAThenB(String prefix) {
    List<String> wanted = List.of(cluster.node(A).address(), cluster.node(B).address());
    for (int i = 0; ; i++) {
      String key = prefix + i;
      long hash = KeyHash.hash(Codecs.utf8().encode(key));
      if (cluster.node(C).ring().ownersOf(hash, 2).equals(wanted)
          && cluster.node(A).ring().ownersOf(hash, 2).equals(wanted)) {
        return key;
      }
    }
  }
}
