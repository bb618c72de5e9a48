package dev.shardcache.membership;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The detector driven by a fake clock (plain nanosecond readings). The figures asserted here are
 * the ones in the class documentation, for the defaults: threshold 8, 100 ms minimum deviation, 1 s
 * acceptable pause, heartbeats every second.
 */
class PhiAccrualFailureDetectorTest {
  private static final long MS = 1_000_000L;
  private static final long SECOND = 1_000 * MS;
  private static final long START = 5 * SECOND; // any origin works; not zero, to catch misuse

  /** Feeds {@code count} heartbeats {@code interval} apart; returns the time of the last one. */
  private static long beatRegularly(
      PhiAccrualFailureDetector detector, long from, int count, long interval) {
    long now = from;
    for (int i = 0; i < count; i++) {
      detector.heartbeat(now);
      now += interval;
    }
    return now - interval;
  }

  @Test
  void regularHeartbeatsKeepPhiNearZero() {
    PhiAccrualFailureDetector detector = PhiAccrualFailureDetector.withDefaults();
    long now = START;
    for (int i = 0; i < 300; i++) {
      detector.heartbeat(now);
      // just before the next beat is due, and even a little after it
      assertThat(detector.phi(now + SECOND)).isLessThan(1e-30);
      assertThat(detector.phi(now + 1_500 * MS)).isLessThan(1e-6);
      assertThat(detector.isAvailable(now + SECOND)).isTrue();
      now += SECOND;
    }
  }

  @Test
  void silenceRaisesPhiMonotonicallyAndCrossesTheThresholdAt2522Ms() {
    PhiAccrualFailureDetector detector = PhiAccrualFailureDetector.withDefaults();
    long last = beatRegularly(detector, START, 150, SECOND);

    double previous = -1;
    for (long t = 0; t <= 5 * SECOND; t += MS) {
      double phi = detector.phi(last + t);
      assertThat(phi).as("phi at %s ms of silence", t / MS).isGreaterThanOrEqualTo(previous);
      previous = phi;
    }
    // mean 1 s + pause 1 s = 2 s expected; deviation held at the 100 ms minimum; phi(y=0) = log10 2
    assertThat(detector.phi(last + 2 * SECOND)).isCloseTo(Math.log10(2), within(1e-12));
    assertThat(detector.phi(last + 2_200 * MS)).isCloseTo(1.643, within(0.001));
    assertThat(detector.phi(last + 2_400 * MS)).isCloseTo(4.737, within(0.001));
    assertThat(detector.phi(last + 3 * SECOND)).isCloseTo(37.58, within(0.01));
    // crossing: 2 s + 5.226 deviations of 100 ms
    assertThat(detector.unavailableAfterNanos()).isCloseTo(2_522_598_665L, within(2L));
    assertThat(detector.isAvailable(last + 2_520 * MS)).isTrue();
    assertThat(detector.isAvailable(last + 2_525 * MS)).isFalse();
    assertThat(detector.isAvailable(last + 60 * SECOND)).isFalse();
  }

  @Test
  void theThresholdIsCrossedExactlyAtTheStatedDeadline() {
    PhiAccrualFailureDetector detector = PhiAccrualFailureDetector.withDefaults();
    long last = beatRegularly(detector, START, 20, SECOND);
    long deadline = detector.unavailableAfterNanos();
    assertThat(detector.phi(last + deadline - 1_000)).isLessThan(8.0);
    assertThat(detector.phi(last + deadline + 1_000)).isGreaterThanOrEqualTo(8.0);
  }

  @Test
  void aHeartbeatMakesASuspectedPeerAvailableAgain() {
    PhiAccrualFailureDetector detector = PhiAccrualFailureDetector.withDefaults();
    long last = beatRegularly(detector, START, 10, SECOND);
    assertThat(detector.isAvailable(last + 10 * SECOND)).isFalse();
    detector.heartbeat(last + 10 * SECOND);
    assertThat(detector.isAvailable(last + 10 * SECOND)).isTrue();
    assertThat(detector.phi(last + 10 * SECOND)).isLessThan(1e-6);
  }

  @Test
  void jitterWidensTheDeadlineAndNoJitteredBeatIsSuspected() {
    PhiAccrualFailureDetector detector = PhiAccrualFailureDetector.withDefaults();
    Random random = new Random(42);
    long now = START;
    detector.heartbeat(now);
    double maxPhiAtArrival = 0;
    for (int i = 0; i < 1_000; i++) {
      long interval = 500 * MS + (long) (random.nextDouble() * SECOND); // uniform 0.5 s .. 1.5 s
      now += interval;
      maxPhiAtArrival = Math.max(maxPhiAtArrival, detector.phi(now));
      assertThat(detector.isAvailable(now)).as("beat %s after %s ms", i, interval / MS).isTrue();
      detector.heartbeat(now);
    }
    // uniform over 1 s: sd = 1 s / sqrt(12) = 289 ms, so 1 s + 1 s + 5.226 x 289 ms = 3.5 s
    assertThat(detector.unavailableAfterNanos()).isBetween(3_300 * MS, 3_700 * MS);
    assertThat(maxPhiAtArrival).isLessThan(0.05);
  }

