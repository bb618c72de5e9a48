package dev.shardcache.replication;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.BitSet;
import java.util.Objects;

/**
 * A digest of a set of (key, version) entries, split into buckets by key hash, for anti-entropy:
 * two replicas compare digests of the keys they share and then exchange only the keys of the
 * buckets that differ.
 *
 * <h2>Idea</h2>
 *
 * The key space is cut into a fixed number of buckets, a power of two, by the top bits of the key's
 * 64-bit {@linkplain dev.shardcache.ring.KeyHash ring hash}; each bucket is a contiguous range of
 * hashes. A bucket's digest is the XOR, over the entries whose key falls into it, of a 64-bit mix
 * of the key hash and the version's timestamp and writer. Because XOR is commutative and
 * associative, the digest depends on the set of entries, not on the order they were added in;
 * because XOR is its own inverse, a store can keep a digest current as it writes: {@link #remove}
 * the old entry's contribution and {@link #add} the new one.
 *
 * <p>Two replicas holding the same versions of the same keys have equal digests. If they differ in
 * the version of one key (or one holds a key the other lacks), exactly the bucket of that key
 * differs, except with probability 2<sup>-64</sup>: the mix is a chain of bijective 64-bit
 * finalizers, so each entry contributes an effectively random 64-bit value, and different versions
 * of one key contribute different values. The cost of a comparison is one array of longs (8 KiB at
 * the default 1,024 buckets) plus the keys of the differing buckets: it follows the size of the
 * difference, not the size of the shard.
 *
 * <p><b>Finer and coarser.</b> Since buckets are hash prefixes, bucket {@code i} of a digest with
 * {@code n} buckets is the union of buckets {@code i * m/n} to {@code (i+1) * m/n - 1} of one with
 * {@code m > n} buckets, and {@link #fold(int)} computes the coarse digest from the fine one. A
 * store can keep one fine digest and compare coarse folds first, then the fine buckets only under
 * the coarse buckets that differ, like the levels of a Merkle tree.
 *
 * <h2>Invariants and limits</h2>
 *
 * <ul>
 *   <li>The digest is of a <em>set</em>: adding the same (key, version) entry twice removes it. A
 *       store holds one version per key, so it adds each key once (and removes the old version
 *       before adding the new).
 *   <li>A digest is only comparable with one built with the same bucket count over the same key
 *       range: replicas must digest only the keys they are both meant to hold.
 *   <li>The mix and the bucket rule are part of the wire contract between nodes: nodes of two
 *       versions must compute the same digests, or every bucket looks different and repair
 *       exchanges everything. Tests pin their outputs.
 * </ul>
 *
 * <h2>Contract</h2>
 *
 * Not thread-safe: a digest is mutable, to be built by one thread or guarded by its owner. Arrays
 * passed in or returned are copies. No method accepts or returns {@code null}.
 */
public final class BucketDigest {

  /** The bucket count of {@link #BucketDigest()}: {@value}. */
  public static final int DEFAULT_BUCKETS = 1024;

  /** The largest bucket count: {@value} (8 MiB of digest). */
  public static final int MAX_BUCKETS = 1 << 20;

  private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;
  // 2 and 3 times GOLDEN_GAMMA, wrapped to 64 bits: written out, since the wrap is intended and a
  // constant expression that overflows usually is not (Error Prone's ConstantOverflow).
  private static final long GOLDEN_GAMMA_2 = 0x3c6ef372fe94f82aL;
  private static final long GOLDEN_GAMMA_3 = 0xdaa66d2c7ddf743fL;

  private final long[] buckets;

  /** {@code 64 - log2(bucket count)}: a key's bucket is its hash shifted right by this much. */
  private final int shift;

  /** Creates an empty digest with {@value #DEFAULT_BUCKETS} buckets. */
  public BucketDigest() {
    this(DEFAULT_BUCKETS);
  }

  /**
   * Creates an empty digest.
   *
   * @param buckets the bucket count: a power of two in {@code [1, MAX_BUCKETS]}
   * @throws IllegalArgumentException if {@code buckets} is not such a power of two
   */
  public BucketDigest(int buckets) {
    this(new long[checkBucketCount(buckets)]);
  }

  private BucketDigest(long[] owned) {
    this.buckets = owned;
    this.shift = Long.SIZE - Integer.numberOfTrailingZeros(owned.length);
  }

  /**
   * Returns a digest with the given bucket values, such as one received from a peer.
   *
   * @param buckets the bucket values, as from {@link #buckets()}; copied. The length must be a
   *     power of two in {@code [1, MAX_BUCKETS]}
   * @return a new digest
   * @throws NullPointerException if {@code buckets} is null
   * @throws IllegalArgumentException if the length is not such a power of two
   */
  public static BucketDigest of(long[] buckets) {
    checkBucketCount(buckets.length);
    return new BucketDigest(buckets.clone());
  }

  /**
   * Adds an entry: XORs its contribution into its key's bucket. Adding an entry that is already in
   * the digest removes it (see {@link #remove}).
   *
   * @param keyHash the key's ring hash, {@link dev.shardcache.ring.KeyHash#hash(byte[])} of its
   *     encoded bytes
   * @param version the version the store holds for the key (a value's or a tombstone's)
   * @throws NullPointerException if {@code version} is null
   */
  public void add(long keyHash, Version version) {
    buckets[bucketOf(keyHash)] ^= mix(keyHash, version);
  }

