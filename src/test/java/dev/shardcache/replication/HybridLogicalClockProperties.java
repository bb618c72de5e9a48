package dev.shardcache.replication;

import static dev.shardcache.replication.HybridLogicalClock.MAX_LOGICAL;
import static dev.shardcache.replication.HybridLogicalClock.pack;
import static dev.shardcache.replication.HybridLogicalClock.physicalMillis;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.Tuple.Tuple2;
import net.jqwik.api.constraints.LongRange;

/**
 * Properties of {@link HybridLogicalClock} over arbitrary sequences of {@code now()} and {@code
 * observe(remote)} calls, driven by a fake physical clock that stalls, creeps forward and jumps
 * backwards and forwards, sometimes below zero.
 *
 * <p>Remote timestamps are drawn both relative to the local physical clock and relative to the
 * drift bound itself (the bound, one millisecond either side), with counters at 0, arbitrary, and
 * at the edge of overflow (65534, 65535), so the clamping edge and the counter carry are hit in
 * every run rather than by luck.
 */
class HybridLogicalClockProperties {

  /** One call on the clock; the physical clock moves by {@code clockDelta} just before it. */
  sealed interface Step permits Now, Observe {
    long clockDelta();
  }

  record Now(long clockDelta) implements Step {}

  /**
   * An observe of a remote timestamp whose physical part is {@code offset} ms from the local
   * physical reading, or from the drift bound if {@code fromBound}.
   */
  record Observe(long clockDelta, boolean fromBound, long offset, int logical) implements Step {}

  /** What one call saw and returned. */
  record Call(Step step, long reading, long remote, boolean withinBound, long result) {}

  private static final long START = 1_000_000;

  // --- generators ---

  @Provide
  Arbitrary<List<Step>> steps() {
    Arbitrary<Long> delta =
        Arbitraries.frequencyOf(
            weight(6, Arbitraries.just(0L)), // a stalled clock: the counter must count
            weight(6, Arbitraries.longs().between(1, 3)),
            weight(2, Arbitraries.longs().between(-50, -1)),
            weight(1, Arbitraries.longs().between(-2 * START, 2 * START)));
    Arbitrary<Integer> logical =
        Arbitraries.frequencyOf(
            weight(3, Arbitraries.just(0)),
            weight(3, Arbitraries.integers().between(0, MAX_LOGICAL)),
            weight(2, Arbitraries.of(MAX_LOGICAL - 1, MAX_LOGICAL)));
    Arbitrary<Long> offset =
        Arbitraries.frequencyOf(
            weight(3, Arbitraries.longs().between(-1, 1)),
            weight(2, Arbitraries.longs().between(-20_000, 20_000)));
    Arbitrary<Step> now = delta.map(Now::new);
    Arbitrary<Step> observe =
        Combinators.combine(delta, Arbitraries.of(true, false), offset, logical).as(Observe::new);
    return Arbitraries.oneOf(now, observe).list().ofMinSize(1).ofMaxSize(300);
  }

  /** Drives a fresh clock through {@code steps} and records every call. */
  private static List<Call> run(List<Step> steps, long driftMillis) {
    long[] wall = {START};
    HybridLogicalClock clock =
        new HybridLogicalClock(() -> wall[0], Duration.ofMillis(driftMillis));
    List<Call> calls = new ArrayList<>();
    for (Step step : steps) {
      wall[0] += step.clockDelta();
      long reading = Math.max(0, wall[0]); // the clock clamps negative readings to 0
      if (step instanceof Observe o) {
        long base = o.fromBound() ? reading + driftMillis : reading;
        long remote = pack(Math.max(0, base + o.offset()), o.logical());
        boolean withinBound = physicalMillis(remote) <= reading + driftMillis;
        calls.add(new Call(step, reading, remote, withinBound, clock.observe(remote)));
      } else {
        calls.add(new Call(step, reading, -1, false, clock.now()));
      }
    }
    return calls;
  }

  // --- properties ---

  /**
   * Every call returns a timestamp strictly greater than every timestamp returned before and every
   * remote timestamp accepted (observed within the drift bound) before, and at least the physical
   * clock's reading with counter 0, however the physical clock moves.
   */
  @Property(tries = 1000)
  void everyTimestampIsGreaterThanAllBeforeIt(
      @ForAll("steps") List<Step> steps, @ForAll @LongRange(min = 0, max = 10_000) long drift) {
    long highest = -1; // the largest timestamp returned or accepted so far
    for (Call call : run(steps, drift)) {
      assertThat(call.result()).as("%s", call).isGreaterThan(highest);
      assertThat(call.result()).as("%s", call).isGreaterThanOrEqualTo(pack(call.reading(), 0));
      highest = call.result();
    }
  }

  /** {@code observe(r)} returns more than {@code r} whenever r is within the drift bound. */
  @Property(tries = 1000)
  void observeMovesPastEveryRemoteWithinTheBound(
      @ForAll("steps") List<Step> steps, @ForAll @LongRange(min = 0, max = 10_000) long drift) {
    for (Call call : run(steps, drift)) {
      if (call.withinBound()) {
        assertThat(call.result()).as("%s", call).isGreaterThan(call.remote());
      }
    }
  }

  /**
   * Bounded drift. Let P be the largest physical reading so far, D the drift bound, and n the
   * number of calls so far. Every timestamp is at most {@code pack(P + D, 65535) + n}: so its
   * physical part is at most P + D, plus one millisecond per 65,536 timestamps issued beyond that
   * (the counter carrying). Remote clocks, however far ahead, add nothing beyond this.
   */
  @Property(tries = 1000)
  void thePhysicalPartNeverRunsMoreThanTheDriftAheadOfTheLocalClock(
      @ForAll("steps") List<Step> steps, @ForAll @LongRange(min = 0, max = 10_000) long drift) {
    long largestReading = 0;
    long n = 0;
    for (Call call : run(steps, drift)) {
      largestReading = Math.max(largestReading, call.reading());
      n++;
      long bound = pack(largestReading + drift, MAX_LOGICAL) + n;
      assertThat(call.result())
          .as("%s, P=%s, n=%s", call, largestReading, n)
          .isLessThanOrEqualTo(bound);
      // The same bound in plain words for these short runs (n < 65,536): at most 1 ms over P + D.
      assertThat(physicalMillis(call.result())).isLessThanOrEqualTo(largestReading + drift + 1);
    }
  }

  /**
   * The clamp, alone: a remote timestamp beyond the bound moves the clock to at most {@code
   * pack(reading + D, 0)}, or one past where it already was.
   */
  @Property(tries = 1000)
  void aRemoteBeyondTheBoundMovesTheClockOnlyToTheBound(
      @ForAll("steps") List<Step> steps, @ForAll @LongRange(min = 0, max = 10_000) long drift) {
    long previous = 0;
    for (Call call : run(steps, drift)) {
      if (call.step() instanceof Observe && !call.withinBound()) {
        assertThat(call.result())
            .as("%s", call)
            .isEqualTo(Math.max(previous + 1, pack(call.reading() + drift, 0)));
      }
      previous = call.result();
    }
  }

  private static <T> Tuple2<Integer, Arbitrary<? extends T>> weight(
      int weight, Arbitrary<? extends T> arbitrary) {
    return Tuple.of(weight, arbitrary);
  }
}
