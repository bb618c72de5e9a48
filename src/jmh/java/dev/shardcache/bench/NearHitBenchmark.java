package dev.shardcache.bench;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.shardcache.CacheConfig;
import dev.shardcache.CacheStats;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost of a near-cache hit, {@link DistributedCache#get} through node A of a key owned by node
 * B whose value A keeps in its near cache, against a raw Caffeine {@link Cache#getIfPresent} of the
 * same data, in one run.
 *
 * <p><b>Goal (issue 9):</b> {@code nearCacheHit} costs at most 1.2x {@code caffeineGetIfPresent}. A
 * near hit does what an owned hit does (encode the key, hash it, find its owner in the ring) and
 * then reads the near cache instead of the shard, with its TTL checked by Caffeine's fixed expiry.
 *
 * <pre>{@code
 * mvn -B -Pjmh test-compile exec:exec -Djmh.args="NearHitBenchmark -f 1 -wi 3 -i 5 -w 2s -r 2s"
 * }</pre>
 *
 * <p>Setup: two nodes on 127.0.0.1, each the other's peer; a cache with String keys, 1 KiB {@code
 * byte[]} values and a near cache of twice the key count with a TTL of an hour (longer than any
 * run, so no value expires while measured). The {@value #KEY_COUNT} keys are all owned by B,
 * written to B, then read once through A, which fills A's near cache. The raw Caffeine cache holds
 * the same keys and arrays with the same bound. Each thread walks a precomputed key table with a
 * masked counter, starting at its own offset. The trial fails if any measured read through A made a
 * remote call, so every read counted is a near hit.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class NearHitBenchmark {

  /** Held so its level sticks: node start and stop messages would interleave with JMH's output. */
  private static final Logger SHARDCACHE_LOGGER = Logger.getLogger("dev.shardcache");

  static final int KEY_COUNT = 1 << 12; // a power of two, for masking
  private static final int VALUE_BYTES = 1024;

  private ShardcacheNode nodeA;
  private ShardcacheNode nodeB;
  private DistributedCache<String, byte[]> cacheA;
  private Cache<String, byte[]> caffeine;
  private Cache<String, byte[]> caffeineExpiring;
  private CacheStats afterWarmUp = CacheStats.empty();
  String[] keys;

  /** Starts both nodes, writes the keys to their owner B and reads each once through A. */
  @Setup(Level.Trial)
  public void setUp() throws Exception {
    SHARDCACHE_LOGGER.setLevel(java.util.logging.Level.WARNING);
    CacheConfig<String, byte[]> config =
        CacheConfig.builder(Codecs.utf8(), Codecs.bytes())
            .maximumSize(4L * KEY_COUNT)
            .nearCache(2L * KEY_COUNT, Duration.ofHours(1))
            .build();
    nodeA = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    nodeB = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    cacheA = nodeA.cache("bench", config);
    DistributedCache<String, byte[]> cacheB = nodeB.cache("bench", config);
    nodeA.start();
    nodeB.start();
    nodeA.setPeers(List.of(nodeB.address()));
    nodeB.setPeers(List.of(nodeA.address()));
    caffeine = Caffeine.newBuilder().maximumSize(2L * KEY_COUNT).build();
    caffeineExpiring =
        Caffeine.newBuilder()
            .maximumSize(2L * KEY_COUNT)
            .expireAfterWrite(Duration.ofHours(1))
            .build();

    String ownerB = nodeB.address();
    keys = new String[KEY_COUNT];
    int found = 0;
    for (long id = 0; found < KEY_COUNT; id++) {
      if (id > 100L * KEY_COUNT) {
        throw new IllegalStateException("B owns too few keys; is the ring unbalanced?");
      }
      String key = "user:" + id;
      if (ownerB.equals(cacheB.ownerOf(key)) && ownerB.equals(cacheA.ownerOf(key))) {
        keys[found++] = key;
      }
    }
    for (int i = 0; i < KEY_COUNT; i++) {
      byte[] value = new byte[VALUE_BYTES];
      value[0] = (byte) i;
      cacheB.put(keys[i], value);
      caffeine.put(keys[i], value);
      caffeineExpiring.put(keys[i], value);
    }
    caffeine.cleanUp();
    caffeineExpiring.cleanUp();
    // The puts' invalidations reach A's near cache asynchronously; read until every key is a near
    // hit, so none of the measured reads is a call.
    for (int round = 0; ; round++) {
      CacheStats before = cacheA.stats();
      for (String key : keys) {
        check(cacheA.get(key), key);
      }
      if (cacheA.stats().minus(before).remoteCallCount() == 0) {
        break;
      }
      if (round == 50) {
        throw new IllegalStateException("the near cache never held every key: " + cacheA.stats());
      }
      Thread.sleep(100);
    }
    afterWarmUp = cacheA.stats();
  }

  /** Fails the trial if any read through A was not a near hit; closes both nodes. */
  @TearDown(Level.Trial)
  public void tearDown() {
    try {
      CacheStats measured = cacheA.stats().minus(afterWarmUp);
      // The trial of the Caffeine baseline reads nothing through A; the near hits' trial must have
      // made no call.
      if (measured.remoteCallCount() != 0) {
        throw new IllegalStateException("reads through A were not all near hits: " + measured);
      }
    } finally {
      nodeA.close();
      nodeB.close();
    }
  }

  /** A thread's position in this benchmark's key table. */
  @State(Scope.Thread)
  public static class Cursor extends KeyCursor {
    @Override
    protected int keyCount() {
      return KEY_COUNT;
    }
  }

  private static byte[] check(byte @Nullable [] value, String key) {
    if (value == null) {
      throw new IllegalStateException("no value for " + key);
    }
    return value;
  }

  /** A read through A of a key B owns and A holds in its near cache. */
  @Benchmark
  public byte[] nearCacheHit(Cursor cursor) {
    String key = keys[cursor.nextIndex()];
    return check(cacheA.get(key), key);
  }

  /** The baseline: raw Caffeine with the same keys, arrays and bound. */
  @Benchmark
  public byte[] caffeineGetIfPresent(Cursor cursor) {
    String key = keys[cursor.nextIndex()];
    return check(caffeine.getIfPresent(key), key);
  }

  /**
   * A second baseline: raw Caffeine with the near cache's expiry policy ({@code expireAfterWrite}),
   * whose reads also read the clock; what a single JVM pays for a local cache with a TTL.
   */
  @Benchmark
  public byte[] caffeineExpiringGetIfPresent(Cursor cursor) {
    String key = keys[cursor.nextIndex()];
    return check(caffeineExpiring.getIfPresent(key), key);
  }
}
