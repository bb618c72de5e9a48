package dev.shardcache.replication;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Assume;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The merge rule (last writer wins) over arbitrary values and tombstones.
 *
 * <p>Versions are drawn half from a tiny space (5 timestamps by 5 writers, including the extreme
 * writer ids) so that equal timestamps and equal versions are common, and half from all versions. A
 * copy's contents are a function of its version, a value or a tombstone, which models the
 * assumption merge rests on: equal versions come from the same write.
 */
class VersionedProperties {

  @Provide
  Arbitrary<Version> versions() {
    Arbitrary<Long> timestamps =
        Arbitraries.oneOf(
            Arbitraries.longs().between(0, 4), Arbitraries.longs().between(0, Long.MAX_VALUE));
    Arbitrary<Long> writers =
        Arbitraries.oneOf(
            Arbitraries.of(Long.MIN_VALUE, -1L, 0L, 1L, Long.MAX_VALUE), Arbitraries.longs());
    return Combinators.combine(timestamps, writers).as(Version::new);
  }

  @Provide
  Arbitrary<Versioned<String>> copies() {
    return versions().map(VersionedProperties::theWriteOf);
  }

  /** The one write that has this version: a tombstone for about a third of the versions. */
  private static Versioned<String> theWriteOf(Version version) {
    long h = BucketDigest.mix(0, version);
    return Math.floorMod(h, 3) == 0
        ? Versioned.tombstone(version)
        : Versioned.of("value-" + Long.toHexString(h), version);
  }

  @Property(tries = 2000)
  void mergeIsCommutative(
      @ForAll("copies") Versioned<String> a, @ForAll("copies") Versioned<String> b) {
    assertThat(Versioned.merge(a, b)).isEqualTo(Versioned.merge(b, a));
  }

  @Property(tries = 2000)
  void mergeIsAssociative(
      @ForAll("copies") Versioned<String> a,
      @ForAll("copies") Versioned<String> b,
      @ForAll("copies") Versioned<String> c) {
    assertThat(Versioned.merge(Versioned.merge(a, b), c))
        .isEqualTo(Versioned.merge(a, Versioned.merge(b, c)));
  }

  @Property(tries = 2000)
  void mergeIsIdempotent(
      @ForAll("copies") Versioned<String> a, @ForAll("copies") Versioned<String> b) {
    assertThat(Versioned.merge(a, a)).isSameAs(a);
    // Delivering b a second time changes nothing.
    Versioned<String> once = Versioned.merge(a, b);
    assertThat(Versioned.merge(once, b)).isEqualTo(once);
  }

  /** Merge returns one of its arguments, the one with the greatest version. */
  @Property(tries = 2000)
  void mergeKeepsTheHighestVersion(
      @ForAll("copies") Versioned<String> a, @ForAll("copies") Versioned<String> b) {
    Versioned<String> merged = Versioned.merge(a, b);
    assertThat(merged).isIn(a, b);
    assertThat(merged.version()).isEqualTo(Collections.max(List.of(a.version(), b.version())));
  }

  /**
   * A tombstone wins against every older value and loses to every newer one, in either argument
   * position, whatever the value.
   */
  @Property(tries = 2000)
  void aTombstoneBeatsOlderValuesAndLosesToNewerOnes(
      @ForAll("versions") Version deleted,
      @ForAll("versions") Version written,
      @ForAll String value) {
    Assume.that(!deleted.equals(written));
    Versioned<String> tombstone = Versioned.tombstone(deleted);
    Versioned<String> write = Versioned.of(value, written);
    Versioned<String> expected = deleted.isNewerThan(written) ? tombstone : write;
    assertThat(Versioned.merge(tombstone, write)).isSameAs(expected);
    assertThat(Versioned.merge(write, tombstone)).isSameAs(expected);
  }

  /**
   * Convergence: two replicas that receive the same writes in different orders, some of them
   * several times, end with the same copy: the write with the highest version.
   */
  @Property(tries = 500)
  void replicasConvergeWhateverTheOrderAndDuplicationOfDelivery(
      @ForAll("writes") List<Versioned<String>> writes, @ForAll Random random) {
    Versioned<String> one = deliver(writes, random);
    Versioned<String> other = deliver(writes, random);
    assertThat(one).isEqualTo(other);
    assertThat(one)
        .isEqualTo(writes.stream().max(Comparator.comparing(Versioned::version)).orElseThrow());
  }

  @Provide
  Arbitrary<List<Versioned<String>>> writes() {
    return copies().list().ofMinSize(1).ofMaxSize(30);
  }

  /** Folds merge over a shuffled delivery of {@code writes} with random repeats. */
  private static Versioned<String> deliver(List<Versioned<String>> writes, Random random) {
    List<Versioned<String>> delivery = new ArrayList<>(writes);
    for (int i = random.nextInt(writes.size() + 1); i > 0; i--) {
      delivery.add(writes.get(random.nextInt(writes.size())));
    }
    Collections.shuffle(delivery, random);
    Versioned<String> replica = delivery.get(0);
    for (Versioned<String> write : delivery.subList(1, delivery.size())) {
      replica = Versioned.merge(replica, write);
    }
    return replica;
  }
}
