package dev.shardcache.ring;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Assume;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.StringLength;
import net.jqwik.api.statistics.Statistics;

/**
 * Properties of the ring over random memberships and keys.
 *
 * <p>The bounds below were measured before they were written down (see {@link
 * HashRing#DEFAULT_VIRTUAL_NODES}): over 6,000 random rings of 3 to 50 members with 160 virtual
 * nodes and 100,000 keys each, the worst max/mean load was 1.38, and the fraction of keys moved by
 * adding a member was between 0.73 and 1.30 times {@code 1/(n+1)}.
 */
class HashRingProperties {

  /** Max/mean load allowed with 160 virtual nodes: the measured worst, 1.38, plus a margin. */
  static final double BALANCE_BOUND = 1.45;

  /** Moved fraction allowed on adding a member, as a multiple of {@code 1/(n+1)}. */
  static final double MOVED_MIN = 0.5;

  static final double MOVED_MAX = 1.6;

  // --- generators ---

  @Provide
  Arbitrary<String> member() {
    Arbitrary<Integer> octet = Arbitraries.integers().between(0, 255);
    Arbitrary<Integer> port = Arbitraries.integers().between(1024, 65535);
    return Combinators.combine(octet, octet, octet, port)
        .as((a, b, c, p) -> "10." + a + "." + b + "." + c + ":" + p);
  }

  @Provide
  Arbitrary<List<String>> members() {
    return member().list().uniqueElements().ofMinSize(1).ofMaxSize(30);
  }

  @Provide
  Arbitrary<List<String>> clusters() {
    return member().list().uniqueElements().ofMinSize(3).ofMaxSize(50);
  }

  private static long[] randomKeyHashes(Random random, int count) {
    long[] hashes = new long[count];
    byte[] key = new byte[16];
    for (int i = 0; i < count; i++) {
      random.nextBytes(key);
      hashes[i] = KeyHash.hash(key);
    }
    return hashes;
  }

  // --- (1) determinism ---

  @Property(tries = 200)
  void ownersDoNotDependOnTheOrderOrDuplicationOfMembers(
      @ForAll("members") List<String> members, @ForAll Random random) {
    List<String> shuffled = new ArrayList<>(members);
    shuffled.add(members.get(random.nextInt(members.size()))); // a duplicate changes nothing
    Collections.shuffle(shuffled, random);

    HashRing ring = HashRing.of(members);
    HashRing other = HashRing.of(shuffled);

    assertThat(other).isEqualTo(ring);
    assertThat(other.nodes()).isEqualTo(ring.nodes());
    for (long keyHash : randomKeyHashes(random, 2_000)) {
      assertThat(other.ownerOf(keyHash)).isEqualTo(ring.ownerOf(keyHash));
      assertThat(other.ownersOf(keyHash, 3)).isEqualTo(ring.ownersOf(keyHash, 3));
    }
  }

  // --- (2) ownersOf ---

  @Property(tries = 500)
  void ownersOfIsDistinctOwnerFirstAndSizedMinOfNAndMembers(
      @ForAll("members") List<String> members,
      @ForAll long keyHash,
      @ForAll @IntRange(min = 1, max = 40) int n,
      @ForAll @IntRange(min = 1, max = 200) int virtualNodes) {
    HashRing ring = HashRing.of(members, virtualNodes);

    List<String> owners = ring.ownersOf(keyHash, n);

    assertThat(owners).hasSize(Math.min(n, members.size())).doesNotHaveDuplicates();
    assertThat(owners.get(0)).isEqualTo(ring.ownerOf(keyHash));
    assertThat(ring.nodes()).containsAll(owners);
    // Asking for more extends the list; it never reorders it.
    assertThat(ring.ownersOf(keyHash, n + 1)).startsWith(owners.toArray(new String[0]));
  }

  // --- (3) balance ---

  @Property(tries = 200)
  void defaultVirtualNodesKeepTheMostLoadedMemberNearTheMean(
      @ForAll("clusters") List<String> members, @ForAll Random random) {
    HashRing ring = HashRing.of(members, 160);
    int keys = 100_000;
    Map<String, Integer> load = new HashMap<>();
    for (long keyHash : randomKeyHashes(random, keys)) {
      load.merge(ring.ownerOf(keyHash), 1, Integer::sum);
    }

    double mean = (double) keys / ring.size();
    double ratio = Collections.max(load.values()) / mean;
    Statistics.label("max/mean").collect(bucket(ratio, 0.05));

    assertThat(load).hasSize(ring.size()); // every member owns some keys
    assertThat(ratio).as("max/mean load of %s members", ring.size()).isLessThan(BALANCE_BOUND);
  }