  /**
   * Removes an entry that was added: XORs its contribution out of its key's bucket. The same
   * operation as {@link #add}, named for what a store means when it replaces a key's version.
   *
   * @param keyHash the key's ring hash
   * @param version the version that was added for the key
   * @throws NullPointerException if {@code version} is null
   */
  public void remove(long keyHash, Version version) {
    add(keyHash, version);
  }

  /**
   * Returns the bucket of a key: the top {@code log2(bucketCount())} bits of its hash, read as an
   * unsigned number. Each bucket is a contiguous range of hashes.
   *
   * @param keyHash the key's ring hash
   * @return the bucket index, in {@code [0, bucketCount())}
   */
  public int bucketOf(long keyHash) {
    // Java shifts a long by (shift & 63), so the single-bucket case (shift 64) needs its own arm.
    return shift == Long.SIZE ? 0 : (int) (keyHash >>> shift);
  }

  /**
   * Returns the bucket of a key in a digest of {@code bucketCount} buckets, without building one:
   * the same rule as {@link #bucketOf(long)}, for a node that answers a later page of a comparison
   * and holds only the bucket numbers.
   *
   * @param keyHash the key's ring hash
   * @param bucketCount a power of two in {@code [1, MAX_BUCKETS]}
   * @return the bucket index, in {@code [0, bucketCount)}
   * @throws IllegalArgumentException if {@code bucketCount} is not such a power of two
   */
  public static int bucketOf(long keyHash, int bucketCount) {
    checkBucketCount(bucketCount);
    int shift = Long.SIZE - Integer.numberOfTrailingZeros(bucketCount);
    return shift == Long.SIZE ? 0 : (int) (keyHash >>> shift);
  }

  /** The number of buckets: a power of two in {@code [1, MAX_BUCKETS]}. */
  public int bucketCount() {
    return buckets.length;
  }

  /**
   * Returns the bucket values, to send to a peer or compare with {@link #differing}.
   *
   * @return a copy of the buckets, indexed by {@link #bucketOf}
   */
  public long[] buckets() {
    return buckets.clone();
  }

  /**
   * Returns the same digest with fewer buckets: coarse bucket {@code i} is the XOR of the fine
   * buckets whose index has {@code i} as its prefix. The result equals a digest built directly with
   * {@code buckets} buckets from the same entries.
   *
   * @param buckets the coarser bucket count: a power of two, at least 1 and at most {@link
   *     #bucketCount()}
   * @return a new digest
   * @throws IllegalArgumentException if {@code buckets} is not such a power of two
   */
  public BucketDigest fold(int buckets) {
    checkBucketCount(buckets);
    checkArgument(
        buckets <= this.buckets.length,
        "cannot fold %s buckets into more (%s)",
        this.buckets.length,
        buckets);
    int perCoarse = this.buckets.length / buckets;
    long[] coarse = new long[buckets];
    for (int i = 0; i < this.buckets.length; i++) {
      coarse[i / perCoarse] ^= this.buckets[i];
    }
    return new BucketDigest(coarse);
  }

  /**
   * Returns the indexes of the buckets whose values differ: the buckets whose keys two replicas
   * must exchange.
   *
   * @param mine this replica's buckets
   * @param theirs the peer's buckets, of the same length
   * @return a new set holding each index {@code i} with {@code mine[i] != theirs[i]}
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if the lengths differ (the digests are not comparable)
   */
  public static BitSet differing(long[] mine, long[] theirs) {
    checkArgument(
        mine.length == theirs.length,
        "digests with different bucket counts are not comparable: %s and %s",
        mine.length,
        theirs.length);
    BitSet differing = new BitSet(mine.length);
    for (int i = 0; i < mine.length; i++) {
      if (mine[i] != theirs[i]) {
        differing.set(i);
      }
    }
    return differing;
  }

  @Override
  public String toString() {
    int nonEmpty = 0;
    for (long bucket : buckets) {
      if (bucket != 0) {
        nonEmpty++;
      }
    }
    return "BucketDigest{buckets=" + buckets.length + ", nonZero=" + nonEmpty + "}";
  }

  /**
   * The contribution of one entry: a chain of three SplitMix64 finalizer rounds absorbing the key
   * hash, the timestamp and the writer. Each round is a bijection of its input, so for one key,
   * versions that differ in one component always contribute different values, and all other
   * collisions are as rare as for a random function. Pinned by tests (wire contract).
   */
  static long mix(long keyHash, Version version) {
    Objects.requireNonNull(version, "version");
    long h = finalizer(keyHash + GOLDEN_GAMMA);
    h = finalizer(h ^ (version.timestamp() + GOLDEN_GAMMA_2));
    return finalizer(h ^ (version.writer() + GOLDEN_GAMMA_3));
  }

  /** The SplitMix64 output function (Stafford's "Mix13"): a bijection of 64-bit values. */
  private static long finalizer(long z) {
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }

  private static int checkBucketCount(int buckets) {
    checkArgument(
        buckets >= 1 && buckets <= MAX_BUCKETS && Integer.bitCount(buckets) == 1,
        "the bucket count must be a power of two in [1, %s]: %s",
        MAX_BUCKETS,
        buckets);
    return buckets;
  }
}