  @Test
  void aPauseUnderTheAcceptablePauseIsTolerated() {
    PhiAccrualFailureDetector detector = PhiAccrualFailureDetector.withDefaults();
    long last = beatRegularly(detector, START, 100, SECOND);
    // a 0.9 s GC pause on top of the 1 s period
    assertThat(detector.phi(last + 1_900 * MS)).isLessThan(0.2);
    assertThat(detector.isAvailable(last + 1_900 * MS)).isTrue();
  }

  @Test
  void beforeTheFirstHeartbeatThePeerIsAvailableAndPhiIsZero() {
    PhiAccrualFailureDetector detector = PhiAccrualFailureDetector.withDefaults();
    assertThat(detector.phi(START)).isZero();
    assertThat(detector.phi(Long.MAX_VALUE)).isZero();
    assertThat(detector.isAvailable(START + 3600 * SECOND)).isTrue();
    assertThat(detector.unavailableAfterNanos()).isEqualTo(Long.MAX_VALUE);
  }

  @Test
  void afterTheFirstHeartbeatTheEstimateGovernsTheDeadline() {
    PhiAccrualFailureDetector detector =
        PhiAccrualFailureDetector.builder().firstHeartbeatEstimate(Duration.ofMillis(500)).build();
    detector.heartbeat(START);
    // 500 ms estimate + 1 s pause + 5.226 x 100 ms
    assertThat(detector.unavailableAfterNanos()).isCloseTo(2_022_598_665L, within(2L));
    assertThat(detector.isAvailable(START + 2_000 * MS)).isTrue();
    assertThat(detector.isAvailable(START + 2_100 * MS)).isFalse();
  }

  @Test
  void aLongOutageDoesNotBlindTheDetectorToTheNextOne() {
    PhiAccrualFailureDetector detector = PhiAccrualFailureDetector.withDefaults();
    long last = beatRegularly(detector, START, 150, SECOND);
    long back = last + 60 * SECOND; // a 60 s outage, then the peer returns
    assertThat(detector.isAvailable(back - 1)).isFalse();
    detector.heartbeat(back);
    assertThat(detector.isAvailable(back)).isTrue();
    // The outage was recorded as 2.52 s, not 60 s: 99 x 1 s + 2.52 s gives mean 1.015 s, sd 151 ms,
    // so a second crash is detected 2.81 s after the last beat (recorded in full: after 33 s).
    assertThat(detector.unavailableAfterNanos()).isCloseTo(2_807 * MS, within(MS));
    assertThat(detector.isAvailable(back + 3 * SECOND)).isFalse();
  }

  @Test
  void aPeerThatReallySlowsDownIsLearnedWithinAFewBeats() {
    PhiAccrualFailureDetector detector = PhiAccrualFailureDetector.withDefaults();
    long now = beatRegularly(detector, START, 150, SECOND);
    List<Integer> suspectedBeats = new ArrayList<>();
    for (int i = 0; i < 50; i++) { // the peer now beats every 5 s
      now += 5 * SECOND;
      if (!detector.isAvailable(now)) {
        suspectedBeats.add(i);
      }
      detector.heartbeat(now);
    }
    // Each capped interval raises the mean and the deviation, hence the next cap: the first 6 beats
    // arrive after the deadline, every later one before it.
    assertThat(suspectedBeats).containsExactly(0, 1, 2, 3, 4, 5);
  }

  @Test
  void duplicateAndOutOfOrderHeartbeatsAreIgnored() {
    PhiAccrualFailureDetector detector = PhiAccrualFailureDetector.withDefaults();
    long last = beatRegularly(detector, START, 150, SECOND);
    long before = detector.unavailableAfterNanos();
    detector.heartbeat(last);
    detector.heartbeat(last - 10 * MS);
    assertThat(detector.unavailableAfterNanos()).isEqualTo(before);
    assertThat(detector.phi(last + 2 * SECOND)).isCloseTo(Math.log10(2), within(1e-12));
    // a reading before the last heartbeat counts as no silence
    assertThat(detector.phi(last - SECOND)).isEqualTo(detector.phi(last));
  }

