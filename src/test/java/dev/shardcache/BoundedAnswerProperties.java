package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.Entry;
import dev.shardcache.internal.proto.GetAllResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;

/**
 * {@link BoundedAnswer}, the byte bound of a {@code GetAll} answer, and the caller's rule of asking
 * again for the keys it lists: over any values (some keys without one) and any bound, asking again
 * until nothing is listed answers every value exactly once and nothing else, each answer within its
 * bound (framing and the list included) unless it holds a single entry, and every answer that lists
 * keys holds at least one entry. Run time: a few seconds.
 */
class BoundedAnswerProperties {

  @Property(tries = 200)
  void askingAgainAnswersEveryValueOnceEachAnswerWithinItsBound(
      @ForAll("values") List<Integer> valueSizes,
      @ForAll @IntRange(min = ShardcacheNode.MIN_BATCH_BYTES, max = 200_000) int bound) {
    // The keys asked for, with the size of their value (-1: no value).
    Map<String, Integer> asked = new LinkedHashMap<>();
    for (int i = 0; i < valueSizes.size(); i++) {
      asked.put("key-" + i, valueSizes.get(i));
    }
    Map<String, Integer> answered = new LinkedHashMap<>();
    List<String> pending = new ArrayList<>(asked.keySet());
    int calls = 0;
    while (!pending.isEmpty()) {
      calls++;
      assertThat(calls).as("calls").isLessThanOrEqualTo(valueSizes.size());
      BoundedAnswer<Entry> answer = new BoundedAnswer<>("getAll", "c", bound, pending.size(), true);
      for (int position = 0; position < pending.size(); position++) {
        int size = asked.get(pending.get(position));
        if (size >= 0) {
          answer.offer(position, entry(pending.get(position), size));
        }
      }
      GetAllResponse response = build(answer);
      if (response.getEntriesCount() > 1) {
        assertThat(response.getSerializedSize()).as("answer bytes").isLessThanOrEqualTo(bound);
      }
      if (response.getNotIncludedCount() > 0) {
        assertThat(response.getEntriesCount())
            .as("entries of an answer that lists keys")
            .isPositive();
      }
      Set<String> inEntries = new HashSet<>();
      for (Entry entry : response.getEntriesList()) {
        String key = entry.getKey().toStringUtf8();
        assertThat(inEntries.add(key)).as("answered twice in one answer: %s", key).isTrue();
        assertThat(answered.put(key, entry.getValue().size()))
            .as("answered again: %s", key)
            .isNull();
      }
      List<String> again = new ArrayList<>();
      for (int position : response.getNotIncludedList()) {
        String key = pending.get(position);
        assertThat(inEntries).as("listed and answered").doesNotContain(key);
        again.add(key);
      }
      pending = again;
    }
    Map<String, Integer> withValues = new LinkedHashMap<>(asked);
    withValues.values().removeIf(size -> size < 0);
    assertThat(answered).isEqualTo(withValues);
  }

  @Example
  void aCallerThatCannotAskAgainGetsAnErrorNamingTheLimitNotAShortAnswer() {
    BoundedAnswer<Entry> answer =
        new BoundedAnswer<>("getAll", "users", ShardcacheNode.MIN_BATCH_BYTES, 3, false);
    answer.offer(0, entry("a", 10_000));
    assertThatThrownBy(() -> answer.offer(1, entry("b", 10_000)))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED))
        .hasMessageContaining("'users'")
        .hasMessageContaining("maxBatchBytes");
  }

  @Example
  void aValueLargerThanTheBoundTravelsAlone() {
    BoundedAnswer<Entry> answer =
        new BoundedAnswer<>("getAll", "c", ShardcacheNode.MIN_BATCH_BYTES, 3, true);
    answer.offer(0, entry("huge", 3 * ShardcacheNode.MIN_BATCH_BYTES));
    answer.offer(1, entry("small", 10));
    answer.offer(2, entry("huge2", 3 * ShardcacheNode.MIN_BATCH_BYTES));
    GetAllResponse response = build(answer);
    assertThat(response.getEntriesList())
        .extracting(e -> e.getKey().toStringUtf8())
        .containsExactly("huge");
    assertThat(response.getNotIncludedList()).containsExactly(1, 2);
  }

  @Example
  void aCallerRefusesAListingItCouldNotEndAskingAgainFor() {
    assertThat(BoundedAnswer.checkedNotIncluded(List.of(2, 0), 3, 1, position -> position == 1))
        .containsExactly(2, 0);
    assertThat(BoundedAnswer.checkedNotIncluded(List.of(), 3, 0, position -> false)).isEmpty();
    for (List<Integer> listed : List.of(List.of(3), List.of(-1), List.of(0, 0), List.of(1))) {
      assertThatThrownBy(
              () -> BoundedAnswer.checkedNotIncluded(listed, 3, 1, position -> position == 1))
          .as("listing %s", listed)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("answered or was not asked for");
    }
    assertThatThrownBy(() -> BoundedAnswer.checkedNotIncluded(List.of(0), 3, 0, position -> false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("no value");
  }

  @Provide
  Arbitrary<List<Integer>> values() {
    // Some keys without a value (-1); values from empty to larger than the smallest bound.
    return Arbitraries.frequencyOf(
            Tuple.of(1, Arbitraries.just(-1)),
            Tuple.of(6, Arbitraries.integers().between(0, 4_000)),
            Tuple.of(1, Arbitraries.integers().between(4_000, 40_000)))
        .list()
        .ofMinSize(1)
        .ofMaxSize(400);
  }

  private static GetAllResponse build(BoundedAnswer<Entry> answer) {
    return GetAllResponse.newBuilder()
        .addAllEntries(answer.entries())
        .addAllNotIncluded(answer.notIncluded())
        .build();
  }

  private static Entry entry(String key, int valueBytes) {
    return Entry.newBuilder()
        .setKey(ByteString.copyFromUtf8(key))
        .setValue(ByteString.copyFrom(new byte[valueBytes]))
        .setAgeMillis(123_456)
        .setHot(true)
        .build();
  }
}
