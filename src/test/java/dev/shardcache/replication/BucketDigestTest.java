package dev.shardcache.replication;

import static dev.shardcache.replication.HybridLogicalClock.pack;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.BitSet;
import org.junit.jupiter.api.Test;

class BucketDigestTest {

  private static final Version V1 = new Version(pack(1_000, 0), 1);
  private static final Version V2 = new Version(pack(1_000, 1), 1);

  @Test
  void theDefaultHas1024Buckets() {
    assertThat(new BucketDigest().bucketCount()).isEqualTo(1024);
    assertThat(new BucketDigest().buckets()).hasSize(1024).containsOnly(0L);
  }

  @Test
  void aKeysBucketIsTheTopBitsOfItsHashUnsigned() {
    BucketDigest digest = new BucketDigest(1024);
    assertThat(digest.bucketOf(0)).isZero();
    assertThat(digest.bucketOf(0x003F_FFFF_FFFF_FFFFL)).isZero();
    assertThat(digest.bucketOf(0x0040_0000_0000_0000L)).isEqualTo(1);
    assertThat(digest.bucketOf(Long.MAX_VALUE)).isEqualTo(511);
    assertThat(digest.bucketOf(Long.MIN_VALUE)).isEqualTo(512);
    assertThat(digest.bucketOf(-1)).isEqualTo(1023);
  }

  @Test
  void oneBucketHoldsEveryKey() {
    BucketDigest digest = new BucketDigest(1);
    assertThat(digest.bucketOf(-1)).isZero();
    assertThat(digest.bucketOf(Long.MIN_VALUE)).isZero();
    assertThat(digest.bucketOf(12345)).isZero();
    digest.add(-1, V1);
    assertThat(digest.buckets()[0]).isEqualTo(BucketDigest.mix(-1, V1));
  }

  @Test
  void bucketCountsMustBePowersOfTwoWithinTheLimit() {
    for (int bad : new int[] {0, -1, 3, 1000, BucketDigest.MAX_BUCKETS * 2, Integer.MIN_VALUE}) {
      assertThatThrownBy(() -> new BucketDigest(bad))
          .as("%d buckets", bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("power of two");
      assertThatThrownBy(() -> BucketDigest.of(new long[Math.max(0, Math.min(bad, 1 << 22))]))
          .isInstanceOf(IllegalArgumentException.class);
    }
    assertThat(new BucketDigest(BucketDigest.MAX_BUCKETS).bucketCount())
        .isEqualTo(BucketDigest.MAX_BUCKETS);
  }

  @Test
  void addingXorsTheEntrysMixIntoItsBucket() {
    BucketDigest digest = new BucketDigest(4);
    long key = 0x4000_0000_0000_0001L; // bucket 1
    digest.add(key, V1);
    assertThat(digest.buckets()).containsExactly(0, BucketDigest.mix(key, V1), 0, 0);
  }

  @Test
  void removingAnEntryUndoesAddingIt() {
    BucketDigest digest = new BucketDigest(16);
    digest.add(42, V1);
    digest.add(-42, V2);
    digest.remove(42, V1);
    BucketDigest expected = new BucketDigest(16);
    expected.add(-42, V2);
    assertThat(digest.buckets()).isEqualTo(expected.buckets());
  }

  @Test
  void replacingAKeysVersionChangesOnlyItsBucket() {
    BucketDigest digest = new BucketDigest(16);
    digest.add(42, V1);
    digest.add(Long.MIN_VALUE, V1);
    long[] before = digest.buckets();
    digest.remove(42, V1);
    digest.add(42, V2);
    BitSet differing = BucketDigest.differing(before, digest.buckets());
    assertThat(differing.stream()).containsExactly(digest.bucketOf(42));
  }

  @Test
  void bucketsAndOfCopyTheirArrays() {
    BucketDigest digest = new BucketDigest(2);
    long[] out = digest.buckets();
    out[0] = 7;
    assertThat(digest.buckets()).containsExactly(0, 0);

    long[] in = {1, 2};
    BucketDigest received = BucketDigest.of(in);
    in[0] = 99;
    assertThat(received.buckets()).containsExactly(1, 2);
    assertThat(received.bucketCount()).isEqualTo(2);
  }

  @Test
  void differingListsTheUnequalBuckets() {
    BitSet differing = BucketDigest.differing(new long[] {1, 2, 3, 4}, new long[] {1, 0, 3, 5});
    assertThat(differing.stream()).containsExactly(1, 3);
    assertThat(BucketDigest.differing(new long[] {1, 2}, new long[] {1, 2}).isEmpty()).isTrue();
  }

  @Test
  void digestsOfDifferentSizesAreNotComparable() {
    assertThatThrownBy(() -> BucketDigest.differing(new long[4], new long[8]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("4")
        .hasMessageContaining("8");
  }

  @Test
  void foldingMergesNeighbouringBuckets() {
    BucketDigest fine = BucketDigest.of(new long[] {1, 2, 4, 8, 16, 32, 64, 128});
    // One bit per bucket, so folding four neighbours sets their four bits.
    assertThat(fine.fold(2).buckets()).containsExactly(0x0f, 0xf0);
    assertThat(fine.fold(8).buckets()).isEqualTo(fine.buckets());
    assertThat(fine.fold(1).buckets()).containsExactly(255);
    assertThatThrownBy(() -> fine.fold(16)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> fine.fold(3)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void differentVersionsOfOneKeyContributeDifferently() {
    assertThat(BucketDigest.mix(42, V1)).isNotEqualTo(BucketDigest.mix(42, V2));
    assertThat(BucketDigest.mix(42, new Version(5, 1)))
        .isNotEqualTo(BucketDigest.mix(42, new Version(5, 2)));
    assertThat(BucketDigest.mix(42, V1)).isNotEqualTo(BucketDigest.mix(43, V1));
    assertThat(BucketDigest.mix(0, Version.ZERO)).isNotZero();
  }

  /**
   * Pinned contributions. Digests travel between nodes that may run different versions during a
   * rolling upgrade; if these change, every bucket of every comparison differs and anti-entropy
   * exchanges whole shards. Do not "fix" these values; fix the code.
   */
  @Test
  void pinnedContributionsNeverChange() {
    assertThat(BucketDigest.mix(0, Version.ZERO)).isEqualTo(PIN_ZERO);
    Version sample = new Version(pack(1_700_000_000_000L, 7), -2);
    assertThat(BucketDigest.mix(0x0123_4567_89ab_cdefL, sample)).isEqualTo(PIN_SAMPLE);
  }

  private static final long PIN_ZERO = 5758303398189997539L;
  private static final long PIN_SAMPLE = 8627842529349512458L;

  @Test
  void toStringCountsNonZeroBuckets() {
    BucketDigest digest = new BucketDigest(8);
    digest.add(1, V1);
    assertThat(digest).hasToString("BucketDigest{buckets=8, nonZero=1}");
  }
}
