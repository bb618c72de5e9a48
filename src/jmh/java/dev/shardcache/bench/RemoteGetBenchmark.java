package dev.shardcache.bench;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.shardcache.CacheConfig;
import dev.shardcache.CacheStats;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A read served by another node, {@link DistributedCache#get} through node A of a key owned and
 * held by node B (one gRPC call over loopback per read), against the same read made on B itself (a
 * local hit), in one run.
 *
 * <p>Two nodes run in the benchmark JVM on 127.0.0.1 with ports picked by the OS, each listing the
 * other as its peer. The cache has UTF-8 String keys, {@code byte[]} values of 1 KiB, no loader and
 * no near cache, so every read through A is a real call to B. The {@value #KEY_COUNT} keys are all
 * owned by B (checked with {@link DistributedCache#ownerOf} on both nodes) and written to B before
 * measuring. A read that returns no value fails the benchmark, and the trial fails if any remote
 * call failed or was served by a fallback.
 *
 * <p>Each comparison is measured two ways:
 *
 * <ul>
 *   <li>{@code remoteGet} vs {@code ownedGet}: throughput, in ops/s over all threads;
 *   <li>{@code remoteGetLatency} vs {@code ownedGetLatency}: sampled latency in ns, with the
 *       percentiles p50, p90, p99, p99.9 and p99.99.
 * </ul>
 *
 * The modes are fixed per method so that throughput reads in ops/s and latency in ns; do not pass
 * {@code -bm} (it would run every method in every mode). Run once per thread count:
 *
 * <pre>{@code
 * mvn -B -Pjmh test-compile exec:exec -Djmh.args="RemoteGetBenchmark -f 1 -wi 2 -i 3 -w 2s -r 3s -t 1"
 * mvn -B -Pjmh test-compile exec:exec -Djmh.args="RemoteGetBenchmark -f 1 -wi 2 -i 3 -w 2s -r 3s -t 16"
 * }</pre>
 *
 * Each run takes about a minute and a half. At 16 threads every thread starts at its own offset in
 * the key table, so concurrent readers seldom ask for the same key at once (A coalesces concurrent
 * reads of one key into one call, which would flatter the remote numbers). On a small machine the
 * benchmark threads share the cores with both nodes' gRPC event loops, so 16-thread numbers show
 * contention as much as the cost of a call.
 */
@State(Scope.Benchmark)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(1)
public class RemoteGetBenchmark {

  /** Held so its level sticks: node start and stop messages would interleave with JMH's output. */
  private static final Logger SHARDCACHE_LOGGER = Logger.getLogger("dev.shardcache");

  static final int KEY_COUNT = 1 << 12; // a power of two, for masking
  private static final int MASK = KEY_COUNT - 1;
  private static final int VALUE_BYTES = 1024;

  /**
   * Whether the nodes share a cluster secret, so every call carries a signed, single-use token (see
   * the README's Security section): {@code -p clusterSecret=true} measures what that costs.
   */
  @Param({"false"})
  public boolean clusterSecret;

  private ShardcacheNode nodeA;
  private ShardcacheNode nodeB;
  private DistributedCache<String, byte[]> cacheA;
  private DistributedCache<String, byte[]> cacheB;
  private CacheStats startA = CacheStats.empty();
  String[] keys;

  /** Starts both nodes, joins them and writes the keys owned by B to B. */
  @Setup(Level.Trial)
  public void setUp() throws IOException {
    SHARDCACHE_LOGGER.setLevel(java.util.logging.Level.WARNING);
    // Hot keys off: every read is to be a remote call, and B would otherwise mark the keys it
    // happens to count most and A would answer those from a near copy (1 to 1.5% of the reads).
    CacheConfig<String, byte[]> config =
        CacheConfig.builder(Codecs.utf8(), Codecs.bytes())
            .maximumSize(4L * KEY_COUNT)
            .hotKeys(false)
            .build();
    nodeA = node();
    nodeB = node();
    cacheA = nodeA.cache("bench", config);
    cacheB = nodeB.cache("bench", config);
    nodeA.start();
    nodeB.start();
    nodeA.setPeers(List.of(nodeB.address()));
    nodeB.setPeers(List.of(nodeA.address()));
    if (cacheA.config().nearCacheEnabled()) {
      throw new IllegalStateException("the near cache must be off: " + cacheA.config());
    }

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
      for (int j = 0; j < VALUE_BYTES; j++) {
        value[j] = (byte) (i * 31 + j);
      }
      cacheB.put(keys[i], value);
    }
    // One read of each key through A proves the remote path works before it is measured.
    for (String key : keys) {
      byte[] value = cacheA.get(key);
      if (value == null || value.length != VALUE_BYTES) {
        throw new IllegalStateException(
            "bad setup: remote read of "
                + key
                + " gave "
                + (value == null ? "null" : value.length + " bytes"));
      }
    }
    CacheStats a = cacheA.stats();
    if (cacheA.localSize() != 0
        || cacheB.localSize() != KEY_COUNT
        || a.remoteCallCount() != KEY_COUNT
        || a.remoteFailureCount() != 0
        || a.fallbackLoadCount() != 0) {
      throw new IllegalStateException(
          "bad setup: A "
              + a
              + " size "
              + cacheA.localSize()
              + "; B "
              + cacheB.stats()
              + " size "
              + cacheB.localSize());
    }
    startA = a;
  }

  private ShardcacheNode node() {
    ShardcacheNode.Builder node = ShardcacheNode.builder().listen("127.0.0.1", 0);
    if (clusterSecret) {
      node.clusterSecret("remote-get-benchmark-secret-0123456789".getBytes(UTF_8));
    }
    return node.build();
  }

  /** Fails the trial if any read through A did not reach B; closes both nodes. */
  @TearDown(Level.Trial)
  public void tearDown() {
    try {
      CacheStats a = cacheA.stats().minus(startA);
      if (a.remoteFailureCount() != 0 || a.fallbackLoadCount() != 0 || a.nearHitCount() != 0) {
        throw new IllegalStateException("remote reads did not all reach B: " + a);
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

  private static byte[] check(byte @org.jspecify.annotations.Nullable [] value, String key) {
    if (value == null) {
      throw new IllegalStateException("no value for " + key);
    }
    return value;
  }

  /** Through A: one gRPC call to B per read. */
  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  public byte[] remoteGet(Cursor cursor) {
    String key = keys[cursor.nextIndex()];
    return check(cacheA.get(key), key);
  }

  /**
   * A read of the key at {@code index} (modulo the key count) through A; for {@link RemoteGetCost}.
   */
  byte[] remoteGet(int index) {
    String key = keys[index & MASK];
    return check(cacheA.get(key), key);
  }

  /** Through B, the owner: a local hit. The baseline of {@link #remoteGet}. */
  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  public byte[] ownedGet(Cursor cursor) {
    String key = keys[cursor.nextIndex()];
    return check(cacheB.get(key), key);
  }

  /** {@link #remoteGet}, sampled for latency percentiles. */
  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.NANOSECONDS)
  public byte[] remoteGetLatency(Cursor cursor) {
    String key = keys[cursor.nextIndex()];
    return check(cacheA.get(key), key);
  }

  /** {@link #ownedGet}, sampled for latency percentiles. */
  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.NANOSECONDS)
  public byte[] ownedGetLatency(Cursor cursor) {
    String key = keys[cursor.nextIndex()];
    return check(cacheB.get(key), key);
  }
}
