package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shardcache.testing.TestCluster;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Refresh-ahead ({@code refreshAfterWrite}) on three real nodes over loopback, replication factor
 * 2, a near cache on every node, and one loader shared by all three (the "source"), so its calls
 * are counted for the whole cluster.
 *
 * <p>Each key has an owner, a replica, and an <em>outsider</em> (the node that holds no copy and
 * reads through the owner or its near cache). Values are written with {@code put}, so every loader
 * call is a refresh. Time is the real clock (the shard's lifetimes have no clock to inject): each
 * test waits {@link #REFRESH} plus a margin for a value to become due. The counts do not depend on
 * the machine's speed: while a reload runs the source blocks on a gate the test opens, so no second
 * due period can start during a burst of reads, and a reload started by a stall between two steps
 * would be the next period's one.
 */
class RefreshAheadClusterTest {
  private static final String CACHE = "refreshing";
  private static final Duration REFRESH = Duration.ofMillis(800);
  private static final Duration WAIT = Duration.ofSeconds(15);

  /**
   * The data source behind every node's loader: answers {@code key#n} for its n-th call, can hold
   * its callers on a gate and can fail. Records the threads it ran on. Thread-safe.
   */
  static final class Source implements CacheLoader<String, String> {
    final AtomicInteger calls = new AtomicInteger();
    final List<String> threads = new CopyOnWriteArrayList<>();
    volatile @Nullable CountDownLatch gate;
    volatile CountDownLatch entered = new CountDownLatch(1);
    volatile boolean failing;

    @Override
    public String load(String key) throws Exception {
      int call = calls.incrementAndGet();
      threads.add(Thread.currentThread().getName());
      entered.countDown();
      CountDownLatch closed = gate;
      if (closed != null && !closed.await(30, TimeUnit.SECONDS)) {
        throw new IllegalStateException("the test never opened the gate");
      }
      if (failing) {
        throw new IOException("the source is down");
      }
      return key + "#" + call;
    }

    /** Makes the next callers wait until {@link #open()}. */
    void close() {
      entered = new CountDownLatch(1);
      gate = new CountDownLatch(1);
    }

    void open() {
      CountDownLatch closed = gate;
      gate = null;
      if (closed != null) {
        closed.countDown();
      }
    }

    void awaitEntered() throws InterruptedException {
      assertThat(entered.await(WAIT.toSeconds(), TimeUnit.SECONDS))
          .as("a read of a due value calls the source")
          .isTrue();
    }
  }

  /** The roles of the nodes for one key. */
  record Roles(int owner, int replica, int outsider) {}

  private final Source source = new Source();
  private final ExecutorService readers = Executors.newFixedThreadPool(12);
  private TestCluster cluster;

  @BeforeEach
  void startCluster() {
    // Default heartbeats (a peer is suspected after about 2 s of silence), so that a loaded machine
    // does not split the cluster; anti-entropy only copies what replication already did.
    cluster =
        TestCluster.builder()
            .size(3)
            .nodeSettings(node -> node.antiEntropyInterval(Duration.ofHours(1)))
            .cache(
                CACHE,
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                    .loader(source)
                    .replicationFactor(2)
                    .refreshAfterWrite(REFRESH)
                    .nearCache(100, Duration.ofMinutes(1))
                    .build())
            .build();
    cluster.awaitSettled();
  }

  @AfterEach
  void stopCluster() {
    source.open();
    readers.shutdownNow();
    cluster.close();
  }

  private DistributedCache<String, String> cache(int i) {
    return cluster.cache(i);
  }

  private DefaultDistributedCache<String, String> internals(int i) {
    return (DefaultDistributedCache<String, String>) cluster.cache(i);
  }

  /** The value node {@code i} holds for {@code key} in its shard, without reading it. */
  private @Nullable String held(int i, String key) {
    var entry = internals(i).peek(key);
    return entry == null ? null : entry.value();
  }

  /** Writes {@code value} through the key's owner and tells who holds it. */
  private Roles put(String key, String value) {
    int owner = cluster.indexOf(cache(0).ownerOf(key));
    cache(owner).put(key, value);
    int[] replica = {-1};
    await()
        .atMost(WAIT)
        .until(
            () -> {
              for (int i = 0; i < 3; i++) {
                if (i != owner && value.equals(held(i, key))) {
                  replica[0] = i;
                }
              }
              return replica[0] >= 0;
            });
    return new Roles(owner, replica[0], 3 - owner - replica[0]);
  }

  /**
   * Reads {@code key} through node {@code i} until a read is answered by its near cache: the
   * near-cache invalidations of earlier writes (queued, and delivered every few milliseconds) have
   * landed, and the value is kept there.
   */
  private String readIntoNearCache(int i, String key) {
    cluster.awaitQuiescence();
    String[] value = new String[1];
    await()
        .atMost(WAIT)
        .until(
            () -> {
              long before = internals(i).stats().nearHitCount();
              value[0] = cache(i).get(key);
              return internals(i).stats().nearHitCount() == before + 1;
            });
    return value[0];
  }

  private static void waitUntilDue() throws InterruptedException {
    Thread.sleep(REFRESH.toMillis() + 150);
  }

  /** Reads {@code key} through every node from {@code perNode} threads each, all at once. */
  private List<String> burst(String key, int perNode) throws Exception {
    CountDownLatch go = new CountDownLatch(1);
    List<Future<String>> reads = new ArrayList<>();
    for (int r = 0; r < 3 * perNode; r++) {
      DistributedCache<String, String> via = cache(r % 3);
      reads.add(
          readers.submit(
              () -> {
                go.await();
                return via.get(key);
              }));
    }
    go.countDown();
    List<String> answers = new ArrayList<>();
    for (Future<String> read : reads) {
      answers.add(read.get(WAIT.toSeconds(), TimeUnit.SECONDS));
    }
    return answers;
  }

  private long sum(java.util.function.ToLongFunction<CacheCounters> counter) {
    long sum = 0;
    for (int i = 0; i < 3; i++) {
      sum += counter.applyAsLong(internals(i).counters());
    }
    return sum;
  }

  @Test
  void concurrentReadsOfADueKeyOnEveryNodeLoadItOnceAndEveryHolderGetsTheNewValue()
      throws Exception {
    String key = "hot";
    Roles roles = put(key, "v0");
    assertThat(readIntoNearCache(roles.outsider(), key)).isEqualTo("v0");
    String current = "v0";
    for (int period = 1; period <= 2; period++) {
      waitUntilDue();
      source.close();
      List<String> answers = burst(key, 4);
      assertThat(answers)
          .as(
              "period %s: every reader is answered the current value while the reload waits",
              period)
          .containsOnly(current);
      source.awaitEntered();
      assertThat(burst(key, 4)).as("more readers during the reload").containsOnly(current);
      assertThat(source.calls.get()).as("period %s: loader calls so far", period).isEqualTo(period);

      source.open();
      String next = key + "#" + period;
      await()
          .atMost(WAIT)
          .untilAsserted(
              () -> {
                assertThat(held(roles.owner(), key)).as("owner").isEqualTo(next);
                assertThat(held(roles.replica(), key)).as("replica").isEqualTo(next);
              });
      assertThat(source.calls.get())
          .as("period %s: one loader call for the cluster", period)
          .isEqualTo(period);
      source.close(); // from here a stall that made the value due would only block a reload
      for (int i = 0; i < 3; i++) {
        int via = i;
        // The outsider's near cache drops the old value when the owner's invalidation lands.
        await()
            .atMost(WAIT)
            .untilAsserted(
                () ->
                    assertThat(cache(via).get(key))
                        .as("read through node %s", via)
                        .isEqualTo(next));
      }
      current = next;
    }
    assertThat(sum(c -> c.refreshes.sum())).as("reloads stored").isEqualTo(2);
    assertThat(source.threads).allSatisfy(t -> assertThat(t).startsWith("shardcache-load-"));
  }

  /**
   * A {@code getAll} is a read like {@code get}: a due value it answers from the owner's shard is
   * answered and reloaded once (one {@code load}), and a due value in an outsider's near cache,
   * kept there by its {@code getAll}, makes the outsider ask the owner with a {@code Refresh}.
   */
  @Test
  void aGetAllOfADueValueRefreshesItAsAGetWouldFromTheShardOrANearCache() throws Exception {
    String key = "batched";
    Roles roles = put(key, "v0");
    waitUntilDue();
    assertThat(cache(roles.owner()).getAll(List.of(key)))
        .as("the owner's getAll, from its shard")
        .containsExactly(Map.entry(key, "v0"));
    await().atMost(WAIT).until(() -> key.concat("#1").equals(held(roles.owner(), key)));
    assertThat(source.calls.get()).as("one load for the due value").isEqualTo(1);

    // The outsider holds no copy: only a near-cache hit of its own getAll sends a Refresh. Reads go
    // on until one finds the near-cached value due, however long the machine stalls between them.
    long sent = internals(roles.outsider()).counters().refreshCalls.sum();
    await()
        .atMost(WAIT)
        .until(
            () -> {
              assertThat(cache(roles.outsider()).getAll(List.of(key))).containsKey(key);
              return internals(roles.outsider()).counters().refreshCalls.sum() > sent;
            });
  }

  @Test
  void aReadOnTheReplicaOrAnOutsidersNearCacheAsksTheOwnerToRefresh() throws Exception {
    String key = "quiet";
    Roles roles = put(key, "v0");
    waitUntilDue();
    assertThat(cache(roles.replica()).get(key)).as("the replica's own copy").isEqualTo("v0");
    await().atMost(WAIT).until(() -> key.concat("#1").equals(held(roles.replica(), key)));
    assertThat(internals(roles.replica()).counters().refreshCalls.sum())
        .as("refresh calls the replica sent")
        .isEqualTo(1);
    assertThat(internals(roles.owner()).counters().refreshes.sum())
        .as("reloads on the owner")
        .isEqualTo(1);

    // The outsider's part. On a stalled machine the owner's value can fall due while the outsider
    // reads it into its near cache; the owner then refreshes it on the outsider's own Get and the
    // new value's invalidation empties the near cache. Such an attempt proves nothing about near
    // hits and is made again, from whichever value the owner holds by then.
    for (int attempt = 1; ; attempt++) {
      String inNear = readIntoNearCache(roles.outsider(), key);
      long nearHits = internals(roles.outsider()).stats().nearHitCount();
      long refreshCalls = internals(roles.outsider()).counters().refreshCalls.sum();
      int loads = source.calls.get();
      waitUntilDue();
      String read = cache(roles.outsider()).get(key);
      if (!inNear.equals(read) && attempt < 3) {
        continue;
      }
      assertThat(read).as("a near-cache hit").isEqualTo(inNear);
      assertThat(internals(roles.outsider()).stats().nearHitCount()).isEqualTo(nearHits + 1);
      String next = key + "#" + (generation(inNear) + 1);
      await().atMost(WAIT).until(() -> next.equals(held(roles.owner(), key)));
      assertThat(internals(roles.outsider()).counters().refreshCalls.sum())
          .as("refresh calls the outsider sent from its near cache")
          .isEqualTo(refreshCalls + 1);
      await()
          .atMost(WAIT)
          .untilAsserted(() -> assertThat(cache(roles.outsider()).get(key)).isEqualTo(next));
      assertThat(source.calls.get()).as("one reload for the near hit").isEqualTo(loads + 1);
      return;
    }
  }

  /** The n of a loaded value {@code key#n}. */
  private static int generation(String value) {
    return Integer.parseInt(value.substring(value.lastIndexOf('#') + 1));
  }

  @Test
  void aFailedRefreshKeepsTheOldValueLogsOnceAndALaterReadRetries() throws Exception {
    List<LogRecord> warnings = new CopyOnWriteArrayList<>();
    Logger logger = Logger.getLogger(Refreshes.class.getName());
    Handler handler =
        new Handler() {
          @Override
          public void publish(LogRecord record) {
            if (record.getLevel().intValue() >= Level.WARNING.intValue()
                && String.valueOf(record.getMessage()).contains("'" + CACHE + "'")) {
              warnings.add(record);
            }
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    logger.addHandler(handler);
    try {
      String key = "flaky";
      Roles roles = put(key, "v0");
      waitUntilDue();
      source.failing = true;
      await()
          .atMost(WAIT)
          .pollInterval(Duration.ofMillis(20))
          .untilAsserted(
              () -> {
                for (int i = 0; i < 3; i++) {
                  assertThat(cache(i).get(key)).as("through node %s", i).isEqualTo("v0");
                }
                assertThat(internals(roles.owner()).counters().refreshFailures.sum())
                    .as("failed reloads on the owner, tried again by later reads")
                    .isGreaterThanOrEqualTo(3);
              });
      assertThat(held(roles.owner(), key)).isEqualTo("v0");
      assertThat(held(roles.replica(), key)).isEqualTo("v0");
      assertThat(warnings).as("failures logged, at most once every 10 s").hasSize(1);
      assertThat(warnings.get(0).getMessage()).contains("'flaky'", "the old value is kept");

      source.failing = false;
      await()
          .atMost(WAIT)
          .pollInterval(Duration.ofMillis(20))
          .until(() -> !"v0".equals(cache(roles.replica()).get(key)));
      assertThat(held(roles.owner(), key)).startsWith(key + "#");
    } finally {
      logger.removeHandler(handler);
    }
  }

  @Test
  void aWriteMadeWhileTheReloadRunsWinsOverIt() throws Exception {
    // Once through the replica (versioned by its clock, sent to the owner before it returns), once
    // through the owner itself (which is reloading).
    for (String writer : List.of("replica", "owner")) {
      String key = "raced-through-" + writer;
      Roles roles = put(key, "v0");
      int before = source.calls.get();
      long dropped = internals(roles.owner()).counters().refreshesDropped.sum();
      waitUntilDue();
      source.close();
      assertThat(cache(roles.owner()).get(key)).isEqualTo("v0");
      source.awaitEntered();

      cache(writer.equals("owner") ? roles.owner() : roles.replica()).put(key, "written");
      source.open();
      await()
          .atMost(WAIT)
          .until(() -> internals(roles.owner()).counters().refreshesDropped.sum() == dropped + 1);

      assertThat(source.calls.get()).as("one reload, not stored").isEqualTo(before + 1);
      assertThat(held(roles.owner(), key))
          .as("owner, written through the " + writer)
          .isEqualTo("written");
      assertThat(held(roles.replica(), key)).as("replica").isEqualTo("written");
      for (int i = 0; i < 3; i++) {
        int via = i;
        await()
            .atMost(WAIT)
            .untilAsserted(
                () ->
                    assertThat(cache(via).get(key))
                        .as("read through node %s", via)
                        .isEqualTo("written"));
      }
    }
  }
}
