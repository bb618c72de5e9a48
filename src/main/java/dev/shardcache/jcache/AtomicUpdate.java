package dev.shardcache.jcache;

import java.util.function.Supplier;
import javax.cache.CacheException;
import org.jspecify.annotations.Nullable;

/**
 * The one retry loop of the JCache layer: read an entry, decide, compare-and-set on the owner, and
 * read again if another writer changed the entry in between. Every operation that changes an entry
 * depending on what it holds goes through here: {@code put}, {@code getAndPut} and {@code putAll},
 * {@code putIfAbsent}, both {@code replace}s and {@code getAndReplace}, both {@code remove}s,
 * {@code getAndRemove} and {@code removeAll}, {@code invoke}, and the loading and storing of loaded
 * values.
 *
 * <p>The caller gives an {@link Attempt}: from the live envelope it is handed, it decides the
 * answer and makes at most one compare-and-set. It returns {@link #retry()} if that compare-and-set
 * lost, and anything else it returns is the answer. An attempt may also treat a lost
 * compare-and-set as the answer: for {@code putIfAbsent}, losing the creation means that another
 * writer's value was there.
 *
 * <h2>Invariant</h2>
 *
 * <ul>
 *   <li><b>It retries on one thing only:</b> a compare-and-set that lost because the entry on the
 *       owner is no longer the envelope the attempt read (another writer changed its value or
 *       expiry time, created or removed it). The next attempt starts from a new read of the owner,
 *       so it never decides twice from the same stale envelope.
 *   <li><b>It never retries a failure.</b> An unreachable owner ({@link
 *       dev.shardcache.PeerUnavailableException}) or any other failure of the core ends the
 *       operation at once as a {@link CacheException} ({@link EntryStore} maps it); a failed
 *       compare-and-set was not applied, and looping on a peer that is down would only delay the
 *       error. Exceptions of user code (a writer, a listener, an entry processor) end it too.
 *   <li><b>It terminates.</b> An attempt loses only when the entry changed since its read, that is
 *       when some other compare-and-set on the key won (a write, an access-expiry update, an
 *       expiry), so every retry is paid for by progress elsewhere. Only a caller starved by a key
 *       that never stops changing could loop on; it retries at most {@value #MAX_RETRIES} times,
 *       then gives up with a {@link CacheException}.
 *   <li><b>A lost attempt leaves no trace.</b> {@link EntryStore} records events and statistics
 *       only for a compare-and-set that won. Work done inside an attempt is done again on a retry
 *       (an entry processor, and the writer it calls). Work done before the loop, such as the
 *       writer call of {@code put}, is done once.
 * </ul>
 *
 * <p>For example, {@code replace(k, a, b)} through node A races {@code remove(k)} through node B: A
 * reads the envelope of {@code a}; B reads it too; B's compare-and-set to absent wins; A's
 * compare-and-set from {@code a} to {@code b} loses; A's second attempt reads no entry and answers
 * {@code false}. Exactly one REMOVED event is fired (on B), and none for the replace.
 *
 * <p>Thread-safe and stateless between calls; blocks as the attempts and the reads block.
 */
final class AtomicUpdate<K, V> {
  /** Retries after which an operation gives up on a key that keeps changing under it. */
  static final int MAX_RETRIES = 1_000;

  private final EntryStore<K, V> entries;

  AtomicUpdate(EntryStore<K, V> entries) {
    this.entries = entries;
  }

  /** One try at an operation. */
  @FunctionalInterface
  interface Attempt<R extends @Nullable Object> {
    /**
     * Decides from {@code current}, the live envelope of the key as read at {@code now} (null if
     * absent), making at most one compare-and-set, and returns {@link AtomicUpdate#done} with the
     * answer or, if that compare-and-set lost, {@link AtomicUpdate#retry()}.
     */
    Outcome<R> from(@Nullable Envelope current, long now);
  }

  /** What an attempt came to: an answer, or a lost compare-and-set to retry. Immutable. */
  static final class Outcome<R extends @Nullable Object> {
    // NullAway 0.14 outside JSpecify mode (which needs javac 22+) takes a type variable bounded by
    // @Nullable Object for a non-null type; null is a legitimate value of R here.
    @SuppressWarnings("NullAway")
    private static final Outcome<@Nullable Object> RETRY = new Outcome<>(null);

    private final R value;

    private Outcome(R value) {
      this.value = value;
    }
  }

  /** The outcome that answers the operation with {@code value}. */
  static <R extends @Nullable Object> Outcome<R> done(R value) {
    return new Outcome<>(value);
  }

  /** The outcome that answers the operation without a value (a void or absent answer). */
  @SuppressWarnings("NullAway") // see Outcome.RETRY: null is a legitimate value of R
  static <R extends @Nullable Object> Outcome<R> doneWithoutValue() {
    return new Outcome<>(null);
  }

  /** The outcome of an attempt whose compare-and-set lost: read the entry again and retry. */
  @SuppressWarnings("unchecked") // RETRY holds no value, so it is an outcome of any type
  static <R extends @Nullable Object> Outcome<R> retry() {
    return (Outcome<R>) Outcome.RETRY;
  }

  /**
   * Runs {@code attempt} on the key, starting from {@code current}, the live envelope the caller
   * read at {@code now}; after a lost attempt it reads the entry again at the same {@code now}. One
   * instant serves the whole operation because its answer is taken at its start: the expiry checks
   * and the expiry times it sets count from then.
   */
  <R extends @Nullable Object> R run(
      KeyBytes k, K key, long now, @Nullable Envelope current, Attempt<R> attempt) {
    return loop(k, key, now, current, Reread.AT_SAME_TIME, attempt);
  }

  /**
   * Reads the key and runs {@code attempt} on what it found; each retry reads at a new time. For an
   * operation that starts over on a retry, such as an entry processor, which may run for long (it
   * may load): its expiry checks and times count from the attempt that won.
   */
  <R extends @Nullable Object> R runFromNewReads(KeyBytes k, K key, Attempt<R> attempt) {
    long now = EntryStore.now();
    return loop(k, key, now, entries.readLive(k, key, now), Reread.AT_NEW_TIME, attempt);
  }

  /**
   * Repeats {@code step}, which reads for itself, until it answers: a read-through load, whose read
   * is the core's {@code get(key, loader)} and which retries when that returns an entry it must
   * first expire. Bounded as the other loops.
   */
  <R extends @Nullable Object> R repeat(KeyBytes k, K key, Supplier<Outcome<R>> step) {
    return loop(k, key, 0L, null, Reread.NONE, (current, now) -> step.get());
  }

  private enum Reread {
    NONE,
    AT_SAME_TIME,
    AT_NEW_TIME
  }

  private <R extends @Nullable Object> R loop(
      KeyBytes k, K key, long now, @Nullable Envelope current, Reread reread, Attempt<R> attempt) {
    long at = now;
    Envelope seen = current;
    for (int retries = 0; ; retries++) {
      Outcome<R> outcome = attempt.from(seen, at);
      if (outcome != Outcome.RETRY) {
        return outcome.value;
      }
      if (retries >= MAX_RETRIES) {
        throw new CacheException(
            "cache '"
                + entries.name()
                + "': key "
                + key
                + " changed under "
                + MAX_RETRIES
                + " consecutive attempts to update it; giving up");
      }
      switch (reread) {
        case NONE -> {}
        case AT_SAME_TIME -> seen = entries.readLive(k, key, at);
        case AT_NEW_TIME -> {
          at = EntryStore.now();
          seen = entries.readLive(k, key, at);
        }
      }
    }
  }
}
