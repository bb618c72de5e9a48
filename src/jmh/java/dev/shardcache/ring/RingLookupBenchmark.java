package dev.shardcache.ring;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * Cost of a ring lookup on the request path: hashing a key with {@link KeyHash} and finding its
 * owner in a {@link HashRing}, and the replica list of {@link HashRing#ownersOf(long, int)}.
 *
 * <p>Run with the GC profiler, which shows {@code gc.alloc.rate.norm} per operation: it must be
 * {@code ~0 B/op} for {@code keyHash}, {@code ownerOfBytes} and {@code ownerOfHash}.
 *
 * <pre>{@code
 * mvn -B -Pjmh test-compile exec:exec -Djmh.args="RingLookupBenchmark -prof gc"
 * }</pre>
 *
 * <p>Keys cycle through a pre-built table larger than a few cache lines but small enough to stay in
 * L2, so the numbers are those of a warm ring, as on a busy node.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RingLookupBenchmark {

  private static final int KEY_COUNT = 4096; // a power of two, for masking
  private static final int MASK = KEY_COUNT - 1;

  /** Cluster size. */
  @Param({"3", "10", "100", "1000"})
  public int members;

  /** Virtual nodes per member. */
  @Param({"160"})
  public int virtualNodes;

  /** Length of each key in bytes, like a short string key or a UUID-ish one. */
  @Param({"16", "48"})
  public int keyLength;

  private HashRing ring;
  private byte[][] keys;
  private long[] keyHashes;
  private int next;

  /** Builds the ring and the key table; fixed seeds keep runs comparable. */
  @Setup(Level.Trial)
  public void setUp() {
    List<String> names = new ArrayList<>(members);
    for (int i = 0; i < members; i++) {
      names.add("10.0." + (i / 256) + "." + (i % 256) + ":7070");
    }
    ring = HashRing.of(names, virtualNodes);
    Random random = new Random(42);
    keys = new byte[KEY_COUNT][];
    keyHashes = new long[KEY_COUNT];
    for (int i = 0; i < KEY_COUNT; i++) {
      byte[] key = new byte[keyLength];
      random.nextBytes(key);
      keys[i] = key;
      keyHashes[i] = KeyHash.hash(key);
    }
    // Sanity check that the setup is what it claims, so a broken ring cannot benchmark fast.
    if (ring.size() != members || !ring.ownerOf(keys[0]).startsWith("10.0.")) {
      throw new IllegalStateException("bad setup: " + ring);
    }
    next = 0;
  }

  private int nextIndex() {
    int i = next;
    next = (i + 1) & MASK;
    return i;
  }

  /** {@link KeyHash#hash(byte[])} alone. */
  @Benchmark
  public long keyHash() {
    return KeyHash.hash(keys[nextIndex()]);
  }

  /** Hash plus lookup: what a cache operation pays per key. */
  @Benchmark
  public String ownerOfBytes() {
    return ring.ownerOf(keys[nextIndex()]);
  }

  /** Lookup alone, from a hash computed earlier. */
  @Benchmark
  public String ownerOfHash() {
    return ring.ownerOf(keyHashes[nextIndex()]);
  }

  /** A replica list of three; allocates the result list. */
  @Benchmark
  public List<String> ownersOf3() {
    return ring.ownersOf(keyHashes[nextIndex()], 3);
  }

  /** Building a new ring, as a membership change does. */
  @Benchmark
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public HashRing rebuild() {
    return ring.withMembers(ring.nodes());
  }
}
