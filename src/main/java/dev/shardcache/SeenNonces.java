package dev.shardcache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * The nonces of the cluster tokens a node has accepted, kept while their tokens could still be
 * accepted, so that a token is accepted once.
 *
 * <p>A token of time {@code t} is accepted while the node's clock reads within {@code t ± window};
 * its nonce is kept until {@code t + window + margin} by that clock, so it outlives the token by
 * the margin (a clock stepped back by less than the margin cannot reopen the token). With the
 * members' clocks in step a nonce is kept about {@code window + margin}.
 *
 * <p><b>Bounded by count, failing closed.</b> At most {@code capacity} nonces are kept. The cache
 * must never forget a nonce early, which is what eviction by size would do (and Caffeine evicts by
 * frequency, not age: the newest nonce may go first). So when it is full the node refuses new calls
 * ({@link Outcome#FULL}) until nonces expire, instead of evicting; the cache's own size bound,
 * above {@code capacity}, is only a backstop against a race of concurrent inserts. Memory: about
 * 160 bytes a nonce (measured), so {@code capacity} × 160 bytes when full ({@code maxNonces},
 * default 500,000: about 80 MB), and {@code calls per second × (window + margin) × 160} bytes below
 * that.
 *
 * <p>Thread-safe.
 */
final class SeenNonces {
  /** What {@link #remember} found. */
  enum Outcome {
    /** The nonce was new and is now kept: accept the call. */
    FIRST,
    /** The nonce was kept already: the token is replayed. */
    SEEN,
    /** The nonce was new but the cache is full: refuse the call for now. */
    FULL
  }

  private record Nonce(long high, long low) {}

  private final long capacity;
  private final long keepMillis;
  private final Cache<Nonce, Long> seen;

  /**
   * @param capacity the most nonces kept
   * @param keep how long past its time a token's nonce is kept: the window plus a margin
   * @param clockMillis the clock tokens are checked against
   */
  SeenNonces(long capacity, Duration keep, LongSupplier clockMillis) {
    this.capacity = capacity;
    this.keepMillis = keep.toMillis();
    // The clock is read once per nonce, to turn its keep-until time into a duration; Caffeine
    // counts that duration on its own monotonic ticker, so stepping the clock cannot shorten it.
    this.seen =
        Caffeine.newBuilder()
            .maximumSize(2 * capacity)
            .expireAfter(
                Expiry.creating(
                    (Nonce nonce, Long until) ->
                        Duration.ofMillis(Math.max(0, until - clockMillis.getAsLong()))))
            .executor(Runnable::run) // expiry is swept by the calls that insert, not by a pool
            .build();
  }

  long capacity() {
    return capacity;
  }

  /**
   * Remembers the nonce of a token of time {@code millis}, unless it was seen or the cache is full.
   */
  Outcome remember(long high, long low, long millis) {
    Nonce nonce = new Nonce(high, low);
    if (seen.getIfPresent(nonce) != null) {
      return Outcome.SEEN;
    }
    if (seen.estimatedSize() >= capacity) {
      seen.cleanUp(); // the estimate may still count expired nonces
      if (seen.estimatedSize() >= capacity) {
        return Outcome.FULL;
      }
    }
    long until = millis + keepMillis;
    return seen.asMap().putIfAbsent(nonce, until) == null ? Outcome.FIRST : Outcome.SEEN;
  }

  /** The nonces kept now (an estimate). */
  long size() {
    return seen.estimatedSize();
  }
}
