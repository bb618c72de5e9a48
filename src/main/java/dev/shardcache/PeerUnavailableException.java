package dev.shardcache;

import org.jspecify.annotations.Nullable;

/**
 * Thrown by a write ({@link DistributedCache#put put}, {@link DistributedCache#invalidate
 * invalidate}, {@link DistributedCache#compareAndSet compareAndSet}) when no holder of the key
 * could be reached (the connection was refused or reset, the peer is backing off after such
 * failures, or it fails authentication), or when the node it reached does not hold the key under
 * its view of the ring and could reach no holder to pass it to. The write was not applied; retry
 * it, or check the peer named in the message. A holder that is reachable but slow gives {@link
 * OutcomeUnknownException} instead.
 *
 * <p>Reads on a member never throw this exception: when no holder is reachable, a read loads the
 * value on the calling node instead. A client-only node never loads, so there a read that would
 * load throws it.
 */
public final class PeerUnavailableException extends ShardcacheException {
  private static final long serialVersionUID = 1L;

  private final String peer;

  public PeerUnavailableException(String peer, String message, @Nullable Throwable cause) {
    super(message, cause);
    this.peer = peer;
  }

  /** The "host:port" of the peer that could not be reached. */
  public String peer() {
    return peer;
  }
}
