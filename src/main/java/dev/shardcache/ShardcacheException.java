package dev.shardcache;

import org.jspecify.annotations.Nullable;

/**
 * The base of the unchecked exceptions Shardcache throws for failures that are not programming
 * errors: a peer that answered with an error, a loader that failed, a codec that could not decode.
 * Programming errors (null arguments, values over a configured limit, conflicting configuration)
 * raise the standard {@link NullPointerException}, {@link IllegalArgumentException} and {@link
 * IllegalStateException} instead.
 *
 * <p>Every message says what went wrong and, where there is one, what to do about it.
 */
public class ShardcacheException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public ShardcacheException(String message) {
    super(message);
  }

  public ShardcacheException(String message, @Nullable Throwable cause) {
    super(message, cause);
  }
}