  @Test
  void aLowerThresholdSuspectsSooner() {
    PhiAccrualFailureDetector eager = PhiAccrualFailureDetector.builder().threshold(1).build();
    PhiAccrualFailureDetector patient = PhiAccrualFailureDetector.builder().threshold(12).build();
    beatRegularly(eager, START, 50, SECOND);
    beatRegularly(patient, START, 50, SECOND);
    assertThat(eager.unavailableAfterNanos()).isLessThan(patient.unavailableAfterNanos());
    // phi = 1 at y = 1.282 deviations; phi = 12 at y = 6.292
    assertThat(eager.unavailableAfterNanos()).isCloseTo(2_128 * MS, within(MS));
    assertThat(patient.unavailableAfterNanos()).isCloseTo(2_629 * MS, within(MS));
  }

  @Test
  void eachSettingIsValidatedAndSetOnce() {
    assertThatThrownBy(() -> PhiAccrualFailureDetector.builder().threshold(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("threshold must be in [1, 1000], got 0.0");
    assertThatThrownBy(() -> PhiAccrualFailureDetector.builder().threshold(Double.NaN))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> PhiAccrualFailureDetector.builder().threshold(9).threshold(10))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("threshold was already set to 9.0");
    assertThatThrownBy(() -> PhiAccrualFailureDetector.builder().maxSampleSize(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("maxSampleSize must be in [1, 10000], got 0");
    assertThatThrownBy(() -> PhiAccrualFailureDetector.builder().minStdDeviation(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("minStdDeviation must be positive");
    assertThatThrownBy(
            () ->
                PhiAccrualFailureDetector.builder().acceptableHeartbeatPause(Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("acceptableHeartbeatPause must be zero or positive");
    assertThatThrownBy(
            () -> PhiAccrualFailureDetector.builder().firstHeartbeatEstimate(Duration.ofDays(2)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at most an hour, got PT48H");
    assertThatThrownBy(() -> PhiAccrualFailureDetector.builder().minStdDeviation(null))
        .isInstanceOf(NullPointerException.class);
    assertThat(PhiAccrualFailureDetector.builder().acceptableHeartbeatPause(Duration.ZERO).build())
        .isNotNull();
  }

  @Test
  void aWindowOfOneFollowsTheLastInterval() {
    PhiAccrualFailureDetector detector =
        PhiAccrualFailureDetector.builder()
            .maxSampleSize(1)
            .acceptableHeartbeatPause(Duration.ZERO)
            .build();
    long now = beatRegularly(detector, START, 10, SECOND);
    detector.heartbeat(now + 1_400 * MS);
    // only the 1.4 s interval remains: 1.4 s + 5.226 x 100 ms
    assertThat(detector.unavailableAfterNanos()).isCloseTo(1_922_598_665L, within(2L));
    detector.heartbeat(now + 5_000 * MS);
    // 3.6 s is past the 1.92 s deadline, so it is recorded as 1.92 s
    assertThat(detector.unavailableAfterNanos())
        .isCloseTo(1_922_598_665L + 522_598_665L, within(4L));
  }

  @Test
  void heartbeatsAndChecksFromManyThreads() throws Exception {
    PhiAccrualFailureDetector detector = PhiAccrualFailureDetector.withDefaults();
    AtomicLong clock = new AtomicLong(START);
    ExecutorService pool = Executors.newFixedThreadPool(6);
    CountDownLatch go = new CountDownLatch(1);
    try {
      List<Future<?>> tasks = new ArrayList<>();
      for (int t = 0; t < 2; t++) {
        tasks.add(
            pool.submit(
                () -> {
                  go.await();
                  for (int i = 0; i < 20_000; i++) {
                    detector.heartbeat(clock.addAndGet(SECOND / 2));
                  }
                  return null;
                }));
      }
      for (int t = 0; t < 4; t++) {
        tasks.add(
            pool.submit(
                () -> {
                  go.await();
                  for (int i = 0; i < 20_000; i++) {
                    // the clock may run ahead of the last recorded beat by the writers' pending
                    // beats, so
                    // only sanity is checked here; the end state is checked below
                    double phi = detector.phi(clock.get() + SECOND);
                    assertThat(phi).isNotNaN().isFinite().isGreaterThanOrEqualTo(0);
                  }
                  return null;
                }));
      }
      go.countDown();
      for (Future<?> task : tasks) {
        task.get(30, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    // every interval seen by the window was 0.5 s (or longer, when a thread was preempted
    // between reading the clock and calling heartbeat; shorter ones are ignored as out of order)
    assertThat(detector.isAvailable(clock.get() + SECOND)).isTrue();
  }
}
