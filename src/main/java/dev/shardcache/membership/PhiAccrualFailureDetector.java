package dev.shardcache.membership;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;
import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * The phi-accrual failure detector (Hayashibara, Défago, Yared and Katayama, 2004) for one
 * monitored peer. <b>Internal, not API.</b>
 *
 * <h2>The idea</h2>
 *
 * <p>A fixed timeout ("dead after 3 s of silence") is either too slow on a quiet network or too
 * jumpy on a busy one. Instead, this detector remembers how far apart the peer's last heartbeats
 * arrived and, at any moment, asks: <em>given that history, how unlikely is it that the next
 * heartbeat is still on its way after this much silence?</em> That improbability, on a log scale,
 * is phi:
 *
 * <pre>
 *   phi(t) = -log10( P(an interval is longer than t) )       t = time since the last heartbeat
 * </pre>
 *
 * <p>phi = 1 means a 10% chance that the peer is merely late, phi = 2 a 1% chance, phi = 8 one in a
 * hundred million. Callers pick a threshold (default {@value #DEFAULT_THRESHOLD}) and treat the
 * peer as unavailable once phi reaches it. A low threshold detects a crash sooner and suspects live
 * peers more often; a high one the reverse.
 *
 * <h2>The model: a normal distribution, approximated</h2>
 *
 * <p>The intervals are modelled as <b>normally distributed</b>, with the mean and standard
 * deviation of the last {@code maxSampleSize} intervals (default {@value
 * #DEFAULT_MAX_SAMPLE_SIZE}). Shardcache's heartbeats come from a timer, so they arrive at a
 * regular rhythm with some jitter: a normal curve fits that, and its tail falls off fast, so phi
 * climbs steeply once a heartbeat is clearly overdue. The alternative, an exponential distribution
 * (used by Cassandra), assumes arrivals with no rhythm at all; its phi only grows linearly with the
 * silence (phi = t / (mean · ln 10)), which tolerates bursty traffic but reaches 8 only after 18
 * mean intervals of silence (18 s at one heartbeat a second, against 2.5 s here). Two corrections
 * keep the normal model from being too eager:
 *
 * <ul>
 *   <li>the standard deviation used is at least {@code minStdDeviation} (default 100 ms): a peer
 *       that has been perfectly regular would otherwise have a standard deviation near zero, and a
 *       single 10 ms hiccup would look like a 10-sigma event;
 *   <li>{@code acceptableHeartbeatPause} (default 1 s) is added to the mean: a pause that short (a
 *       GC pause, a busy event loop, a lost packet re-sent) is expected and does not raise phi
 *       much.
 * </ul>
 *
 * <p>The normal tail is computed with the logistic approximation of the normal CDF by Bowling et
 * al. (2009), {@code P(X <= mean + y·sd) ≈ 1 / (1 + e^-(1.5976 y + 0.070566 y^3))} (absolute error
 * under 1.5e-4 everywhere). In that form phi has a closed expression that never underflows:
 *
 * <pre>
 *   y   = (t - (mean + acceptableHeartbeatPause)) / max(sd, minStdDeviation)
 *   z   = 1.5976 y + 0.070566 y^3
 *   phi = ln(1 + e^z) / ln 10
 * </pre>
 *
 * <p>Its far tail is thinner than the true normal's, so a given threshold is reached a little
 * sooner: phi = 8 is reached at y = 5.226 (exactly: {@code threshold·ln 10 = ln(1 + e^z)} solved
 * for y), where the exact normal phi would be 7.06; the exact normal reaches 8 at y = 5.61. With
 * the default minimum deviation of 100 ms that is 39 ms earlier. In exchange phi is a smooth,
 * strictly increasing function of the silence, finite for any silence, computed without special
 * cases.
 *
 * <h2>Worked figures (the defaults)</h2>
 *
 * <p>Heartbeats every 1 s with no jitter: mean 1 s, deviation raised to the 100 ms minimum,
 * expected arrival 1 s + 1 s pause = 2 s after the previous one. Then phi is 10^-38 at 1 s of
 * silence, log10(2) = 0.30 at 2 s, 1.64 at 2.2 s, 4.74 at 2.4 s, 7.92 at 2.52 s, 8.24 at 2.53 s and
 * 37.6 at 3 s: the peer becomes unavailable {@code 2 s + 5.226 × 100 ms ≈ 2.52 s} after its last
 * heartbeat. In general it becomes unavailable {@link #unavailableAfterNanos} after the last
 * heartbeat: {@code mean + acceptableHeartbeatPause + 5.226 · max(sd, minStdDeviation)} at the
 * default threshold.
 *
 * <h2>Invariants</h2>
 *
 * <ul>
 *   <li><b>Monotonic.</b> Between two heartbeats, phi never decreases as time passes (and so a peer
 *       once unavailable stays so until its next heartbeat).
 *   <li><b>Zero before the first heartbeat.</b> A peer never heard from has phi 0 and is available:
 *       the detector starts watching at the first heartbeat. A caller that wants an unheard-of peer
 *       to become suspect calls {@link #heartbeat} once when it starts watching.
 *   <li><b>A bootstrap estimate.</b> At the first heartbeat the window holds one made-up interval
 *       of {@code firstHeartbeatEstimate} (default 1 s), so phi is meaningful from the start; real
 *       intervals push it out of the window like any other sample.
 *   <li><b>An outage cannot blind the detector.</b> An interval longer than the point at which the
 *       peer was already unavailable is recorded as that point, not as its full length. A 60-second
 *       outage recorded in full would inflate the deviation of the window so much (to about 5.9 s
 *       among 99 one-second samples) that the next crash would take over 30 s to detect; recorded
 *       at its 2.5 s cap, the next crash is still detected in 2.8 s. The cap still lets the
 *       detector learn a peer that really slowed down: each capped interval raises the mean and the
 *       deviation, and so the next cap.
 *   <li><b>Only forward intervals count.</b> A heartbeat at or before the last one (a duplicate, or
 *       a caller's clock reading raced by another thread's) is ignored.
 * </ul>
 *
 * <p>Times are {@link System#nanoTime()}-style readings passed in by the caller, so tests drive the
 * detector with a fake clock and production code passes {@code System.nanoTime()}; all readings
 * given to one detector must come from the same clock.
 *
 * <p>This class is thread-safe: heartbeats are serialized on a lock, and {@link #phi} and {@link
 * #isAvailable} read an immutable snapshot without locking. No method blocks beyond that short lock
 * (heartbeat is O({@code maxSampleSize})). Arguments are non-null.
 */
public final class PhiAccrualFailureDetector {

  /** Default {@linkplain Builder#threshold threshold} of phi: {@value}. */
  public static final double DEFAULT_THRESHOLD = 8.0;

  /** Default {@linkplain Builder#maxSampleSize number of intervals remembered}: {@value}. */
  public static final int DEFAULT_MAX_SAMPLE_SIZE = 100;

  /** Default {@linkplain Builder#minStdDeviation minimum standard deviation}: 100 ms. */
  public static final Duration DEFAULT_MIN_STD_DEVIATION = Duration.ofMillis(100);

  /** Default {@linkplain Builder#acceptableHeartbeatPause acceptable pause}: 1 s. */
  public static final Duration DEFAULT_ACCEPTABLE_HEARTBEAT_PAUSE = Duration.ofSeconds(1);

  /** Default {@linkplain Builder#firstHeartbeatEstimate first interval estimate}: 1 s. */
  public static final Duration DEFAULT_FIRST_HEARTBEAT_ESTIMATE = Duration.ofSeconds(1);

  private static final double LINEAR = 1.5976;
  private static final double CUBIC = 0.070566;
  private static final double LN_10 = Math.log(10);
  private static final Duration MAX_DURATION = Duration.ofHours(1);

  /**
   * What phi is computed from, replaced whole by each heartbeat. {@code expectedNanos} is the mean
   * interval plus the acceptable pause; {@code stdDevNanos} is already raised to the minimum.
   */
  private record Snapshot(long lastHeartbeatNanos, double expectedNanos, double stdDevNanos) {}

  private final double threshold;
  private final int maxSampleSize;
  private final long minStdDeviationNanos;
  private final long acceptablePauseNanos;
  private final long firstEstimateNanos;

  /** The y (deviations past the expected arrival) at which phi equals the threshold. */
  private final double thresholdDeviations;

  private final Object lock = new Object();
  private final long[] intervals; // a ring buffer; guarded by lock
  private int size; // guarded by lock
  private int nextSlot; // guarded by lock
  private volatile @Nullable Snapshot snapshot; // null until the first heartbeat

  private PhiAccrualFailureDetector(
      double threshold,
      int maxSampleSize,
      Duration minStdDeviation,
      Duration acceptableHeartbeatPause,
      Duration firstHeartbeatEstimate) {
    this.threshold = threshold;
    this.maxSampleSize = maxSampleSize;
    this.minStdDeviationNanos = minStdDeviation.toNanos();
    this.acceptablePauseNanos = acceptableHeartbeatPause.toNanos();
    this.firstEstimateNanos = firstHeartbeatEstimate.toNanos();
    this.thresholdDeviations = deviationsAt(threshold);
    this.intervals = new long[maxSampleSize];
  }

  /** Returns a detector with all the defaults. */
  public static PhiAccrualFailureDetector withDefaults() {
    return builder().build();
  }

  /** Returns a builder of a detector; every setting has a default. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Records a heartbeat from the peer received at {@code nowNanos}. A reading at or before the last
   * heartbeat's is ignored.
   */
  public void heartbeat(long nowNanos) {
    synchronized (lock) {
      Snapshot previous = snapshot;
      if (previous == null) {
        record(firstEstimateNanos);
      } else {
        long interval = nowNanos - previous.lastHeartbeatNanos();
        if (interval <= 0) {
          return;
        }
        record(Math.min(interval, unavailableAfter(previous)));
      }
      snapshot = summarize(nowNanos);
    }
  }

  /**
   * Returns the suspicion level at {@code nowNanos}: 0 before the first heartbeat, then a value
   * that grows with the time since the last heartbeat, never decreasing until the next one. Always
   * finite and at least 0 (a reading before the last heartbeat counts as no silence).
   */
  public double phi(long nowNanos) {
    Snapshot current = snapshot;
    if (current == null) {
      return 0.0;
    }
    double silence = Math.max(0L, nowNanos - current.lastHeartbeatNanos());
    double y = (silence - current.expectedNanos()) / current.stdDevNanos();
    double z = y * (LINEAR + CUBIC * y * y);
    // ln(1 + e^z), written so that neither branch overflows or loses the small term.
    double softplus = z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
    return softplus / LN_10;
  }

  /**
   * Whether the peer is considered alive at {@code nowNanos}: {@code phi(nowNanos) < threshold}.
   */
  public boolean isAvailable(long nowNanos) {
    return phi(nowNanos) < threshold;
  }

  /** Returns the threshold of phi at which the peer counts as unavailable. */
  public double threshold() {
    return threshold;
  }

  /**
   * Returns how long after the last heartbeat phi reaches the threshold under the current history,
   * in nanoseconds (within a nanosecond or so of rounding): {@code mean + acceptableHeartbeatPause
   * + k · max(sd, minStdDeviation)}, where k is 5.226 at the default threshold. Before the first
   * heartbeat, returns {@link Long#MAX_VALUE} (a peer never heard from is never suspected).
   */
  public long unavailableAfterNanos() {
    Snapshot current = snapshot;
    return current == null ? Long.MAX_VALUE : unavailableAfter(current);
  }

  private long unavailableAfter(Snapshot s) {
    return (long) Math.ceil(s.expectedNanos() + thresholdDeviations * s.stdDevNanos());
  }

  private void record(long intervalNanos) {
    intervals[nextSlot] = intervalNanos;
    nextSlot = (nextSlot + 1) % maxSampleSize;
    size = Math.min(size + 1, maxSampleSize);
  }

  /** Two passes over at most maxSampleSize values: exact enough, and cheap at one beat a second. */
  private Snapshot summarize(long lastHeartbeatNanos) {
    double sum = 0;
    for (int i = 0; i < size; i++) {
      sum += intervals[i];
    }
    double mean = sum / size;
    double squares = 0;
    for (int i = 0; i < size; i++) {
      double d = intervals[i] - mean;
      squares += d * d;
    }
    double stdDev = Math.sqrt(squares / size);
    return new Snapshot(
        lastHeartbeatNanos,
        mean + acceptablePauseNanos,
        Math.max(stdDev, (double) minStdDeviationNanos));
  }

  /**
   * Solves phi(y) = threshold for y. From ln(1 + e^z) = threshold·ln 10, z = ln(10^threshold - 1),
   * computed as threshold·ln 10 + ln(1 - 10^-threshold) so it stays finite for large thresholds.
   * Then 0.070566 y^3 + 1.5976 y - z = 0 is a cubic with one real root (its slope is always
   * positive), which Cardano's formula gives directly.
   */
  private static double deviationsAt(double threshold) {
    double z = threshold * LN_10 + Math.log1p(-Math.pow(10, -threshold));
    double p = LINEAR / CUBIC;
    double q = -z / CUBIC;
    double root = Math.sqrt(q * q / 4 + p * p * p / 27);
    return Math.cbrt(-q / 2 + root) + Math.cbrt(-q / 2 - root);
  }

  @Override
  public String toString() {
    Snapshot current = snapshot;
    if (current == null) {
      return "PhiAccrualFailureDetector{no heartbeat yet, threshold=" + threshold + "}";
    }
    return String.format(
        Locale.ROOT,
        "PhiAccrualFailureDetector{threshold=%s, expected=%.1f ms, stdDev=%.1f ms,"
            + " unavailableAfter=%.1f ms}",
        threshold,
        current.expectedNanos() / 1e6,
        current.stdDevNanos() / 1e6,
        unavailableAfter(current) / 1e6);
  }

  /**
   * Builds a {@link PhiAccrualFailureDetector}. Every setting has a default and may be set once;
   * setting it again throws {@link IllegalStateException} naming the value already set. Bad values
   * throw {@link IllegalArgumentException} at once. Not thread-safe.
   */
  public static final class Builder {
    private double threshold = Double.NaN;
    private int maxSampleSize = -1;
    private @Nullable Duration minStdDeviation;
    private @Nullable Duration acceptableHeartbeatPause;
    private @Nullable Duration firstHeartbeatEstimate;

    private Builder() {}

    /**
     * Sets the value of phi at which the peer counts as unavailable (default {@value
     * #DEFAULT_THRESHOLD}: a one-in-10^8 chance, under the model, that the peer is merely late). A
     * lower threshold notices a crash sooner and suspects live peers more often. Below 1 (a 10%
     * chance that the peer is merely late) suspicion would be routine, and below log10(2) = 0.3 a
     * peer could be suspected at the very moment its heartbeat arrives, so such values are refused.
     *
     * @throws IllegalArgumentException if not in [1, 1000]
     */
    public Builder threshold(double threshold) {
      checkState(Double.isNaN(this.threshold), "threshold was already set to %s", this.threshold);
      checkArgument(
          threshold >= 1 && threshold <= 1000,
          "threshold must be in [1, 1000], got %s; the default 8 suits most networks, a higher"
              + " value tolerates more jitter but detects a crash later",
          threshold);
      this.threshold = threshold;
      return this;
    }

    /**
     * Sets how many of the most recent intervals the mean and deviation are computed from (default
     * {@value #DEFAULT_MAX_SAMPLE_SIZE}). More samples give a steadier estimate that adapts more
     * slowly to a change of rhythm.
     *
     * @throws IllegalArgumentException if not in [1, 10000]
     */
    public Builder maxSampleSize(int maxSampleSize) {
      checkState(
          this.maxSampleSize == -1, "maxSampleSize was already set to %s", this.maxSampleSize);
      checkArgument(
          maxSampleSize >= 1 && maxSampleSize <= 10_000,
          "maxSampleSize must be in [1, 10000], got %s",
          maxSampleSize);
      this.maxSampleSize = maxSampleSize;
      return this;
    }

    /**
     * Sets the least standard deviation the model assumes (default 100 ms), so that a peer that has
     * been perfectly regular is not suspected at its first small delay.
     *
     * @throws IllegalArgumentException if not positive or over an hour
     */
    public Builder minStdDeviation(Duration minStdDeviation) {
      requireNonNull(minStdDeviation, "minStdDeviation");
      checkState(
          this.minStdDeviation == null,
          "minStdDeviation was already set to %s",
          this.minStdDeviation);
      checkArgument(
          isPositive(minStdDeviation) && fits(minStdDeviation),
          "minStdDeviation must be positive and at most an hour, got %s",
          minStdDeviation);
      this.minStdDeviation = minStdDeviation;
      return this;
    }

    /**
     * Sets a pause that is expected and added to the mean interval (default 1 s), such as a GC
     * pause on the peer. The peer is detected as dead at the earliest this long after its heartbeat
     * was due.
     *
     * @throws IllegalArgumentException if negative or over an hour
     */
    public Builder acceptableHeartbeatPause(Duration acceptableHeartbeatPause) {
      requireNonNull(acceptableHeartbeatPause, "acceptableHeartbeatPause");
      checkState(
          this.acceptableHeartbeatPause == null,
          "acceptableHeartbeatPause was already set to %s",
          this.acceptableHeartbeatPause);
      checkArgument(
          !acceptableHeartbeatPause.isNegative() && fits(acceptableHeartbeatPause),
          "acceptableHeartbeatPause must be zero or positive and at most an hour, got %s",
          acceptableHeartbeatPause);
      this.acceptableHeartbeatPause = acceptableHeartbeatPause;
      return this;
    }

    /**
     * Sets the interval assumed before any has been measured (default 1 s); set it to the heartbeat
     * period. It is one sample of the window until newer ones push it out.
     *
     * @throws IllegalArgumentException if not positive or over an hour
     */
    public Builder firstHeartbeatEstimate(Duration firstHeartbeatEstimate) {
      requireNonNull(firstHeartbeatEstimate, "firstHeartbeatEstimate");
      checkState(
          this.firstHeartbeatEstimate == null,
          "firstHeartbeatEstimate was already set to %s",
          this.firstHeartbeatEstimate);
      checkArgument(
          isPositive(firstHeartbeatEstimate) && fits(firstHeartbeatEstimate),
          "firstHeartbeatEstimate must be positive and at most an hour, got %s",
          firstHeartbeatEstimate);
      this.firstHeartbeatEstimate = firstHeartbeatEstimate;
      return this;
    }

    /** Returns the detector, with no heartbeat recorded yet. */
    public PhiAccrualFailureDetector build() {
      return new PhiAccrualFailureDetector(
          Double.isNaN(threshold) ? DEFAULT_THRESHOLD : threshold,
          maxSampleSize == -1 ? DEFAULT_MAX_SAMPLE_SIZE : maxSampleSize,
          minStdDeviation == null ? DEFAULT_MIN_STD_DEVIATION : minStdDeviation,
          acceptableHeartbeatPause == null
              ? DEFAULT_ACCEPTABLE_HEARTBEAT_PAUSE
              : acceptableHeartbeatPause,
          firstHeartbeatEstimate == null
              ? DEFAULT_FIRST_HEARTBEAT_ESTIMATE
              : firstHeartbeatEstimate);
    }

    private static boolean isPositive(Duration d) {
      return !d.isNegative() && !d.isZero();
    }

    private static boolean fits(Duration d) {
      return d.compareTo(MAX_DURATION) <= 0;
    }
  }
}
