package dev.shardcache;

import static dev.shardcache.TestClusters.internals;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.HybridLogicalClock;
import dev.shardcache.replication.Versioned;
import dev.shardcache.testing.TestCluster;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * What one anti-entropy round costs over a large shard: bytes exchanged and heap held, measured and
 * printed, and bounded.
 *
 * <p>Two nodes, replication factor 2, so every key is shared; both hold the same versions of every
 * entry (values of {@value #VALUE_CHARS} characters), put there through the serving side's {@code
 * serveReplicate}. After a warm-up round (a few differences, not measured: it loads classes and
 * opens the channels), node 0 runs one round with node 1 twice:
 *
 * <ol>
 *   <li><b>A handful of differences</b> ({@value #FEW} keys newer on node 1): the bytes exchanged
 *       must be a small fraction of the shard's encoded size, since only a few buckets differ.
 *   <li><b>Every bucket differs</b> ({@value #MANY} keys newer on node 1, spread over all buckets):
 *       both sides exchange nearly the whole shard, page by page. The heap held meanwhile must stay
 *       far below the shard's encoded size: the round never copies the shard.
 * </ol>
 *
 * <p>The heap held is sampled by a thread that forces a full collection and reads the heap in use,
 * again and again while the round runs; growth is the largest sample less the heap in use before
 * the round (after a collection too). Both nodes live in this JVM, so it covers the asking and the
 * answering side. A sample takes a collection and a pause of 400 ms, so a round shorter than that
 * (a few differences) is sampled once or twice; the round where every bucket differs, many times.
 * Bounds are generous: they separate a round that holds a few pages from one that holds the shard
 * (the defect: a Digest answer held every entry of every differing bucket, and the caller collected
 * its own before sending them), not one page size from another.
 *
 * <p>The default run uses {@value #SMALL} entries; the 200,000-entry run is tagged slow.
 */
class AntiEntropyFootprintTest {
  private static final String CACHE = "footprint";
  private static final int VALUE_CHARS = 100;
  private static final int SMALL = 20_000;
  private static final int LARGE = 200_000;
  private static final int FEW = 5;
  private static final int MANY = 5_000;
  private static final int MAX_BATCH_BYTES = 256 * 1024;

  private TestCluster cluster;

  @AfterEach
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void aRoundOverTwentyThousandEntriesHoldsAPageNotTheShard() throws InterruptedException {
    measure(SMALL);
  }

  @Test
  @Tag("slow")
  void aRoundOverTwoHundredThousandEntriesHoldsAPageNotTheShard() throws InterruptedException {
    measure(LARGE);
  }

  private void measure(int entries) throws InterruptedException {
    cluster =
        TestCluster.builder()
            .size(2)
            .nodeSettings(
                node ->
                    node.heartbeatInterval(Duration.ofMillis(200))
                        .antiEntropyInterval(Duration.ofHours(1))
                        .maxBatchBytes(MAX_BATCH_BYTES))
            .cache(
                CACHE,
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                    .replicationFactor(2)
                    // Far from full: Caffeine sizes its frequency sketch (4 MiB for 400,000) only
                    // once a cache is half full, which would show as heap the round did not take.
                    .maximumSize(4L * entries)
                    // The sampler's full collections stop the world: a slower round, not a dead
                    // peer.
                    .remoteTimeout(Duration.ofSeconds(60))
                    .build())
            .build();
    long timestamp = HybridLogicalClock.pack(System.currentTimeMillis(), 0);
    long shardBytes = 0;
    for (int from = 0; from < entries; from += 1_000) {
      CacheBatch.Builder batch = CacheBatch.newBuilder().setCache(CACHE);
      for (int k = from; k < Math.min(entries, from + 1_000); k++) {
        VersionedEntry entry = entry(k, timestamp, "v");
        shardBytes += HashOrderedPage.wireBytes(entry);
        batch.addEntries(entry);
      }
      internals(cluster, 0).serveReplicate(batch.build(), "test");
      internals(cluster, 1).serveReplicate(batch.build(), "test");
    }

    round(entries, FEW, timestamp + 1, "warm-up-"); // loads the classes, opens the channels
    Round few = round(entries, FEW, timestamp + 2, "few-");
    Round many = round(entries, MANY, timestamp + 3, "many-");

    report(entries, shardBytes, "a handful of differences", FEW, few);
    report(entries, shardBytes, "every bucket differs", MANY, many);
    assertThat(few.repaired()).as("newer keys node 0 got, a few differences").isEqualTo(FEW);
    assertThat(many.repaired()).as("newer keys node 0 got, every bucket differing").isEqualTo(MANY);
    assertThat(few.bytes()).as("bytes exchanged, a few differences").isLessThan(shardBytes / 20);
    assertThat(many.pages()).as("Digest pages, every bucket differing").isGreaterThan(1);
    long heapBound = Math.max(shardBytes / 2, 16L * MAX_BATCH_BYTES);
    assertThat(few.heapGrowth()).as("heap held, a few differences").isLessThan(heapBound);
    assertThat(many.heapGrowth()).as("heap held, every bucket differing").isLessThan(heapBound);
  }

  /** What one round cost. */
  private record Round(
      long bytes, long pages, long heapGrowth, long millis, long gcMillis, int repaired) {}

  /**
   * Makes {@code changed} keys, spread over the key space, newer on node 1, runs one round from
   * node 0 and checks node 0 got them.
   */
  private Round round(int entries, int changed, long timestamp, String tag)
      throws InterruptedException {
    CacheBatch.Builder newer = CacheBatch.newBuilder().setCache(CACHE);
    List<Integer> keys = new ArrayList<>();
    for (int i = 0; i < changed; i++) {
      int k = (int) ((long) i * entries / changed);
      keys.add(k);
      newer.addEntries(entry(k, timestamp, tag));
    }
    internals(cluster, 1).serveReplicate(newer.build(), "test");
    DefaultDistributedCache<String, String> asking = internals(cluster, 0);
    long bytesBefore = asking.antiEntropyBytes();
    long pagesBefore = asking.digestPageCount();

    HeapSampler heap = HeapSampler.start();
    long gcBefore = gcMillis();
    long started = System.nanoTime();
    asking.antiEntropyWith(cluster.node(1).address());
    long millis = (System.nanoTime() - started) / 1_000_000;
    long gc = gcMillis() - gcBefore;
    long growth = heap.stop();

    int repaired = 0;
    for (int k : keys) {
      Versioned<String> held = asking.peek(key(k));
      if (held != null && held.value() != null && held.value().startsWith(tag)) {
        repaired++;
      }
    }
    return new Round(
        asking.antiEntropyBytes() - bytesBefore,
        asking.digestPageCount() - pagesBefore,
        growth,
        millis,
        gc,
        repaired);
  }

  private static long gcMillis() {
    long total = 0;
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      total += Math.max(0, gc.getCollectionTime());
    }
    return total;
  }

  private static void report(int entries, long shardBytes, String what, int changed, Round round) {
    System.out.printf(
        "AntiEntropyFootprintTest: %,d entries (%,d bytes encoded), %s (%,d keys newer on the"
            + " peer), maxBatchBytes %,d: %,d bytes exchanged (%.2f%% of the shard) in %d Digest"
            + " pages, heap held +%,d bytes (%.2f%% of the shard), %,d ms (%,d ms of it in"
            + " collections, most of them the sampler's), %,d newer keys repaired%n",
        entries,
        shardBytes,
        what,
        changed,
        MAX_BATCH_BYTES,
        round.bytes(),
        100.0 * round.bytes() / shardBytes,
        round.pages(),
        round.heapGrowth(),
        100.0 * round.heapGrowth() / shardBytes,
        round.millis(),
        round.gcMillis(),
        round.repaired());
  }

  private static String key(int k) {
    return String.format("key-%07d", k);
  }

  private static VersionedEntry entry(int k, long timestamp, String tag) {
    StringBuilder value = new StringBuilder(VALUE_CHARS).append(tag).append(k).append(':');
    while (value.length() < VALUE_CHARS) {
      value.append('x');
    }
    return VersionedEntry.newBuilder()
        .setKey(ByteString.copyFromUtf8(key(k)))
        .setValue(ByteString.copyFromUtf8(value.toString()))
        .setTimestamp(timestamp)
        .setWriter(42)
        .build();
  }

  /**
   * Samples the heap in use after a forced full collection, on a thread of its own, until stopped:
   * what is <em>held</em>, not what was allocated and is already garbage.
   */
  private static final class HeapSampler {
    private static final MemoryMXBean MEMORY = ManagementFactory.getMemoryMXBean();

    private final long baseline;
    private final AtomicLong peak = new AtomicLong();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final Thread thread;

    private HeapSampler(long baseline) {
      this.baseline = baseline;
      this.peak.set(baseline);
      this.thread = new Thread(this::sample, "heap-sampler");
      thread.setDaemon(true);
    }

    static HeapSampler start() {
      HeapSampler sampler = new HeapSampler(heldNow());
      sampler.thread.start();
      return sampler;
    }

    /** Stops sampling; returns the largest heap held during the sampling, less the baseline. */
    long stop() throws InterruptedException {
      running.set(false);
      thread.join();
      return Math.max(0, peak.get() - baseline);
    }

    private void sample() {
      while (running.get()) {
        peak.accumulateAndGet(heldNow(), Math::max);
        try {
          Thread.sleep(400); // a full collection stops the world: leave the round time to run
        } catch (InterruptedException e) {
          return;
        }
      }
    }

    /** A full collection first: what is held, not what is garbage not yet collected. */
    private static long heldNow() {
      System.gc();
      return MEMORY.getHeapMemoryUsage().getUsed();
    }
  }
}
