package dev.shardcache.ring;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class HashRingTest {

  private static final List<String> THREE =
      List.of("10.0.0.1:7070", "10.0.0.2:7070", "10.0.0.3:7070");

  private static byte[] utf8(String s) {
    return s.getBytes(UTF_8);
  }

  @Test
  void singleMemberOwnsEveryKey() {
    HashRing ring = HashRing.of(List.of("solo:1"), 7);
    Random random = new Random(1);
    for (int i = 0; i < 10_000; i++) {
      assertThat(ring.ownerOf(random.nextLong())).isEqualTo("solo:1");
    }
    assertThat(ring.ownerOf(Long.MIN_VALUE)).isEqualTo("solo:1");
    assertThat(ring.ownerOf(Long.MAX_VALUE)).isEqualTo("solo:1");
    assertThat(ring.ownersOf(utf8("k"), 3)).containsExactly("solo:1");
  }

  /**
   * One virtual node per member makes the ring small enough to read: three points, three arcs. Each
   * member owns the arc that ends at its point, the point itself included.
   */
  @Test
  void readableSmallRing() {
    HashRing ring = HashRing.of(List.of("c", "a", "b"), 1);
    // The points of "a#0", "b#0", "c#0", sorted clockwise, with their members.
    List<String> clockwise = new ArrayList<>(List.of("a", "b", "c"));
    clockwise.sort((x, y) -> Long.compare(HashRing.pointOf(x, 0), HashRing.pointOf(y, 0)));
    String first = clockwise.get(0);
    String second = clockwise.get(1);
    String third = clockwise.get(2);
    long p1 = HashRing.pointOf(first, 0);
    long p2 = HashRing.pointOf(second, 0);
    long p3 = HashRing.pointOf(third, 0);
    assertThat(p1).isLessThan(p2);
    assertThat(p2).isLessThan(p3);

    assertThat(ring.ownerOf(p1)).isEqualTo(first); // a point belongs to its member
    assertThat(ring.ownerOf(p1 + 1)).isEqualTo(second); // just past it, the next member
    assertThat(ring.ownerOf(p2 - 1)).isEqualTo(second);
    assertThat(ring.ownerOf(p2)).isEqualTo(second);
    assertThat(ring.ownerOf(p2 + 1)).isEqualTo(third);
    assertThat(ring.ownerOf(p3)).isEqualTo(third);
    assertThat(ring.ownersOf(p2 + 1, 3)).containsExactly(third, first, second);
  }

  @Test
  void keysPastTheLastPointWrapAroundToTheFirst() {
    HashRing ring = HashRing.of(List.of("x", "y", "z", "w"), 1);
    long min = Long.MAX_VALUE;
    long max = Long.MIN_VALUE;
    String ownerOfMin = "";
    for (String member : ring.nodes()) {
      long point = HashRing.pointOf(member, 0);
      if (point < min) {
        min = point;
        ownerOfMin = member;
      }
      max = Math.max(max, point);
    }
    assertThat(max).isLessThan(Long.MAX_VALUE);
    assertThat(ring.ownerOf(max + 1)).isEqualTo(ownerOfMin);
    assertThat(ring.ownerOf(Long.MAX_VALUE)).isEqualTo(ownerOfMin);
    assertThat(ring.ownerOf(Long.MIN_VALUE)).isEqualTo(ownerOfMin);
    assertThat(ring.ownersOf(Long.MAX_VALUE, 1)).containsExactly(ownerOfMin);
  }

  @Test
  void ownersOfReturnsDistinctMembersOwnerFirstInClockwiseOrder() {
    HashRing ring = HashRing.of(List.of("a:1", "b:1", "c:1", "d:1", "e:1"), 1);
    List<String> clockwise = new ArrayList<>(ring.nodes());
    clockwise.sort((x, y) -> Long.compare(HashRing.pointOf(x, 0), HashRing.pointOf(y, 0)));
    for (int start = 0; start < clockwise.size(); start++) {
      long keyHash = HashRing.pointOf(clockwise.get(start), 0);
      List<String> expected = new ArrayList<>();
      for (int j = 0; j < 3; j++) {
        expected.add(clockwise.get((start + j) % clockwise.size()));
      }
      assertThat(ring.ownersOf(keyHash, 3)).containsExactlyElementsOf(expected);
    }

    HashRing big = HashRing.of(THREE);
    Random random = new Random(7);
    for (int i = 0; i < 1_000; i++) {
      byte[] key = utf8("key-" + random.nextInt());
      List<String> owners = big.ownersOf(key, 2);
      assertThat(owners).hasSize(2).doesNotHaveDuplicates();
      assertThat(owners.get(0)).isEqualTo(big.ownerOf(key));
    }
  }

  @Test
  void ownersOfMoreThanTheMembersReturnsAllOfThem() {
    HashRing ring = HashRing.of(THREE);
    for (int n : new int[] {3, 4, 100, Integer.MAX_VALUE}) {
      List<String> owners = ring.ownersOf(utf8("user:42"), n);
      assertThat(owners).hasSize(3).containsExactlyInAnyOrderElementsOf(THREE);
      assertThat(owners.get(0)).isEqualTo(ring.ownerOf(utf8("user:42")));
    }
  }

  @Test
  void byteAndHashOverloadsAgree() {
    HashRing ring = HashRing.of(THREE);
    for (int i = 0; i < 1_000; i++) {
      byte[] key = utf8("k" + i);
      long hash = KeyHash.hash(key);
      assertThat(ring.ownerOf(key)).isEqualTo(ring.ownerOf(hash));
      assertThat(ring.ownersOf(key, 2)).isEqualTo(ring.ownersOf(hash, 2));
    }
  }

  @Test
  void membersAreSortedAndDeduplicated() {
    HashRing ring = HashRing.of(List.of("b:2", "a:1", "b:2", "c:3", "a:1"));
    assertThat(ring.nodes()).containsExactly("a:1", "b:2", "c:3");
    assertThat(ring.size()).isEqualTo(3);
    assertThat(ring.virtualNodes()).isEqualTo(HashRing.DEFAULT_VIRTUAL_NODES);
    assertThat(ring).isEqualTo(HashRing.of(List.of("c:3", "b:2", "a:1"), 160));
    assertThat(ring.contains("b:2")).isTrue();
    assertThat(ring.contains("d:4")).isFalse();
  }

  @Test
  void returnedListsAreImmutable() {
    HashRing ring = HashRing.of(THREE);
    assertThatThrownBy(() -> ring.nodes().add("x"))
        .isInstanceOf(UnsupportedOperationException.class);
    assertThatThrownBy(() -> ring.ownersOf(1L, 2).clear())
        .isInstanceOf(UnsupportedOperationException.class);
  }

  @Test
  void ringDoesNotSeeLaterChangesToTheGivenCollection() {
    List<String> members = new ArrayList<>(List.of("a:1", "b:1"));
    HashRing ring = HashRing.of(members);
    members.add("c:1");
    assertThat(ring.nodes()).containsExactly("a:1", "b:1");
  }

  @Test
  void withMembersKeepsTheVirtualNodeCount() {
    HashRing ring = HashRing.of(List.of("a:1"), 17);
    HashRing grown = ring.withMembers(List.of("a:1", "b:1"));
    assertThat(grown.virtualNodes()).isEqualTo(17);
    assertThat(grown.nodes()).containsExactly("a:1", "b:1");
    assertThat(ring.nodes()).containsExactly("a:1");
    assertThat(grown.withMembers(List.of("a:1"))).isEqualTo(ring);
  }

  @Test
  void equalsHashCodeAndToString() {
    HashRing ring = HashRing.of(List.of("a:1", "b:2"), 8);
    assertThat(ring)
        .isEqualTo(HashRing.of(List.of("b:2", "a:1"), 8))
        .hasSameHashCodeAs(HashRing.of(List.of("b:2", "a:1"), 8))
        .isNotEqualTo(HashRing.of(List.of("a:1", "b:2"), 9))
        .isNotEqualTo(HashRing.of(List.of("a:1"), 8))
        .isNotEqualTo("a:1");
    assertThat(ring).hasToString("HashRing{members=[a:1, b:2], virtualNodes=8}");
  }

  @Test
  void validationMessages() {
    assertThatThrownBy(() -> HashRing.of((Collection<String>) null))
        .isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> HashRing.of(Arrays.asList("a:1", null)))
        .isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> HashRing.of(List.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("a ring needs at least one member");
    assertThatThrownBy(() -> HashRing.of(List.of("a:1", " ")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("blank");
    assertThatThrownBy(() -> HashRing.of(List.of("a:1", "")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("blank");
    for (int bad : new int[] {0, -1, 10_001, Integer.MAX_VALUE}) {
      assertThatThrownBy(() -> HashRing.of(List.of("a:1"), bad))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("[1, 10000]")
          .hasMessageContaining(String.valueOf(bad));
    }
    assertThat(HashRing.of(List.of("a:1"), 1).virtualNodes()).isEqualTo(1);
    assertThat(HashRing.of(List.of("a:1"), 10_000).virtualNodes()).isEqualTo(10_000);

    HashRing ring = HashRing.of(THREE);
    assertThatThrownBy(() -> ring.ownersOf(1L, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at least 1");
    assertThatThrownBy(() -> ring.ownersOf(utf8("k"), -1))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> ring.ownerOf((byte[]) null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> ring.contains((String) null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> ring.withMembers((Collection<String>) null))
        .isInstanceOf(NullPointerException.class);
  }

  @Test
  void collidingPointsAreOrderedByMemberIndexWhateverTheInputOrder() {
    long[] points = {5, -3, 5, 5, -3, 9};
    int[] owners = {2, 1, 0, 1, 0, 0};
    HashRing.sortByPointThenOwner(points, owners);
    assertThat(points).containsExactly(-3, -3, 5, 5, 5, 9);
    assertThat(owners).containsExactly(0, 1, 0, 1, 2, 0);
  }

  /**
   * Pinned owners on a fixed three-member ring. Nodes of two versions run side by side during a
   * rolling upgrade and must agree on the owner of every key: if this test has to change, the ring
   * (hash, point naming, tie-breaking or lookup) changed in a way that breaks rolling upgrades.
   */
  @Test
  void pinnedOwnersNeverChange() {
    HashRing ring = HashRing.of(List.of("10.0.0.1:7070", "10.0.0.2:7070", "10.0.0.3:7070"), 160);
    assertThat(ring.ownerOf(utf8(""))).isEqualTo("10.0.0.2:7070");
    assertThat(ring.ownerOf(utf8("a"))).isEqualTo("10.0.0.3:7070");
    assertThat(ring.ownerOf(utf8("hello"))).isEqualTo("10.0.0.1:7070");
    assertThat(ring.ownerOf(utf8("user:1"))).isEqualTo("10.0.0.3:7070");
    assertThat(ring.ownerOf(utf8("user:2"))).isEqualTo("10.0.0.2:7070");
    assertThat(ring.ownerOf(utf8("user:42"))).isEqualTo("10.0.0.3:7070");
    assertThat(ring.ownerOf(utf8("session:abc"))).isEqualTo("10.0.0.1:7070");
    assertThat(ring.ownerOf(utf8("order:1001"))).isEqualTo("10.0.0.1:7070");
    assertThat(ring.ownersOf(utf8("user:3"), 3))
        .containsExactly("10.0.0.3:7070", "10.0.0.1:7070", "10.0.0.2:7070");
    assertThat(ring.ownersOf(utf8("user:2"), 3))
        .containsExactly("10.0.0.2:7070", "10.0.0.3:7070", "10.0.0.1:7070");
  }

  @Test
  void ownerOfDoesNotAllocate() {
    java.lang.management.ThreadMXBean plain = ManagementFactory.getThreadMXBean();
    if (!(plain instanceof com.sun.management.ThreadMXBean threads)) {
      return; // not a HotSpot-style JVM: nothing to measure with
    }
    if (!threads.isThreadAllocatedMemorySupported() || !threads.isThreadAllocatedMemoryEnabled()) {
      return;
    }
    List<String> members = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      members.add("10.0.1." + i + ":7070");
    }
    HashRing ring = HashRing.of(members);
    byte[][] keys = new byte[1024][];
    Random random = new Random(3);
    for (int i = 0; i < keys.length; i++) {
      keys[i] = new byte[1 + random.nextInt(40)];
      random.nextBytes(keys[i]);
    }
    int sink = 0;
    for (int i = 0; i < 300_000; i++) { // warm up, so the measured loop runs compiled code
      sink += ring.ownerOf(keys[i & 1023]).length();
      sink += ring.ownerOf((long) i * 0x9E3779B97F4A7C15L).length();
    }
    int calls = 1_000_000;
    long before = threads.getCurrentThreadAllocatedBytes();
    for (int i = 0; i < calls; i++) {
      sink += ring.ownerOf(keys[i & 1023]).length();
      sink += ring.ownerOf((long) i * 0x9E3779B97F4A7C15L).length();
    }
    long allocated = threads.getCurrentThreadAllocatedBytes() - before;
    // One allocation per call would be at least 16 MB; allow a little for the measuring itself.
    assertThat(allocated).as("bytes allocated by %s lookups", 2 * calls).isLessThan(64 * 1024);
    assertThat(sink).isNotZero();
  }

  @Test
  void everyMemberOwnsSomeKeysWithTheDefaultVirtualNodes() {
    HashRing ring = HashRing.of(THREE);
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < 1_000; i++) {
      seen.add(ring.ownerOf(utf8("user:" + i)));
    }
    assertThat(seen).containsExactlyInAnyOrderElementsOf(THREE);
  }
}
