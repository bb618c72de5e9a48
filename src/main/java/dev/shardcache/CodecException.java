package dev.shardcache;

/**
 * Thrown when a {@link Codec} cannot encode a value or decode bytes, such as a malformed protobuf
 * message or a long of the wrong length. The entry involved is neither stored nor changed.
 */
public final class CodecException extends ShardcacheException {
  private static final long serialVersionUID = 1L;

  public CodecException(String message) {
    super(message);
  }

  public CodecException(String message, Throwable cause) {
    super(message, cause);
  }
}
