package dev.shardcache;

import org.jspecify.annotations.Nullable;

/**
 * Thrown by the reading methods of a {@link DistributedCache} when the {@link CacheLoader} failed
 * for a key, on this node or on the node that owns the key: the loader threw, or returned {@code
 * null}. Nothing is cached for the key, so the next read calls the loader again.
 *
 * <p>When the loader ran on this node, {@link #getCause()} is the exception it threw. When it ran
 * on the owner, the loader's exception did not cross the wire: the message names the owner and
 * carries the exception's class and message.
 */
public final class CacheLoadException extends ShardcacheException {
  private static final long serialVersionUID = 1L;

  public CacheLoadException(String message, @Nullable Throwable cause) {
    super(message, cause);
  }
}
