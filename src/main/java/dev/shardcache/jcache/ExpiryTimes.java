package dev.shardcache.jcache;

import java.util.logging.Level;
import java.util.logging.Logger;
import javax.cache.expiry.Duration;
import javax.cache.expiry.EternalExpiryPolicy;
import javax.cache.expiry.ExpiryPolicy;
import javax.cache.expiry.ModifiedExpiryPolicy;
import javax.cache.expiry.TouchedExpiryPolicy;
import org.jspecify.annotations.Nullable;

/**
 * Asks a cache's {@link ExpiryPolicy} for the expiry time of an entry, with the spec's rules for
 * what a policy may answer: a creation duration of {@code null}, or one that throws, means "never";
 * an access or update duration of {@code null}, or one that throws, leaves the expiry time as it
 * was; a zero duration expires the entry at once. The policy is user code, so its exceptions are
 * logged, never passed to the caller. Thread-safe if the policy is.
 */
final class ExpiryTimes {
  private static final Logger logger = Logger.getLogger(ExpiryTimes.class.getName());

  private final ExpiryPolicy policy;

  ExpiryTimes(ExpiryPolicy policy) {
    this.policy = policy;
  }

  ExpiryPolicy policy() {
    return policy;
  }

  /** The expiry time of an entry created at {@code now}. */
  long onCreation(long now) {
    Duration duration;
    try {
      duration = policy.getExpiryForCreation();
    } catch (RuntimeException e) {
      logger.log(Level.WARNING, "expiry policy failed on creation; the entry does not expire", e);
      return Envelope.ETERNAL;
    }
    return duration == null ? Envelope.ETERNAL : at(duration, now);
  }

  /** The new expiry time of an entry read at {@code now}, or {@code null} to keep it. */
  @Nullable Long onAccess(long now) {
    Duration duration;
    try {
      duration = policy.getExpiryForAccess();
    } catch (RuntimeException e) {
      logger.log(Level.WARNING, "expiry policy failed on access; the expiry time is kept", e);
      return null;
    }
    return duration == null ? null : at(duration, now);
  }

  /** The new expiry time of an entry updated at {@code now}, or {@code null} to keep it. */
  @Nullable Long onUpdate(long now) {
    Duration duration;
    try {
      duration = policy.getExpiryForUpdate();
    } catch (RuntimeException e) {
      logger.log(Level.WARNING, "expiry policy failed on update; the expiry time is kept", e);
      return null;
    }
    return duration == null ? null : at(duration, now);
  }

  /**
   * The expiry time of an entry written at {@code now} whether the write creates it or replaces it,
   * for the built-in policies whose answer does not depend on the entry ({@link
   * EternalExpiryPolicy}, {@link ModifiedExpiryPolicy}, {@link TouchedExpiryPolicy}); null for any
   * other policy. Only the exact built-in classes qualify: a subclass, or a user's policy, may
   * answer differently or count its calls, so it is asked per entry as the spec says.
   */
  @Nullable Long onAnyWrite(long now) {
    Class<?> type = policy.getClass();
    if (type == EternalExpiryPolicy.class
        || type == ModifiedExpiryPolicy.class
        || type == TouchedExpiryPolicy.class) {
      return onCreation(now);
    }
    return null;
  }

  private static long at(Duration duration, long now) {
    if (duration.isEternal()) {
      return Envelope.ETERNAL;
    }
    if (duration.isZero()) {
      return now;
    }
    long adjusted = duration.getAdjustedTime(now);
    return adjusted < now ? Envelope.ETERNAL : adjusted; // overflow: as good as never
  }
}
