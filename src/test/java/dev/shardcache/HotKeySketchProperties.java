package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * {@link HotKeySketch}, the owner's frequency filter for hot keys: before it ages an estimate never
 * under-counts; aging halves every estimate and the read count; a counter never exceeds the read
 * count; a key read once is never hot; and a key with at least its share of the reads is.
 *
 * <p>Hashes are drawn from a small range half the time so that keys repeat and collide in a narrow
 * sketch (width 16), where over-counting is common and under-counting would show. Run time: about a
 * second.
 */
class HotKeySketchProperties {
  private static final int WIDTH = 16;

  @Property(tries = 300)
  void beforeAgingAnEstimateIsNeverBelowTheTrueCount(@ForAll("reads") List<Integer> reads) {
    HotKeySketch sketch = new HotKeySketch(WIDTH, reads.size() + 2, 64);
    Map<Integer, Integer> counts = new HashMap<>();
    for (int hash : reads) {
      sketch.record(hash);
      counts.merge(hash, 1, Integer::sum);
    }
    counts.forEach(
        (hash, count) ->
            assertThat(sketch.estimate(hash)).as("hash %s", hash).isGreaterThanOrEqualTo(count));
    assertThat(sketch.samples()).isEqualTo(reads.size());
  }

  @Property(tries = 300)
  void agingHalvesEveryEstimateAndTheReadCount(
      @ForAll("reads") List<Integer> reads, @ForAll("reads") List<Integer> probes) {
    HotKeySketch sketch = new HotKeySketch(WIDTH, Integer.MAX_VALUE, 64);
    reads.forEach(sketch::record);
    Set<Integer> keys = new HashSet<>(reads);
    keys.addAll(probes);
    Map<Integer, Integer> before = new HashMap<>();
    keys.forEach(hash -> before.put(hash, sketch.estimate(hash)));
    int samplesBefore = sketch.samples();

    sketch.age();

    keys.forEach(
        hash ->
            assertThat(sketch.estimate(hash)).as("hash %s", hash).isEqualTo(before.get(hash) / 2));
    assertThat(sketch.samples()).isEqualTo(samplesBefore / 2);
  }

  @Property(tries = 200)
  void theSketchAgesItselfAfterEachSamplePeriodAndNoCounterPassesTheReadCount(
      @ForAll("reads") List<Integer> reads) {
    int period = 8;
    HotKeySketch sketch = new HotKeySketch(WIDTH, period, 4);
    for (int hash : reads) {
      sketch.record(hash);
      assertThat(sketch.samples()).isLessThan(period);
      assertThat(sketch.estimate(hash)).isLessThanOrEqualTo(sketch.samples());
    }
  }

  @Property(tries = 200)
  void aKeyReadOnceIsNeverHot(@ForAll int hash) {
    HotKeySketch sketch = new HotKeySketch(WIDTH, 1_000, 1_000);
    assertThat(sketch.record(hash)).isFalse();
  }

  @Example
  void aKeyWithItsShareOfTheReadsIsHotAndARareOneIsNot() {
    HotKeySketch sketch = new HotKeySketch(1024, 100_000, 10); // hot: >= 1/10 of the reads
    for (int i = 0; i < 1_000; i++) {
      sketch.record(i); // a thousand keys, each read once
    }
    boolean hot = false;
    for (int i = 0; i < 200; i++) {
      hot = sketch.record(-7); // one key read 200 times: 1/6 of all reads
    }
    assertThat(hot).isTrue();
    assertThat(sketch.record(3)).as("a key read twice, 1/600 of the reads").isFalse();
  }

  @Provide
  Arbitrary<List<Integer>> reads() {
    Arbitrary<Integer> hash =
        Arbitraries.oneOf(Arbitraries.integers().between(-8, 8), Arbitraries.integers());
    return hash.list().ofMaxSize(300);
  }
}
