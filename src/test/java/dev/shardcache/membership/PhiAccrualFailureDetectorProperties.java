package dev.shardcache.membership;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.LongRange;

/**
 * Properties of the detector over random settings, heartbeat histories and silences: phi never
 * decreases while the peer stays silent, and the threshold is crossed where documented.
 */
class PhiAccrualFailureDetectorProperties {
  private static final long MS = 1_000_000L;

  /**
   * A detector with random settings, fed a random history; its last heartbeat is at {@code last}.
   */
  record Fed(PhiAccrualFailureDetector detector, long last) {}

  @Provide
  Arbitrary<Fed> fedDetectors() {
    Arbitrary<Double> threshold = Arbitraries.doubles().between(1, 30);
    Arbitrary<Integer> window = Arbitraries.integers().between(1, 200);
    Arbitrary<Long> minStdDevMs = Arbitraries.longs().between(1, 1_000);
    Arbitrary<Long> pauseMs = Arbitraries.longs().between(0, 5_000);
    // intervals from 1 ns to 20 s, often regular, sometimes wild
    Arbitrary<List<Long>> intervals =
        Arbitraries.oneOf(
                Arbitraries.longs().between(1, 20_000 * MS),
                Arbitraries.longs().between(900 * MS, 1_100 * MS))
            .list()
            .ofMinSize(0)
            .ofMaxSize(300);
    Arbitrary<Long> start = Arbitraries.longs().between(-1_000_000 * MS, 1_000_000 * MS);
    return Combinators.combine(threshold, window, minStdDevMs, pauseMs, intervals, start)
        .as(
            (t, w, sd, pause, gaps, origin) -> {
              PhiAccrualFailureDetector detector =
                  PhiAccrualFailureDetector.builder()
                      .threshold(t)
                      .maxSampleSize(w)
                      .minStdDeviation(Duration.ofMillis(sd))
                      .acceptableHeartbeatPause(Duration.ofMillis(pause))
                      .build();
              long now = origin;
              detector.heartbeat(now);
              for (long gap : gaps) {
                now += gap;
                detector.heartbeat(now);
              }
              return new Fed(detector, now);
            });
  }

  @Property(tries = 2_000)
  void phiIsNonDecreasingInTheTimeSinceTheLastHeartbeat(
      @ForAll("fedDetectors") Fed fed,
      @ForAll @LongRange(min = 0, max = 3_600_000 * MS) long silence,
      @ForAll @LongRange(min = 0, max = 60_000 * MS) long more) {
    double earlier = fed.detector().phi(fed.last() + silence);
    double later = fed.detector().phi(fed.last() + silence + more);
    assertThat(earlier).isNotNaN().isFinite().isGreaterThanOrEqualTo(0);
    assertThat(later).isGreaterThanOrEqualTo(earlier);
  }

  @Property(tries = 500)
  void phiIsNonDecreasingNanosecondByNanosecond(
      @ForAll("fedDetectors") Fed fed,
      @ForAll @LongRange(min = 0, max = 60_000 * MS) long silence) {
    // floating-point rounding is where a "mathematically increasing" function can step back
    double previous = fed.detector().phi(fed.last() + silence);
    for (long step = 1; step <= 1_000; step++) {
      double phi = fed.detector().phi(fed.last() + silence + step);
      assertThat(phi).isGreaterThanOrEqualTo(previous);
      previous = phi;
    }
  }

  @Property(tries = 1_000)
  void isAvailableIsPhiBelowTheThreshold(
      @ForAll("fedDetectors") Fed fed,
      @ForAll @LongRange(min = 0, max = 120_000 * MS) long silence) {
    PhiAccrualFailureDetector detector = fed.detector();
    long now = fed.last() + silence;
    assertThat(detector.isAvailable(now)).isEqualTo(detector.phi(now) < detector.threshold());
  }

  @Property(tries = 1_000)
  void theThresholdIsCrossedAtUnavailableAfterNanos(@ForAll("fedDetectors") Fed fed) {
    PhiAccrualFailureDetector detector = fed.detector();
    long deadline = detector.unavailableAfterNanos();
    // a microsecond either side: the deadline is computed in doubles of nanoseconds
    assertThat(detector.isAvailable(fed.last() + deadline - 1_000)).isTrue();
    assertThat(detector.isAvailable(fed.last() + deadline + 1_000)).isFalse();
  }
}
