package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.ring.HashRing;
import dev.shardcache.ring.KeyHash;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** How a batch of writes is shared out among holders: {@link HolderGroups}. */
class HolderGroupsTest {
  private static final Predicate<String> SELF_IS_A = "a:1"::equals;

  private static HolderGroups.Pending<String> write(int index, String... holders) {
    return new HolderGroups.Pending<>(index, "w" + index, List.of(holders));
  }

  private static List<Integer> indexes(List<HolderGroups.Pending<String>> writes) {
    return writes.stream().map(write -> write.index).toList();
  }

  @Test
  void eachWriteGoesToItsFirstHolderThatIsNotThisNodeAndHoldersGetOneGroupEach() {
    List<HolderGroups.Pending<String>> writes =
        List.of(
            write(0, "b:1", "c:1"),
            write(1, "a:1", "c:1"), // this node holds it too: the next holder
            write(2, "c:1", "b:1"),
            write(3, "b:1", "a:1"),
            write(4, "a:1")); // only this node: nobody to send it to
    List<HolderGroups.Pending<String>> exhausted = new ArrayList<>();

    Map<String, List<HolderGroups.Pending<String>>> groups =
        HolderGroups.byNextHolder(writes, SELF_IS_A, exhausted);

    assertThat(groups.keySet()).containsExactly("b:1", "c:1");
    assertThat(indexes(groups.get("b:1"))).containsExactly(0, 3);
    assertThat(indexes(groups.get("c:1"))).containsExactly(1, 2);
    assertThat(indexes(exhausted)).containsExactly(4);
  }

  @Test
  void aWriteNotAppliedIsGroupedForItsNextHolderUntilNoneIsLeft() {
    HolderGroups.Pending<String> write = write(7, "b:1", "a:1", "c:1");
    List<HolderGroups.Pending<String>> exhausted = new ArrayList<>();

    assertThat(HolderGroups.byNextHolder(List.of(write), SELF_IS_A, exhausted))
        .containsOnlyKeys("b:1");
    assertThat(HolderGroups.byNextHolder(List.of(write), SELF_IS_A, exhausted))
        .containsOnlyKeys("c:1");
    assertThat(HolderGroups.byNextHolder(List.of(write), SELF_IS_A, exhausted)).isEmpty();
    assertThat(exhausted).containsExactly(write);
  }

  @Test
  void groupsByOwnerAsTheRingDecides() {
    HashRing ring = HashRing.of(List.of("a:1", "b:1", "c:1", "d:1"));
    List<HolderGroups.Pending<String>> writes = new ArrayList<>();
    for (int i = 0; i < 1_000; i++) {
      long hash = KeyHash.hash(("key-" + i).getBytes(StandardCharsets.UTF_8));
      writes.add(new HolderGroups.Pending<>(i, "key-" + i, ring.ownersOf(hash, 2)));
    }
    List<HolderGroups.Pending<String>> exhausted = new ArrayList<>();

    Map<String, List<HolderGroups.Pending<String>>> groups =
        HolderGroups.byNextHolder(writes, SELF_IS_A, exhausted);

    assertThat(exhausted).isEmpty();
    assertThat(groups).doesNotContainKey("a:1");
    assertThat(groups.values().stream().mapToInt(List::size).sum()).isEqualTo(1_000);
    groups.forEach(
        (holder, group) -> {
          for (HolderGroups.Pending<String> write : group) {
            byte[] key = write.write.getBytes(StandardCharsets.UTF_8);
            List<String> owners = ring.ownersOf(key, 2);
            String expected = owners.get(0).equals("a:1") ? owners.get(1) : owners.get(0);
            assertThat(holder).as("holder of %s", write.write).isEqualTo(expected);
          }
        });
  }

  @Test
  void chunksKeepOrderAndBothLimitsAndPutAnOversizedItemAlone() {
    List<Integer> sizes = List.of(3, 3, 3, 10, 1, 1, 1, 1, 1, 4);

    List<List<Integer>> chunks = HolderGroups.chunks(sizes, size -> size, 4, 7);

    assertThat(chunks)
        .containsExactly(
            List.of(3, 3), List.of(3), List.of(10), List.of(1, 1, 1, 1), List.of(1, 4));
    List<Integer> many = IntStream.range(0, 2_500).boxed().toList();
    List<List<Integer>> byCount = HolderGroups.chunks(many, i -> 1, 1_000, Long.MAX_VALUE);
    assertThat(byCount).extracting(List::size).containsExactly(1_000, 1_000, 500);
    assertThat(HolderGroups.chunks(List.<Integer>of(), i -> 1, 10, 10)).isEmpty();
  }
}
