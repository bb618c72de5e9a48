package dev.shardcache.bench;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.logging.Logger;

/**
 * The heap a cached entry costs: a Shardcache node's shard holding {@code entries} keys with 1 KiB
 * {@code byte[]} values, against a raw Caffeine cache holding the same keys and values, measured
 * alternately in one JVM.
 *
 * <p><b>Goal (issue 9):</b> a Shardcache entry costs at most 1.3x a raw Caffeine entry.
 *
 * <pre>{@code
 * mvn -B -Pjmh test-compile exec:exec -Djmh.main=dev.shardcache.bench.EntryFootprint \
 *     -Djmh.args="100000 3"     # entries, rounds (each round measures both, in turn)
 * }</pre>
 *
 * <p>Each measurement builds the structure empty (for Shardcache: a started node with no peers,
 * which therefore owns and holds every key, and its cache, with the defaults a user gets), forces
 * full collections until the used heap stops falling, fills it with {@code entries} fresh keys
 * ({@code "key:" + i}) and fresh 1 KiB arrays, collects again, and divides the growth of the used
 * heap by the entry count. Only the structure keeps the keys and arrays, so what is counted is what
 * the structure holds: the values, the keys (for Shardcache in its encoded form), and each
 * structure's per-entry bookkeeping (Caffeine's node; for Shardcache also the entry's version and
 * holder record). Both caches are bounded at twice the entry count, so nothing is evicted; the
 * Shardcache node is closed and collected before the next measurement. The arrays' own 1,040 bytes
 * (1,024 of data and the array header) are in both figures; the overhead column is what is left.
 */
public final class EntryFootprint {
  private static final Logger SHARDCACHE_LOGGER = Logger.getLogger("dev.shardcache");
  private static final int VALUE_BYTES = 1024;
  private static final MemoryMXBean MEMORY = ManagementFactory.getMemoryMXBean();

  private EntryFootprint() {}

  /** Runs the measurement; arguments: entries, rounds. */
  public static void main(String[] args) throws Exception {
    SHARDCACHE_LOGGER.setLevel(java.util.logging.Level.WARNING);
    int entries = args.length > 0 ? Integer.parseInt(args[0]) : 100_000;
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    // A throw-away round of each warms the code paths and lets the JVM size its heap.
    caffeineBytesPerEntry(entries / 10);
    shardcacheBytesPerEntry(entries / 10);
    List<double[]> results = new ArrayList<>();
    for (int round = 1; round <= rounds; round++) {
      // Alternate which goes first, so heap drift over the run does not favour one.
      double caffeine;
      double shardcache;
      if (round % 2 == 1) {
        caffeine = caffeineBytesPerEntry(entries);
        shardcache = shardcacheBytesPerEntry(entries);
      } else {
        shardcache = shardcacheBytesPerEntry(entries);
        caffeine = caffeineBytesPerEntry(entries);
      }
      results.add(new double[] {caffeine, shardcache, shardcache / caffeine});
      System.out.printf(
          "round %d: caffeine %.0f B/entry, shardcache %.0f B/entry, ratio %.3f%n",
          round, caffeine, shardcache, shardcache / caffeine);
    }
    double[] caffeine = column(results, 0);
    double[] shardcache = column(results, 1);
    double[] ratio = column(results, 2);
    System.out.printf(
        "%d entries of %d-byte values, %d rounds (median [min - max]):%n"
            + "  caffeine   %.0f [%.0f - %.0f] B/entry, overhead beyond the array %.0f B%n"
            + "  shardcache %.0f [%.0f - %.0f] B/entry, overhead beyond the array %.0f B%n"
            + "  ratio      %.3f [%.3f - %.3f] (goal: at most 1.3)%n",
        entries,
        VALUE_BYTES,
        rounds,
        median(caffeine),
        caffeine[0],
        caffeine[caffeine.length - 1],
        median(caffeine) - arrayBytes(),
        median(shardcache),
        shardcache[0],
        shardcache[shardcache.length - 1],
        median(shardcache) - arrayBytes(),
        median(ratio),
        ratio[0],
        ratio[ratio.length - 1]);
  }

  private static double caffeineBytesPerEntry(int entries) throws InterruptedException {
    Cache<String, byte[]> cache = Caffeine.newBuilder().maximumSize(2L * entries).build();
    long before = settledHeap();
    for (int i = 0; i < entries; i++) {
      cache.put("key:" + i, new byte[VALUE_BYTES]);
    }
    cache.cleanUp();
    long after = settledHeap();
    if (cache.estimatedSize() != entries) {
      throw new IllegalStateException("caffeine holds " + cache.estimatedSize());
    }
    return (double) (after - before) / entries;
  }

  private static double shardcacheBytesPerEntry(int entries) throws Exception {
    ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    try {
      DistributedCache<String, byte[]> cache =
          node.cache(
              "footprint",
              CacheConfig.builder(Codecs.utf8(), Codecs.bytes()).maximumSize(2L * entries).build());
      node.start();
      long before = settledHeap();
      for (int i = 0; i < entries; i++) {
        cache.put("key:" + i, new byte[VALUE_BYTES]);
      }
      long after = settledHeap();
      if (cache.localSize() != entries) {
        throw new IllegalStateException("the shard holds " + cache.localSize());
      }
      return (double) (after - before) / entries;
    } finally {
      node.close();
    }
  }

  /** The used heap once full collections stop freeing anything. */
  private static long settledHeap() throws InterruptedException {
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 10; i++) {
      System.gc();
      Thread.sleep(100);
      long now = MEMORY.getHeapMemoryUsage().getUsed();
      if (now >= used - 4096 && i >= 2) {
        return Math.min(now, used);
      }
      used = Math.min(used, now);
    }
    return used;
  }

  /**
   * A 1 KiB array's size on the heap: the data and a 16-byte header (compressed class pointers).
   */
  private static long arrayBytes() {
    return VALUE_BYTES + 16;
  }

  private static double[] column(List<double[]> rows, int index) {
    double[] values = rows.stream().mapToDouble(row -> row[index]).toArray();
    Arrays.sort(values);
    return values;
  }

  private static double median(double[] sorted) {
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
}
