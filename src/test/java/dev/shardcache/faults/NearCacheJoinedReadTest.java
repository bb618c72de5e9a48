package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.CacheConfig;
import dev.shardcache.CacheLoader;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A read that starts after a write through node A has returned must not answer the value from
 * before that write, and the near cache of A must not keep it: not by joining a remote read (or an
 * owner's load) that started before the write, and not by storing that read's late answer in the
 * near cache after the write cleared it.
 *
 * <p>Two nodes, replication factor 1, a near cache (1 minute) on A; the key is owned by B, whose
 * loader blocks on its first call (answering "v1") and answers "v2", "v3"... at once afterwards.
 */
class NearCacheJoinedReadTest {
  private static final String CACHE = "kv";

  private TestCluster cluster;
  private DistributedCache<String, String> a;
  private GatedLoader ownerLoader;
  private final AtomicInteger loadsOnA = new AtomicInteger();
  private String key;

  @BeforeEach
  void startNodes() {
    ownerLoader = new GatedLoader();
    CacheLoader<String, String> loaderOnA = k -> "loaded-on-A-" + loadsOnA.incrementAndGet();
    CacheConfig<String, String> onA =
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
            .loader(loaderOnA)
            .remoteTimeout(Duration.ofSeconds(20))
            .nearCache(1_000, Duration.ofMinutes(1))
            .build();
    CacheConfig<String, String> onB =
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).loader(ownerLoader).build();
    cluster = TestCluster.builder().size(2).cache(CACHE, (i, node) -> i == 0 ? onA : onB).build();
    a = cluster.cache(0);
    DistributedCache<String, String> b = cluster.cache(1);
    String bAddress = cluster.node(1).address();
    key =
        IntStream.range(0, 10_000)
            .mapToObj(i -> "joined-" + i)
            .filter(k -> a.ownerOf(k).equals(bAddress) && b.ownerOf(k).equals(bAddress))
            .findFirst()
            .orElseThrow();
  }

  @AfterEach
  void stopNodes() {
    if (ownerLoader != null) {
      ownerLoader.release();
    }
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void aReadAfterAnInvalidateDoesNotAnswerTheValueLoadedBeforeIt() throws Exception {
    Outcome outcome = race(cache -> cache.invalidate(key));

    System.out.printf(
        "invalidate(k) through A during B's slow load: T1 (started before) = %s,"
            + " T2 (started after) = %s, A.get(k) afterwards = %s; B's loader calls = %d, A's = %d%n",
        outcome.first, outcome.second, outcome.after, ownerLoader.calls(), loadsOnA.get());
    SoftAssertions.assertSoftly(
        soft -> {
          soft.assertThat(outcome.second)
              .as(
                  "T2: A.get(k) started after invalidate(k) returned, while T1's read was in flight")
              .isNotEqualTo("v1");
          soft.assertThat(outcome.after)
              .as("A.get(k) once both reads finished (A's near cache)")
              .isNotEqualTo("v1");
        });
  }

  @Test
  void aReadAfterAPutAnswersThePutValue() throws Exception {
    Outcome outcome = race(cache -> cache.put(key, "new"));

    System.out.printf(
        "put(k, \"new\") through A during B's slow load: T1 (started before) = %s,"
            + " T2 (started after) = %s, A.get(k) afterwards = %s; B's loader calls = %d, A's = %d%n",
        outcome.first, outcome.second, outcome.after, ownerLoader.calls(), loadsOnA.get());
    SoftAssertions.assertSoftly(
        soft -> {
          soft.assertThat(outcome.second)
              .as(
                  "T2: A.get(k) started after put(k, \"new\") returned, while T1's read was in flight")
              .isEqualTo("new");
          soft.assertThat(outcome.after)
              .as("A.get(k) once both reads finished (A's near cache)")
              .isEqualTo("new");
        });
  }

  private record Outcome(String first, String second, String after) {}

  /**
   * T1 reads k through A, B starts its slow load; {@code write} runs through A and returns; T2
   * reads k through A while T1 is in flight; then B's load is released.
   */
  private Outcome race(Consumer<DistributedCache<String, String>> write) throws Exception {
    Started<String> first = Started.onNewThread("T1", () -> a.get(key));
    ownerLoader.awaitEntered();
    write.accept(a);
    Started<String> second = Started.onNewThread("T2", () -> a.get(key));
    second.awaitDoneOrParked();
    assertThat(first.future().isDone()).as("T1 is still in flight when T2 starts").isFalse();
    ownerLoader.release();
    String firstAnswer = first.outcome();
    String secondAnswer = second.outcome();
    String after = a.get(key);
    return new Outcome(firstAnswer, secondAnswer, after);
  }
}
