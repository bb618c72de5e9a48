package dev.shardcache;

import org.jspecify.annotations.Nullable;

/**
 * Thrown by a write ({@link DistributedCache#put put}, {@link DistributedCache#invalidate invalidate})
 * when the node that owns the key cannot be reached: the connection was refused, the call ran past
 * its deadline, or the peer is backing off after recent failures. The write was not applied on the
 * owner; retry it, or check the peer named in the message.
 *
 * <p>Reads never throw this exception: when the owner is unreachable, a read loads the value on the
 * calling node instead.
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
