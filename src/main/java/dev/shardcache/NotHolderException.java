package dev.shardcache;

/**
 * Raised on a node asked to apply a write of a key it does not hold under its own ring, when it
 * could reach no holder to pass the write on to. Sent as {@code ABORTED}: the write was not applied
 * and the caller may retry (by then the views have usually converged). Never seen by users, who get
 * {@link PeerUnavailableException}.
 */
final class NotHolderException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  NotHolderException(String message) {
    super(message, null, false, false);
  }
}
