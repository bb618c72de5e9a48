package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.Entry;
import dev.shardcache.internal.proto.FetchResponse;
import dev.shardcache.internal.proto.GetAllResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;

/**
 * {@link BoundedAnswer}, the byte bound of a {@code GetAll} or {@code Fetch} answer, and the
 * caller's rule of asking again for the keys it lists ({@link BoundedAnswer#checkedNotIncluded}):
 * over any entries (some keys without one; for a {@code Fetch}, tombstones too) and any bound,
 * asking again until nothing is listed answers every entry exactly once and nothing else, each
 * answer within its bound (framing and the list included) unless it holds a single entry, and every
 * answer that lists keys holds at least one entry. Run time: a few seconds.
 */
class BoundedAnswerProperties {

  @Property(tries = 300)
  void askingAgainAnswersEveryEntryOnceEachAnswerWithinItsBound(
      @ForAll("values") List<Integer> valueSizes,
      @ForAll @IntRange(min = ShardcacheNode.MIN_BATCH_BYTES, max = 200_000) int bound,
      @ForAll boolean fetch) {
    // The keys asked for, with the size of their value (-1: no entry; for a Fetch, 0: a tombstone).
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
      Answer response = fetch ? fetch(pending, asked, bound) : getAll(pending, asked, bound);
      if (response.entries().size() > 1) {
        assertThat(response.bytes()).as("answer bytes").isLessThanOrEqualTo(bound);
      }
      Map<String, Integer> inEntries = new LinkedHashMap<>();
      for (Map.Entry<String, Integer> entry : response.entries()) {
        assertThat(inEntries.put(entry.getKey(), entry.getValue()))
            .as("answered twice in one answer: %s", entry.getKey())
            .isNull();
        assertThat(answered.put(entry.getKey(), entry.getValue()))
            .as("answered again: %s", entry.getKey())
            .isNull();
      }
      List<String> positions = pending;
      List<String> again = new ArrayList<>();
      for (int position :
          BoundedAnswer.checkedNotIncluded(
              response.notIncluded(),
              pending.size(),
              inEntries.size(),
              position -> inEntries.containsKey(positions.get(position)))) {
        again.add(pending.get(position));
      }
      pending = again;
    }
    Map<String, Integer> withEntries = new LinkedHashMap<>(asked);
    withEntries.values().removeIf(size -> size < 0);
    assertThat(answered).isEqualTo(withEntries);
  }

  /**
   * An answer as the caller reads it, whatever its message: its serialized size, its entries (key
   * and value size, 0 for a tombstone) and its list of positions to ask again.
   */
  private record Answer(
      int bytes, List<Map.Entry<String, Integer>> entries, List<Integer> notIncluded) {}

  private static Answer getAll(List<String> pending, Map<String, Integer> asked, int bound) {
    BoundedAnswer<Entry> answer = new BoundedAnswer<>("getAll", "c", bound, pending.size(), true);
    for (int position = 0; position < pending.size(); position++) {
      int size = asked.get(pending.get(position));
      if (size >= 0) {
        answer.offer(position, entry(pending.get(position), size));
      }
    }
    GetAllResponse response = build(answer);
    List<Map.Entry<String, Integer>> entries = new ArrayList<>();
    for (Entry entry : response.getEntriesList()) {
      entries.add(Map.entry(entry.getKey().toStringUtf8(), entry.getValue().size()));
    }
    return new Answer(response.getSerializedSize(), entries, response.getNotIncludedList());
  }

  private static Answer fetch(List<String> pending, Map<String, Integer> asked, int bound) {
    BoundedAnswer<VersionedEntry> answer =
        new BoundedAnswer<>("fetch", "c", bound, pending.size(), true);
    for (int position = 0; position < pending.size(); position++) {
      int size = asked.get(pending.get(position));
      if (size >= 0) {
        answer.offer(position, versioned(pending.get(position), size));
      }
    }
    FetchResponse response =
        FetchResponse.newBuilder()
            .addAllEntries(answer.entries())
            .addAllNotIncluded(answer.notIncluded())
            .build();
    List<Map.Entry<String, Integer>> entries = new ArrayList<>();
    for (VersionedEntry entry : response.getEntriesList()) {
      entries.add(
          Map.entry(entry.getKey().toStringUtf8(), entry.hasValue() ? entry.getValue().size() : 0));
    }
    return new Answer(response.getSerializedSize(), entries, response.getNotIncludedList());
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

  @Example
  void aFetchOfACallerThatCannotAskAgainFailsWithAnErrorNamingTheLimit() {
    BoundedAnswer<VersionedEntry> answer =
        new BoundedAnswer<>("fetch", "users", ShardcacheNode.MIN_BATCH_BYTES, 3, false);
    answer.offer(0, versioned("a", 10_000));
    answer.offer(1, versioned("tombstone", 0));
    assertThatThrownBy(() -> answer.offer(2, versioned("b", 10_000)))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED))
        .hasMessageContaining("fetch answer of cache 'users'")
        .hasMessageContaining("maxBatchBytes");
  }

  @Provide
  Arbitrary<List<Integer>> values() {
    // Some keys without an entry (-1); values from empty to larger than the smallest bound.
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

  /** A copy as a {@code Fetch} answers it; of {@code valueBytes} 0, a tombstone. */
  private static VersionedEntry versioned(String key, int valueBytes) {
    VersionedEntry.Builder entry =
        VersionedEntry.newBuilder()
            .setKey(ByteString.copyFromUtf8(key))
            .setTimestamp(Long.MAX_VALUE)
            .setWriter(Long.MIN_VALUE)
            .setAgeMillis(Long.MAX_VALUE);
    return valueBytes == 0
        ? entry.build()
        : entry.setValue(ByteString.copyFrom(new byte[valueBytes])).build();
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
