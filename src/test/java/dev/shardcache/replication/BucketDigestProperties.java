package dev.shardcache.replication;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * Properties of {@link BucketDigest} over random sets of (key hash, version) entries, one version
 * per key as a store holds them, and bucket counts from 1 to 4,096.
 *
 * <p>"Exactly one differing bucket" is a probabilistic statement (two entries collide with
 * probability 2<sup>-64</sup>); at this number of tries a failure would mean a broken mix, not bad
 * luck.
 */
class BucketDigestProperties {

  record Entry(long keyHash, Version version) {}

  @Provide
  Arbitrary<Version> versions() {
    return Combinators.combine(Arbitraries.longs().between(0, Long.MAX_VALUE), Arbitraries.longs())
        .as(Version::new);
  }

  /** Up to 300 entries with distinct key hashes. */
  @Provide
  Arbitrary<List<Entry>> entries() {
    return Combinators.combine(Arbitraries.longs(), versions())
        .as(Entry::new)
        .list()
        .uniqueElements(Entry::keyHash)
        .ofMaxSize(300);
  }

  @Provide
  Arbitrary<Integer> bucketCounts() {
    return Arbitraries.integers().between(0, 12).map(bits -> 1 << bits);
  }

  private static BucketDigest digest(int buckets, List<Entry> entries) {
    BucketDigest digest = new BucketDigest(buckets);
    for (Entry e : entries) {
      digest.add(e.keyHash(), e.version());
    }
    return digest;
  }

  private static List<Entry> shuffled(List<Entry> entries, Random random) {
    List<Entry> copy = new ArrayList<>(entries);
    Collections.shuffle(copy, random);
    return copy;
  }

  /** The digest of a set does not depend on the order its entries were added in. */
  @Property(tries = 500)
  void theOrderOfAddsDoesNotMatter(
      @ForAll("entries") List<Entry> entries,
      @ForAll("bucketCounts") int buckets,
      @ForAll Random random) {
    assertThat(digest(buckets, shuffled(entries, random)).buckets())
        .isEqualTo(digest(buckets, entries).buckets());
  }

  /** Two replicas holding the same set, added in different orders, find no differing bucket. */
  @Property(tries = 500)
  void equalSetsHaveNoDifferingBuckets(
      @ForAll("entries") List<Entry> entries,
      @ForAll("bucketCounts") int buckets,
      @ForAll Random random) {
    BitSet differing =
        BucketDigest.differing(
            digest(buckets, entries).buckets(),
            digest(buckets, shuffled(entries, random)).buckets());
    assertThat(differing.isEmpty()).isTrue();
  }

  /**
   * If one replica holds a different version of a single key, exactly that key's bucket differs.
   * The other version differs in the timestamp only, the writer only, or both.
   */
  @Property(tries = 1000)
  void oneChangedVersionMakesExactlyItsBucketDiffer(
      @ForAll("entries") List<Entry> entries,
      @ForAll("bucketCounts") int buckets,
      @ForAll("versions") Version other,
      @ForAll @IntRange(min = 0, max = 2) int change,
      @ForAll Random random) {
    List<Entry> theirs = new ArrayList<>(entries);
    Entry changed;
    if (theirs.isEmpty()) {
      changed = new Entry(random.nextLong(), other);
      theirs.add(changed);
      entries = List.of(new Entry(changed.keyHash(), otherThan(other, change, other)));
    } else {
      int index = random.nextInt(theirs.size());
      changed = theirs.get(index);
      theirs.set(index, new Entry(changed.keyHash(), otherThan(changed.version(), change, other)));
    }
    BucketDigest mine = digest(buckets, entries);
    BitSet differing = BucketDigest.differing(mine.buckets(), digest(buckets, theirs).buckets());
    assertThat(differing.stream()).containsExactly(mine.bucketOf(changed.keyHash()));
  }

  /** A version other than {@code v}: a later timestamp, another writer, or an arbitrary one. */
  private static Version otherThan(Version v, int change, Version arbitrary) {
    return switch (change) {
      case 0 -> new Version(v.timestamp() == Long.MAX_VALUE ? 0 : v.timestamp() + 1, v.writer());
      case 1 -> new Version(v.timestamp(), v.writer() + 1);
      default -> arbitrary.equals(v) ? new Version(v.timestamp(), ~v.writer()) : arbitrary;
    };
  }

  /** A key one replica holds and the other lacks makes exactly its bucket differ. */
  @Property(tries = 500)
  void oneMissingKeyMakesExactlyItsBucketDiffer(
      @ForAll("entries") List<Entry> entries,
      @ForAll("bucketCounts") int buckets,
      @ForAll Random random) {
    if (entries.isEmpty()) {
      return;
    }
    Entry missing = entries.get(random.nextInt(entries.size()));
    List<Entry> theirs = new ArrayList<>(entries);
    theirs.remove(missing);
    BucketDigest mine = digest(buckets, entries);
    BitSet differing = BucketDigest.differing(mine.buckets(), digest(buckets, theirs).buckets());
    assertThat(differing.stream()).containsExactly(mine.bucketOf(missing.keyHash()));
  }

  /** Removing entries leaves the digest of the entries that remain. */
  @Property(tries = 500)
  void removeUndoesAdd(
      @ForAll("entries") List<Entry> entries,
      @ForAll("bucketCounts") int buckets,
      @ForAll Random random) {
    BucketDigest digest = digest(buckets, entries);
    List<Entry> kept = new ArrayList<>();
    for (Entry e : shuffled(entries, random)) {
      if (random.nextBoolean()) {
        digest.remove(e.keyHash(), e.version());
      } else {
        kept.add(e);
      }
    }
    assertThat(digest.buckets()).isEqualTo(digest(buckets, kept).buckets());
  }

  /** Folding a fine digest gives the digest built directly with the coarser bucket count. */
  @Property(tries = 500)
  void foldingEqualsBuildingWithFewerBuckets(
      @ForAll("entries") List<Entry> entries,
      @ForAll("bucketCounts") int fine,
      @ForAll("bucketCounts") int coarse) {
    int small = Math.min(fine, coarse);
    int large = Math.max(fine, coarse);
    assertThat(digest(large, entries).fold(small).buckets())
        .isEqualTo(digest(small, entries).buckets());
  }

  /** Every key hash falls into a bucket in range, and buckets follow hash order (unsigned). */
  @Property(tries = 1000)
  void bucketsAreContiguousUnsignedHashRanges(
      @ForAll long a, @ForAll long b, @ForAll("bucketCounts") int buckets) {
    BucketDigest digest = new BucketDigest(buckets);
    assertThat(digest.bucketOf(a)).isBetween(0, buckets - 1);
    if (Long.compareUnsigned(a, b) <= 0) {
      assertThat(digest.bucketOf(a)).isLessThanOrEqualTo(digest.bucketOf(b));
    }
  }
}
