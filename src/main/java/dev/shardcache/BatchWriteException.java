package dev.shardcache;

import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Thrown by {@link DistributedCache#putAll putAll} and {@link
 * DistributedCache#invalidateAll(Iterable) invalidateAll(keys)} when some of the keys were not
 * acknowledged. The keys of a batch are written independently, each as its single write would be,
 * so one holder that cannot be reached or is slow does not stop the others:
 *
 * <ul>
 *   <li>every key named by neither set was applied on a holder and replicated, as an acknowledged
 *       {@code put} or {@code invalidate} is;
 *   <li>{@link #notApplied()}: keys that were not applied, because no holder of the key could be
 *       reached (as {@link PeerUnavailableException}) or a holder refused the call (the cause says
 *       why); retrying them is safe;
 *   <li>{@link #outcomeUnknown()}: keys a holder received but did not acknowledge in time (as
 *       {@link OutcomeUnknownException}); they may or may not have been applied: read them, or
 *       repeat their writes (a repeated put or invalidate is harmless).
 * </ul>
 *
 * <p>{@link #getCause()} is the failure of the first key named, as the single write would have
 * thrown it. Immutable.
 */
public final class BatchWriteException extends ShardcacheException {
  private static final long serialVersionUID = 1L;

  // The keys are the caller's objects, which need not be serializable: not kept when serialized.
  private final transient Set<Object> notApplied;
  private final transient Set<Object> outcomeUnknown;

  /**
   * @param notApplied the keys that were not applied
   * @param outcomeUnknown the keys whose outcome is unknown
   */
  public BatchWriteException(
      String message,
      Collection<?> notApplied,
      Collection<?> outcomeUnknown,
      @Nullable Throwable cause) {
    super(message, cause);
    this.notApplied = Collections.unmodifiableSet(new LinkedHashSet<>(notApplied));
    this.outcomeUnknown = Collections.unmodifiableSet(new LinkedHashSet<>(outcomeUnknown));
  }

  /** The keys that were not applied, as given to the write; retrying them is safe. */
  public Set<Object> notApplied() {
    return notApplied;
  }

  /** The keys that may or may not have been applied, as given to the write. */
  public Set<Object> outcomeUnknown() {
    return outcomeUnknown;
  }
}
