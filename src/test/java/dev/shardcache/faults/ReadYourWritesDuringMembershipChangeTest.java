package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.PeerUnavailableException;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.ring.HashRing;
import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Read-your-writes through one node holds while members join and leave.
 *
 * <p>Three nodes hold a cache (no loader, replication factor 1) of {@value #KEYS} keys with values
 * of about 1 KiB. Then, while a fourth member joins (scale-out) or one of four leaves (scale-in),
 * one writer thread per node that stays loops over its share of the keys whose owner changes, doing
 * {@code put(k, v)} then {@code get(k)} through the same node, with a new {@code v} each time. The
 * new member list reaches the nodes one after another, 250 ms apart, as from a discovery service
 * (the leaving node is closed once the others have it). Every {@code get} after a {@code put} that
 * returned normally must return that {@code v}. (A put may fail with {@link
 * PeerUnavailableException} during the change; it is counted apart and not read back.)
 *
 * <p>Defect: a node answers a key from its local shard without checking that it still holds the key
 * under its current ring. After a join, the member that lost a key keeps its old copy until its
 * rebalancing pass has handed it off and dropped it: a get through it answers the old value
 * although the put just went to the new owner. A node that is sent a write of a key it does not
 * hold under its ring (the sender's ring differs) applies it without keeping it, then answers the
 * sender's get of that key from its shard: the old value, or nothing.
 *
 * <p>Defect (scale-in): a leaving node stopped serving before it handed its entries off. A member
 * that already routed around it and missed a moved key asked it for a copy in that gap and found
 * nothing, so a get right after an acknowledged put (which the leaving node had applied for a peer
 * that had not yet heard of the change) answered nothing. A leaving node now takes itself out of
 * its own ring and hands off while it still serves, then stops serving and hands off once more.
 *
 * <p>Defect (scale-out, rare): the new owner missed a key, asked its previous holder for a copy,
 * and the previous holder handed the key off and dropped it while the question was on its way; the
 * answer "none" was taken as final although the entry was by then in the asker's own shard (see
 * {@code HandOffDuringCopyFetchTest}). And a node published its new ring before the ring's epoch,
 * so a read right after a write on the same thread could still answer an old local copy.
 */
class ReadYourWritesDuringMembershipChangeTest {
  private static final String CACHE = "ryw";
  private static final int KEYS = 3_000;
  private static final int VALUE_CHARS = 1_024;
  private static final Duration WRITING_BEFORE_CHANGE = Duration.ofMillis(500);
  private static final Duration WRITING_AFTER_CHANGE = Duration.ofMillis(2_500);

  /**
   * The pause between telling one node of the new members and telling the next: a discovery service
   * reaches nodes at different times, so their rings disagree for a while.
   */
  private static final Duration BETWEEN_NODES = Duration.ofMillis(250);

  private TestCluster cluster;
  private ExecutorService threads;

  @AfterEach
  void stop() {
    if (threads != null) {
      threads.shutdownNow();
    }
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void aNodeReadsBackItsOwnWriteWhileAFourthMemberJoins() throws Exception {
    List<DistributedCache<String, String>> caches = start(3);
    List<String> keys = preload(caches);

    ShardcacheNode joining = cluster.node(cluster.add()); // started with the cache, not joined
    List<String> members = addresses(cluster.nodes());
    HashRing before = cluster.node(0).ring();
    HashRing after = HashRing.of(members);
    List<String> moving = movingKeys(keys, before, after);

    Writers writers = Writers.start(threads, caches, moving);
    Thread.sleep(WRITING_BEFORE_CHANGE.toMillis());
    long changeAt = writers.elapsedMillis();
    joining.setPeers(members);
    writers.mark("node3 told the 4 members");
    for (int i = 0; i < 3; i++) {
      pause(BETWEEN_NODES);
      cluster.node(i).setPeers(members);
      writers.mark("node" + i + " told the 4 members");
    }
    long changedAt = writers.elapsedMillis();
    Thread.sleep(WRITING_AFTER_CHANGE.toMillis());
    writers.stop();

    writers.report(
        "scale-out 3 -> 4 (node3 joins)", moving.size(), changeAt, changedAt, cluster.nodes());
    writers.assertReadYourWrites();
  }

  @Test
  void aNodeReadsBackItsOwnWriteWhileAMemberLeaves() throws Exception {
    List<DistributedCache<String, String>> caches = start(4);
    List<String> keys = preload(caches);

    ShardcacheNode leaving = cluster.node(3);
    List<String> remaining = addresses(cluster.nodes().subList(0, 3));
    HashRing before = cluster.node(0).ring();
    HashRing after = HashRing.of(remaining);
    List<String> moving = movingKeys(keys, before, after);

    Writers writers = Writers.start(threads, caches.subList(0, 3), moving);
    Thread.sleep(WRITING_BEFORE_CHANGE.toMillis());
    long changeAt = writers.elapsedMillis();
    for (int i = 0; i < 3; i++) {
      if (i > 0) {
        pause(BETWEEN_NODES);
      }
      cluster.node(i).setPeers(remaining);
      writers.mark("node" + i + " told the 3 remaining members");
    }
    leaving.close();
    writers.mark("node3 closed");
    long changedAt = writers.elapsedMillis();
    Thread.sleep(WRITING_AFTER_CHANGE.toMillis());
    writers.stop();

    writers.report(
        "scale-in 4 -> 3 (node3 leaves)",
        moving.size(),
        changeAt,
        changedAt,
        cluster.nodes().subList(0, 3));
    writers.assertReadYourWrites();
  }

  // ---------------------------------------------------------------- the cluster

  /** Starts {@code size} joined nodes with the cache; returns their caches. */
  private List<DistributedCache<String, String>> start(int size) {
    threads = Executors.newCachedThreadPool();
    cluster =
        TestCluster.builder()
            .size(size)
            .cache(CACHE, CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build())
            .build();
    List<DistributedCache<String, String>> caches = new ArrayList<>();
    for (int i = 0; i < size; i++) {
      caches.add(cluster.cache(i));
    }
    return caches;
  }

  /** Writes every key once, through the nodes in turn, and returns the keys. */
  private List<String> preload(List<DistributedCache<String, String>> caches) throws Exception {
    List<String> keys = new ArrayList<>();
    for (int k = 0; k < KEYS; k++) {
      keys.add("key:" + k);
    }
    List<Future<?>> loads = new ArrayList<>();
    for (int n = 0; n < caches.size(); n++) {
      int node = n;
      loads.add(
          threads.submit(
              () -> {
                for (int k = node; k < KEYS; k += caches.size()) {
                  caches.get(node).put(keys.get(k), value(keys.get(k), "initial"));
                }
              }));
    }
    for (Future<?> load : loads) {
      load.get(60, TimeUnit.SECONDS);
    }
    return keys;
  }

  private static List<String> addresses(List<ShardcacheNode> nodes) {
    List<String> addresses = new ArrayList<>();
    for (ShardcacheNode node : nodes) {
      addresses.add(node.address());
    }
    return addresses;
  }

  /** The keys whose owner differs between the two rings. */
  private static List<String> movingKeys(List<String> keys, HashRing before, HashRing after) {
    List<String> moving = new ArrayList<>();
    for (String key : keys) {
      byte[] bytes = Codecs.utf8().encode(key);
      if (!before.ownerOf(bytes).equals(after.ownerOf(bytes))) {
        moving.add(key);
      }
    }
    return moving;
  }

  private static void pause(Duration duration) throws InterruptedException {
    if (!duration.isZero()) {
      Thread.sleep(duration.toMillis());
    }
  }

  /** A value of about 1 KiB that starts with "key|tag|". */
  static String value(String key, String tag) {
    StringBuilder value =
        new StringBuilder(VALUE_CHARS).append(key).append('|').append(tag).append('|');
    while (value.length() < VALUE_CHARS) {
      value.append('x');
    }
    return value.toString();
  }

  /** The "tag" of a value written by {@link #value}, or "null". */
  static String tagOf(String value) {
    if (value == null) {
      return "null";
    }
    int first = value.indexOf('|');
    int second = value.indexOf('|', first + 1);
    return first < 0 || second < 0 ? "unknown value" : value.substring(first + 1, second);
  }

  // ---------------------------------------------------------------- the writers

  /** One thread per cache (node), each looping put-then-get over its share of the keys. */
  static final class Writers {
    private final AtomicBoolean stopped = new AtomicBoolean();
    private final long startNanos = System.nanoTime();
    private final List<Future<?>> running = new ArrayList<>();
    private final List<DistributedCache<String, String>> caches;
    private final AtomicLong[] readBacks;
    private final AtomicLong[] stale;
    private final AtomicLong staleNull = new AtomicLong();
    private final AtomicLong[] unavailablePuts;
    private final AtomicLong[] failedPuts;
    private final AtomicLong[] failedReads;
    private final List<String> samples = Collections.synchronizedList(new ArrayList<>());
    private final List<Long> staleAt = Collections.synchronizedList(new ArrayList<>());
    private final List<String> events = Collections.synchronizedList(new ArrayList<>());

    private Writers(List<DistributedCache<String, String>> caches) {
      this.caches = caches;
      int n = caches.size();
      readBacks = counters(n);
      stale = counters(n);
      unavailablePuts = counters(n);
      failedPuts = counters(n);
      failedReads = counters(n);
    }

    private static AtomicLong[] counters(int n) {
      AtomicLong[] counters = new AtomicLong[n];
      for (int i = 0; i < n; i++) {
        counters[i] = new AtomicLong();
      }
      return counters;
    }

    static Writers start(
        ExecutorService threads, List<DistributedCache<String, String>> caches, List<String> keys) {
      Writers writers = new Writers(caches);
      for (int w = 0; w < caches.size(); w++) {
        List<String> mine = new ArrayList<>();
        for (int k = w; k < keys.size(); k += caches.size()) {
          mine.add(keys.get(k));
        }
        int writer = w;
        writers.running.add(threads.submit(() -> writers.loop(writer, mine)));
      }
      return writers;
    }

    long elapsedMillis() {
      return (System.nanoTime() - startNanos) / 1_000_000;
    }

    /** Notes a step of the membership change, for the report. */
    void mark(String event) {
      events.add("t=" + elapsedMillis() + " ms " + event);
    }

    private void loop(int w, List<String> keys) {
      DistributedCache<String, String> cache = caches.get(w);
      long seq = 0;
      while (!stopped.get()) {
        for (String key : keys) {
          if (stopped.get()) {
            return;
          }
          String written = value(key, "node" + w + "#" + (++seq));
          try {
            cache.put(key, written);
          } catch (PeerUnavailableException e) {
            unavailablePuts[w].incrementAndGet();
            continue;
          } catch (RuntimeException e) {
            failedPuts[w].incrementAndGet();
            sample("put of " + key + " via node" + w + " threw " + e);
            continue;
          }
          String read;
          try {
            read = cache.get(key);
          } catch (RuntimeException e) {
            failedReads[w].incrementAndGet();
            sample("get of " + key + " via node" + w + " threw " + e);
            continue;
          }
          readBacks[w].incrementAndGet();
          if (!written.equals(read)) {
            stale[w].incrementAndGet();
            if (read == null) {
              staleNull.incrementAndGet();
            }
            staleAt.add(elapsedMillis());
            sample(
                "t="
                    + elapsedMillis()
                    + " ms: "
                    + key
                    + " via node"
                    + w
                    + ": wrote "
                    + tagOf(written)
                    + ", read "
                    + tagOf(read));
          }
        }
      }
    }

    private void sample(String text) {
      if (samples.size() < 20) {
        samples.add(text);
      }
    }

    void stop() throws Exception {
      stopped.set(true);
      for (Future<?> writer : running) {
        writer.get(30, TimeUnit.SECONDS);
      }
    }

    private static long sum(AtomicLong[] counters) {
      long total = 0;
      for (AtomicLong counter : counters) {
        total += counter.get();
      }
      return total;
    }

    void report(
        String change, int movingKeys, long changeAt, long changedAt, List<ShardcacheNode> nodes) {
      System.out.println(
          "ReadYourWritesDuringMembershipChangeTest, "
              + change
              + ": "
              + KEYS
              + " keys of ~"
              + VALUE_CHARS
              + " B, "
              + movingKeys
              + " change owner; "
              + caches.size()
              + " writers; change from t="
              + changeAt
              + " ms to t="
              + changedAt
              + " ms, writing until t="
              + elapsedMillis()
              + " ms");
      System.out.println(
          "  put+get pairs read back: "
              + sum(readBacks)
              + ", stale reads: "
              + sum(stale)
              + " ("
              + (sum(stale) - staleNull.get())
              + " an older value, "
              + staleNull
              + " nothing), puts refused (PeerUnavailableException): "
              + sum(unavailablePuts)
              + ", other put failures: "
              + sum(failedPuts)
              + ", failed reads: "
              + sum(failedReads));
      System.out.println("  " + events);
      for (int w = 0; w < caches.size(); w++) {
        System.out.println(
            "  writer via node"
                + w
                + ": read back "
                + readBacks[w]
                + ", stale "
                + stale[w]
                + ", puts refused "
                + unavailablePuts[w]
                + ", put failures "
                + failedPuts[w]
                + ", read failures "
                + failedReads[w]);
      }
      synchronized (staleAt) {
        if (!staleAt.isEmpty()) {
          System.out.println(
              "  stale reads seen from t="
                  + Collections.min(staleAt)
                  + " ms to t="
                  + Collections.max(staleAt)
                  + " ms");
        }
      }
      samples.forEach(s -> System.out.println("    " + s));
      for (int i = 0; i < nodes.size(); i++) {
        ShardcacheNode node = nodes.get(i);
        if (node.isRunning()) {
          System.out.println(
              "  node"
                  + i
                  + ": handed off "
                  + node.handedOffEntries()
                  + " entries, reachable="
                  + node.reachablePeers().size()
                  + " of "
                  + node.peers().size()
                  + " peers");
        }
      }
    }

    void assertReadYourWrites() {
      Expectations expectations = new Expectations();
      expectations.expect(
          () ->
              assertThat(sum(stale))
                  .as(
                      "reads through a node that did not return the value just written through it,"
                          + " out of %s (first ones: %s)",
                      sum(readBacks), samples)
                  .isZero());
      expectations.expect(() -> assertThat(sum(failedReads)).as("reads that threw").isZero());
      expectations.expect(
          () ->
              assertThat(sum(failedPuts))
                  .as("puts that threw other than PeerUnavailableException")
                  .isZero());
      for (int w = 0; w < caches.size(); w++) {
        long pairs = readBacks[w].get();
        String writer = "node" + w;
        // Not a performance bound: only that each writer was running across the change.
        expectations.expect(
            () ->
                assertThat(pairs)
                    .as("put+get pairs read back via %s", writer)
                    .isGreaterThanOrEqualTo(50));
      }
      expectations.verify();
    }
  }
}
