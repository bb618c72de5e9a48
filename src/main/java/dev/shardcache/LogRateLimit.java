package dev.shardcache;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Lets one warning through per interval, so a fault that repeats on every entry or every call (a
 * peer refusing entries, a skewed clock) is reported without flooding the log. The first attempt
 * always passes. Thread-safe and lock-free: of attempts racing in one interval, one passes.
 */
final class LogRateLimit {
  private static final long NEVER = Long.MIN_VALUE;

  private final long intervalMillis;
  private final AtomicLong lastPassedMillis = new AtomicLong(NEVER);

  LogRateLimit(long intervalMillis) {
    this.intervalMillis = intervalMillis;
  }

  /** Whether a warning at {@code nowMillis} may be logged; if so, the interval starts again. */
  boolean tryPass(long nowMillis) {
    long last = lastPassedMillis.get();
    // Compared apart: nowMillis - NEVER would overflow and keep every warning back.
    if (last != NEVER && nowMillis - last < intervalMillis) {
      return false;
    }
    return lastPassedMillis.compareAndSet(last, nowMillis);
  }
}