  // --- (4) minimal movement ---

  @Property(tries = 200)
  void addingAMemberMovesOnlyKeysToItAndAboutOneInNPlusOne(
      @ForAll("clusters") List<String> members,
      @ForAll("member") String added,
      @ForAll Random random) {
    Assume.that(!members.contains(added));
    HashRing before = HashRing.of(members);
    List<String> grown = new ArrayList<>(members);
    grown.add(added);
    HashRing after = before.withMembers(grown);

    int keys = 50_000;
    int moved = 0;
    for (long keyHash : randomKeyHashes(random, keys)) {
      String oldOwner = before.ownerOf(keyHash);
      String newOwner = after.ownerOf(keyHash);
      if (!oldOwner.equals(newOwner)) {
        assertThat(newOwner).as("a moved key goes to the new member").isEqualTo(added);
        moved++;
      }
    }

    double relative = moved / (double) keys * after.size(); // 1.0 == exactly 1/(n+1)
    Statistics.label("moved * (n+1)").collect(bucket(relative, 0.1));
    assertThat(relative).isBetween(MOVED_MIN, MOVED_MAX);
  }

  @Property(tries = 100)
  void removingAMemberMovesOnlyItsKeysEachToItsSuccessor(
      @ForAll("clusters") List<String> members,
      @ForAll @IntRange(min = 0, max = 49) int which,
      @ForAll Random random) {
    HashRing before = HashRing.of(members);
    String removed = members.get(which % members.size());
    List<String> shrunk = new ArrayList<>(members);
    shrunk.remove(removed);
    HashRing after = before.withMembers(shrunk);

    for (long keyHash : randomKeyHashes(random, 20_000)) {
      String oldOwner = before.ownerOf(keyHash);
      String newOwner = after.ownerOf(keyHash);
      if (oldOwner.equals(removed)) {
        assertThat(newOwner).isEqualTo(before.ownersOf(keyHash, 2).get(1));
      } else {
        assertThat(newOwner).as("a key of a remaining member stays").isEqualTo(oldOwner);
      }
    }
    assertThat(after.withMembers(members)).isEqualTo(before);
  }

  /**
   * The ring's sort of its points (a merge sort of two parallel arrays, written for speed) orders
   * exactly as sorting (point, owner) pairs does, ties included: the order decides owners, so it
   * must never depend on how the sort is done.
   */
  @Property(tries = 300)
  void pointsSortLikePairs(
      @ForAll @IntRange(min = 0, max = 2_000) int size, @ForAll long seed, @ForAll boolean ties) {
    Random random = new Random(seed);
    long[] points = new long[size];
    int[] owners = new int[size];
    List<long[]> pairs = new ArrayList<>();
    for (int i = 0; i < size; i++) {
      points[i] = ties ? random.nextInt(8) - 4 : random.nextLong();
      owners[i] = random.nextInt(50);
      pairs.add(new long[] {points[i], owners[i]});
    }
    pairs.sort((x, y) -> x[0] != y[0] ? Long.compare(x[0], y[0]) : Long.compare(x[1], y[1]));

    HashRing.sortByPointThenOwner(points, owners);

    for (int i = 0; i < size; i++) {
      assertThat(new long[] {points[i], owners[i]}).containsExactly(pairs.get(i));
    }
  }

  /**
   * The points a ring is built from are those of {@link HashRing#pointOf}, whatever the member's
   * characters and however many digits the virtual node's number has: every node must place every
   * member at the same points, whichever way it computes them.
   */
  @Property(tries = 200)
  void pointsAreComputedAsTheyAlwaysWere(
      @ForAll @StringLength(min = 1, max = 40) String member,
      @ForAll @IntRange(min = 1, max = 10_000) int count) {
    long[] points = new long[count + 3];

    HashRing.pointsOf(member, count, points, 3);

    for (int i = 0; i < count; i++) {
      assertThat(points[3 + i])
          .as("point %s of %s", i, member)
          .isEqualTo(HashRing.pointOf(member, i));
    }
  }

  private static String bucket(double value, double width) {
    double low = Math.floor(value / width) * width;
    return String.format("[%.2f, %.2f)", low, low + width);
  }
}
