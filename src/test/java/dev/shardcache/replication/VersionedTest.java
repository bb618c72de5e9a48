package dev.shardcache.replication;

import static dev.shardcache.replication.HybridLogicalClock.pack;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class VersionedTest {

  private static final long NODE_A = Version.writerId("10.0.0.1:7070");
  private static final long NODE_B = Version.writerId("10.0.0.2:7070");

  private static Version at(long millis, long writer) {
    return new Version(pack(millis, 0), writer);
  }

  @Test
  void aValueHoldsItsValueAndVersion() {
    Versioned<String> v = Versioned.of("Ada", at(1_000, NODE_A));
    assertThat(v.value()).isEqualTo("Ada");
    assertThat(v.version()).isEqualTo(at(1_000, NODE_A));
    assertThat(v.isTombstone()).isFalse();
  }

  @Test
  void aTombstoneHoldsNoValue() {
    Versioned<String> t = Versioned.tombstone(at(1_000, NODE_A));
    assertThat(t.value()).isNull();
    assertThat(t.isTombstone()).isTrue();
    assertThat(t.version()).isEqualTo(at(1_000, NODE_A));
  }

  @Test
  void nullsAreRejected() {
    assertThatThrownBy(() -> Versioned.of(null, at(1, NODE_A)))
        .isInstanceOf(NullPointerException.class)
        .hasMessageContaining("value");
    assertThatThrownBy(() -> Versioned.of("x", null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> Versioned.tombstone(null)).isInstanceOf(NullPointerException.class);
  }

  @Test
  void mergeKeepsTheNewerCopyWhicheverSideItIsOn() {
    Versioned<String> older = Versioned.of("old", at(1_000, NODE_A));
    Versioned<String> newer = Versioned.of("new", at(1_001, NODE_A));
    assertThat(Versioned.merge(older, newer)).isSameAs(newer);
    assertThat(Versioned.merge(newer, older)).isSameAs(newer);
  }

  @Test
  void concurrentWritesWithEqualTimestampsAreDecidedByWriter() {
    Versioned<String> fromA = Versioned.of("a", at(1_000, NODE_A));
    Versioned<String> fromB = Versioned.of("b", at(1_000, NODE_B));
    Versioned<String> winner = NODE_A > NODE_B ? fromA : fromB;
    assertThat(Versioned.merge(fromA, fromB)).isSameAs(winner);
    assertThat(Versioned.merge(fromB, fromA)).isSameAs(winner);
  }

  @Test
  void equalVersionsReturnTheFirstArgument() {
    Versioned<String> a = Versioned.of(new String("same"), at(1_000, NODE_A));
    Versioned<String> b = Versioned.of(new String("same"), at(1_000, NODE_A));
    assertThat(Versioned.merge(a, b)).isSameAs(a);
    assertThat(Versioned.merge(b, a)).isSameAs(b);
  }

  @Test
  void aDeleteIsNotUndoneByALateOlderWrite() {
    Versioned<String> write = Versioned.of("v1", at(1_000, NODE_A));
    Versioned<String> delete = Versioned.tombstone(at(1_005, NODE_B));
    // The replica saw the delete first, then the older write arrived late.
    assertThat(Versioned.merge(delete, write)).isSameAs(delete);
  }

  @Test
  void aWriteAfterADeleteBringsTheKeyBack() {
    Versioned<String> delete = Versioned.tombstone(at(1_005, NODE_B));
    Versioned<String> rewrite = Versioned.of("v2", at(1_006, NODE_A));
    assertThat(Versioned.merge(delete, rewrite)).isSameAs(rewrite);
  }

  @Test
  void everyWriteBeatsNoWriteYet() {
    Versioned<String> nothing = Versioned.tombstone(Version.ZERO);
    Versioned<String> first = Versioned.of("v", new Version(0, Long.MIN_VALUE + 1));
    assertThat(Versioned.merge(nothing, first)).isSameAs(first);
  }

  @Test
  void equalityIsByValueAndVersion() {
    assertThat(Versioned.of("x", at(1, NODE_A)))
        .isEqualTo(Versioned.of("x", at(1, NODE_A)))
        .hasSameHashCodeAs(Versioned.of("x", at(1, NODE_A)))
        .isNotEqualTo(Versioned.of("y", at(1, NODE_A)))
        .isNotEqualTo(Versioned.of("x", at(2, NODE_A)))
        .isNotEqualTo(Versioned.tombstone(at(1, NODE_A)));
    assertThat(Versioned.<String>tombstone(at(1, NODE_A)))
        .isEqualTo(Versioned.tombstone(at(1, NODE_A)));
  }

  @Test
  void toStringNamesTombstones() {
    assertThat(Versioned.tombstone(new Version(pack(1, 2), 15)).toString())
        .isEqualTo("Tombstone@Version[1.2 by f]");
    assertThat(Versioned.of("x", new Version(pack(1, 2), 15)).toString())
        .isEqualTo("Versioned[x]@Version[1.2 by f]");
  }
}
