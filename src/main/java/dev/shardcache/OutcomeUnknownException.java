package dev.shardcache;

import org.jspecify.annotations.Nullable;

/**
 * Thrown by a write ({@link DistributedCache#put put}, {@link DistributedCache#invalidate
 * invalidate}, {@link DistributedCache#compareAndSet compareAndSet}) whose holder received it but
 * did not answer within {@link CacheConfig#remoteTimeout()}, while it still answers heartbeats: the
 * holder is slow, not down, and the write may or may not have been applied. Read the key to learn
 * which, or repeat the write: a repeated put or invalidate is harmless, since the newer version
 * wins wherever both arrive. A repeated {@code compareAndSet} is not: read the current value first.
 *
 * <p>Unlike {@link PeerUnavailableException}, this never means "not applied"; and the slow holder
 * keeps its keys (only the failure detector decides that a peer is down).
 */
public final class OutcomeUnknownException extends ShardcacheException {
  private static final long serialVersionUID = 1L;

  private final String peer;

  public OutcomeUnknownException(String peer, String message, @Nullable Throwable cause) {
    super(message, cause);
    this.peer = peer;
  }

  /** The "host:port" of the holder that did not answer in time. */
  public String peer() {
    return peer;
  }
}
