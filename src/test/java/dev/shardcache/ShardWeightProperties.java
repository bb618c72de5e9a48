package dev.shardcache;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.LongRange;

/**
 * The byte bound of a {@link Shard} ({@code maximumWeight}): whatever is written into it (values of
 * any size up to the bound and past it, overwrites that grow or shrink a key's value, deletes,
 * compare-and-sets), once maintenance has run ({@link Shard#sweep}, which ends in Caffeine's {@code
 * cleanUp}) the values held weigh at most the bound, and the shard's own figure is the sum of what
 * each held value weighs by the rule stated on {@link Shard#ENTRY_OVERHEAD_BYTES}: encoded key and
 * value plus the overhead, computed here independently from the entries {@code forEach} visits.
 * Tombstones weigh their encoded key plus the overhead, within their own bound.
 *
 * <p>Run time: 200 sequences of up to 300 writes, about a second.
 */
class ShardWeightProperties {
  private static final long MIN_TOMBSTONE_BYTES =
      Shard.MIN_TOMBSTONE_CAPACITY * Shard.ENTRY_OVERHEAD_BYTES;

  /** One write: a value of {@code size} characters for key {@code k<key>}, or a delete. */
  record Write(int key, int size, Kind kind) {}

  enum Kind {
    PUT,
    DELETE,
    COMPARE_AND_SET
  }

  @Provide
  Arbitrary<List<Write>> writes() {
    Arbitrary<Integer> keys = Arbitraries.integers().between(0, 199);
    // Mostly small values, some larger than the whole bound, some empty.
    Arbitrary<Integer> sizes =
        Arbitraries.frequencyOf(
            Tuple.of(6, Arbitraries.integers().between(0, 200)),
            Tuple.of(3, Arbitraries.integers().between(200, 4_000)),
            Tuple.of(1, Arbitraries.integers().between(4_000, 40_000)));
    Arbitrary<Kind> kinds =
        Arbitraries.frequencyOf(
            Tuple.of(7, Arbitraries.just(Kind.PUT)),
            Tuple.of(2, Arbitraries.just(Kind.DELETE)),
            Tuple.of(1, Arbitraries.just(Kind.COMPARE_AND_SET)));
    return Combinators.combine(keys, sizes, kinds).as(Write::new).list().ofMaxSize(300);
  }

  @Property(tries = 200)
  void valuesNeverWeighMoreThanTheBoundAfterMaintenance(
      @ForAll("writes") List<Write> writes,
      @ForAll @LongRange(min = 0, max = 200_000) long maximumWeight) {
    CacheConfig<String, String> config =
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).maximumWeight(maximumWeight).build();
    CacheCounters counters = new CacheCounters();
    Shard<String, String> shard = new Shard<>(config, counters);
    long timestamp = 1_000_000;
    int writesSinceSweep = 0;
    for (Write write : writes) {
      String key = "k" + write.key();
      Version version = new Version(++timestamp, 3L);
      switch (write.kind()) {
        case PUT -> shard.merge(key, Versioned.of("v".repeat(write.size()), version), 0, 1);
        case DELETE -> shard.merge(key, Versioned.tombstone(version), 0, 1);
        case COMPARE_AND_SET ->
            shard.compareAndSet(
                key, current -> true, () -> Versioned.of("c".repeat(write.size()), version), 1);
      }
      if (++writesSinceSweep == 50) {
        writesSinceSweep = 0;
        checkWithinBound(shard, maximumWeight);
      }
    }
    checkWithinBound(shard, maximumWeight);
    assertThat(counters.puts.sum())
        .as("values stored")
        .isEqualTo(writes.stream().filter(w -> w.kind() != Kind.DELETE).count());
  }

  private static void checkWithinBound(Shard<String, String> shard, long maximumWeight) {
    shard.sweep();
    Map<String, Long> weights = new HashMap<>();
    long tombstoneBytes = 0;
    for (Map.Entry<String, Versioned<String>> entry : entries(shard).entrySet()) {
      String value = entry.getValue().value();
      long keyBytes = entry.getKey().getBytes(UTF_8).length;
      if (value == null) {
        tombstoneBytes += keyBytes + Shard.ENTRY_OVERHEAD_BYTES;
      } else {
        weights.put(
            entry.getKey(), keyBytes + value.getBytes(UTF_8).length + Shard.ENTRY_OVERHEAD_BYTES);
      }
    }
    long held = weights.values().stream().mapToLong(Long::longValue).sum();
    assertThat(held).as("bytes of the values held, %s", weights).isLessThanOrEqualTo(maximumWeight);
    assertThat(shard.weightedSize()).as("the shard's own figure").hasValue(held);
    assertThat(tombstoneBytes)
        .as("bytes of the tombstones held")
        .isLessThanOrEqualTo(Math.max(maximumWeight, MIN_TOMBSTONE_BYTES));
    assertThat(shard.tombstoneWeight()).hasValue(tombstoneBytes);
  }

  private static Map<String, Versioned<String>> entries(Shard<String, String> shard) {
    Map<String, Versioned<String>> entries = new HashMap<>();
    shard.forEach((key, stored) -> entries.put(key, stored.entry()));
    return entries;
  }
}
