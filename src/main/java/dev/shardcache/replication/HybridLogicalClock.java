package dev.shardcache.replication;

import static com.google.common.base.Preconditions.checkArgument;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * A hybrid logical clock (Kulkarni, Demirbas et al., "Logical Physical Clocks", 2014): timestamps
 * that stay close to wall-clock milliseconds but, like a Lamport clock, never go backwards and
 * always order a write after every write its node has seen.
 *
 * <h2>Idea</h2>
 *
 * A timestamp is one {@code long}: the physical part, milliseconds since the epoch, in the high 48
 * bits, and a 16-bit logical counter in the low 16 bits (see {@link #pack}). Comparing two
 * timestamps as longs compares them by milliseconds first and counter second, which is the order of
 * the paper's pairs {@code (l, c)}. The clock keeps one such value, the last timestamp it issued,
 * and every call moves it strictly forward:
 *
 * <ul>
 *   <li>{@link #now()} (a local write, or a send) returns the larger of "last + 1" and "the
 *       physical clock with counter 0". While the wall clock moves forward faster than events
 *       arrive, timestamps are plain milliseconds; when it stalls or jumps backwards, the counter
 *       counts on from the last timestamp.
 *   <li>{@link #observe(long)} (a receive) additionally moves past the remote timestamp, so
 *       whatever this node does next orders after what it received.
 * </ul>
 *
 * Adding one to a timestamp whose counter is at {@value #MAX_LOGICAL} carries into the
 * milliseconds, exactly as an addition does: the counter never wraps around to a smaller value, so
 * monotonicity holds even in the (theoretical) case of 65,536 events in one millisecond; the clock
 * then runs one millisecond ahead of the wall clock until the wall clock catches up.
 *
 * <h2>Bounded forward drift</h2>
 *
 * A node whose wall clock is wildly fast would, through plain HLC rules, drag every clock it talks
 * to forward with it, and from then on every write in the cluster would carry a timestamp from the
 * future. So {@link #observe(long)} trusts a remote timestamp only up to {@code maxForwardDrift}
 * ahead of the local physical clock: if the remote's physical part is more than that ahead, the
 * clock advances only to {@code physical + maxForwardDrift} (with counter 0), and the result is
 * then <em>not</em> greater than the remote timestamp. Within the bound, {@code observe(r)} is
 * greater than {@code r}, as in the paper.
 *
 * <p>What this guarantees, and what the property tests check: let {@code P} be the largest physical
 * reading the clock has taken, {@code D} the drift bound in milliseconds and {@code n} the number
 * of calls of {@link #now()} and {@link #observe(long)} so far. Then every timestamp issued is at
 * most {@code pack(P + D, 65535) + n}. In words: the physical part exceeds {@code P + D} only
 * through the counter carrying, which takes 65,536 timestamps beyond {@code pack(P + D, 65535)},
 * and each such burst moves it by one millisecond. The clock follows the local wall clock plus at
 * most {@code D}, never a remote clock.
 *
 * <p>The price of clamping: a write from a node more than {@code D} ahead may carry a timestamp
 * greater than anything this node issues for a while, so with last-writer-wins it beats this node's
 * later writes to the same key until this node's clock catches up. Keep clocks in sync (NTP) and
 * {@code D} small compared to how long a key lives.
 *
 * <h2>Contract</h2>
 *
 * Thread-safe and lock-free: the state is one {@link AtomicLong} advanced by compare-and-set, so
 * concurrent callers receive distinct timestamps and each caller's timestamps increase. The
 * physical clock is read once per call, outside the compare-and-set loop; a reading made stale by a
 * concurrent call only means the result is taken from "last + 1" instead. No method accepts or
 * returns {@code null}. The clock lives in memory: a restarted node relies on its wall clock having
 * moved past the timestamps it issued before, which holds unless it restarts faster than its clock
 * had drifted ahead (at most {@code D}) or its wall clock was set back.
 *
 * <p>Timestamps are non-negative: the physical part is limited to {@link #MAX_PHYSICAL_MILLIS} (the
 * year 6429), so the top bit of a timestamp is always 0 and signed comparison orders them. Physical
 * readings outside {@code [0, MAX_PHYSICAL_MILLIS]} are clamped into that range.
 */
public final class HybridLogicalClock {

  /** The number of low bits holding the logical counter: {@value}. */
  public static final int LOGICAL_BITS = 16;

  /** The largest logical counter: {@value}. One more carries into the milliseconds. */
  public static final int MAX_LOGICAL = (1 << LOGICAL_BITS) - 1;

  /**
   * The largest physical part a timestamp can hold: {@code 2^47 - 1} ms after the epoch, in the
   * year 6429. It keeps the top bit of every timestamp 0, so timestamps compare as signed longs.
   */
  public static final long MAX_PHYSICAL_MILLIS = (1L << (63 - LOGICAL_BITS)) - 1;

  private final LongSupplier physicalClock;
  private final long maxForwardDriftMillis;
  private final Duration maxForwardDrift;

  /** The last timestamp issued (by now or observe); only moves forward, by compare-and-set. */
  private final AtomicLong last = new AtomicLong();

  /**
   * Creates a clock that starts below every timestamp (its first {@link #now()} returns at least
   * 1).
   *
   * @param physicalMillis the wall clock in milliseconds since the epoch, typically {@code
   *     System::currentTimeMillis}; it may stall or jump backwards, and readings outside {@code [0,
   *     MAX_PHYSICAL_MILLIS]} are clamped into that range. It must be thread-safe if the clock is
   *     shared between threads
   * @param maxForwardDrift how far ahead of the local physical clock a remote timestamp is followed
   *     by {@link #observe(long)}; truncated to whole milliseconds; zero follows no remote clock
   *     ahead of this one
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code maxForwardDrift} is negative
   */
  public HybridLogicalClock(LongSupplier physicalMillis, Duration maxForwardDrift) {
    this.physicalClock = Objects.requireNonNull(physicalMillis, "physicalMillis");
    Objects.requireNonNull(maxForwardDrift, "maxForwardDrift");
    checkArgument(
        !maxForwardDrift.isNegative(), "maxForwardDrift must not be negative: %s", maxForwardDrift);
    this.maxForwardDrift = maxForwardDrift;
    // Saturate rather than overflow: any drift this long means "no bound" in practice.
    this.maxForwardDriftMillis =
        maxForwardDrift.compareTo(Duration.ofMillis(MAX_PHYSICAL_MILLIS)) >= 0
            ? MAX_PHYSICAL_MILLIS
            : maxForwardDrift.toMillis();
  }

  /**
   * Creates a clock on {@link System#currentTimeMillis()}.
   *
   * @param maxForwardDrift see {@link #HybridLogicalClock(LongSupplier, Duration)}
   * @return a new clock
   * @throws NullPointerException if {@code maxForwardDrift} is null
   * @throws IllegalArgumentException if {@code maxForwardDrift} is negative
   */
  public static HybridLogicalClock onSystemClock(Duration maxForwardDrift) {
    return new HybridLogicalClock(System::currentTimeMillis, maxForwardDrift);
  }

  /**
   * Returns a timestamp for a local event, such as a write or a message sent: strictly greater than
   * every timestamp this clock returned before and every remote timestamp it observed within the
   * drift bound (see {@link #observe(long)}), and at least the physical clock (with counter 0).
   *
   * @return the new timestamp, positive
   * @throws IllegalStateException if the clock has reached {@link Long#MAX_VALUE} (which takes a
   *     physical clock in the year 6429)
   */
  public long now() {
    return advanceTo(readPhysical() << LOGICAL_BITS);
  }

  /**
   * Moves the clock past a timestamp received from another node and returns a new timestamp for the
   * receive event: strictly greater than every timestamp this clock returned before and every
   * remote timestamp it observed within the drift bound, at least the physical clock (with counter
   * 0), and greater than {@code remote} if {@code remote}'s physical part is at most {@code
   * maxForwardDrift} ahead of the physical clock.
   *
   * <p>If it is further ahead, {@code remote} is clamped: the clock advances only to {@code
   * pack(physical + maxForwardDrift, 0)} (or by one, if it was already there), and the result may
   * be smaller than {@code remote}. A node with a wildly fast clock therefore cannot drag this
   * clock, and through it the cluster's clocks, forward without bound.
   *
   * @param remote a timestamp issued by another node's clock; non-negative
   * @return the new timestamp, positive
   * @throws IllegalArgumentException if {@code remote} is negative (no clock issues one)
   * @throws IllegalStateException if the clock would have to pass {@link Long#MAX_VALUE}
   */
  public long observe(long remote) {
    checkArgument(remote >= 0, "a timestamp is never negative: %s", remote);
    long physical = readPhysical();
    long bound = Math.min(physical + maxForwardDriftMillis, MAX_PHYSICAL_MILLIS);
    long atLeast = physical << LOGICAL_BITS;
    if (physicalMillis(remote) <= bound) {
      if (remote == Long.MAX_VALUE) {
        throw exhausted();
      }
      atLeast = Math.max(atLeast, remote + 1);
    } else {
      atLeast = Math.max(atLeast, bound << LOGICAL_BITS);
    }
    return advanceTo(atLeast);
  }

  /** The drift bound given at construction. */
  public Duration maxForwardDrift() {
    return maxForwardDrift;
  }

  /**
   * Returns the physical part of a timestamp: milliseconds since the epoch.
   *
   * @param timestamp a timestamp from {@link #now()}, {@link #observe(long)} or {@link #pack}
   * @return its high 48 bits, as a non-negative number
   */
  public static long physicalMillis(long timestamp) {
    return timestamp >>> LOGICAL_BITS;
  }

  /**
   * Returns the logical counter of a timestamp.
   *
   * @param timestamp a timestamp from {@link #now()}, {@link #observe(long)} or {@link #pack}
   * @return its low 16 bits, in {@code [0, 65535]}
   */
  public static int logical(long timestamp) {
    return (int) (timestamp & MAX_LOGICAL);
  }

  /**
   * Returns the timestamp with the given parts. Timestamps compare, as longs, by {@code millis} and
   * then by {@code logical}.
   *
   * @param millis the physical part, in {@code [0, MAX_PHYSICAL_MILLIS]}
   * @param logical the counter, in {@code [0, 65535]}
   * @return {@code millis << 16 | logical}
   * @throws IllegalArgumentException if a part is out of its range
   */
  public static long pack(long millis, int logical) {
    checkArgument(
        millis >= 0 && millis <= MAX_PHYSICAL_MILLIS,
        "millis must be in [0, %s]: %s",
        MAX_PHYSICAL_MILLIS,
        millis);
    checkArgument(
        logical >= 0 && logical <= MAX_LOGICAL, "logical must be in [0, 65535]: %s", logical);
    return millis << LOGICAL_BITS | logical;
  }

  /**
   * Returns a readable form of a timestamp, {@code "<millis>.<logical>"}, for logs and messages.
   *
   * @param timestamp any timestamp
   * @return for example {@code "1700000000000.3"}
   */
  public static String format(long timestamp) {
    return physicalMillis(timestamp) + "." + logical(timestamp);
  }

  @Override
  public String toString() {
    return "HybridLogicalClock{last="
        + format(last.get())
        + ", maxForwardDrift="
        + maxForwardDrift
        + "}";
  }

  private long readPhysical() {
    long reading = physicalClock.getAsLong();
    return Math.max(0, Math.min(reading, MAX_PHYSICAL_MILLIS));
  }

  /** Sets the clock to {@code max(last + 1, atLeast)} and returns it, atomically. */
  private long advanceTo(long atLeast) {
    while (true) {
      long previous = last.get();
      if (previous == Long.MAX_VALUE) {
        throw exhausted();
      }
      long next = Math.max(previous + 1, atLeast);
      if (last.compareAndSet(previous, next)) {
        return next;
      }
    }
  }

  private static IllegalStateException exhausted() {
    return new IllegalStateException(
        "the hybrid logical clock reached its largest timestamp; the physical clock reads beyond"
            + " the year 6429");
  }
}
