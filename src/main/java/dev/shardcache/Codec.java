package dev.shardcache;

/**
 * Turns keys or values of one type into bytes and back, so that they can cross the wire between
 * nodes and be hashed onto the ring.
 *
 * <p>A codec used for keys must be <em>deterministic</em>: equal keys must encode to equal bytes on
 * every node and in every version, or two nodes would disagree about which node owns a key. The
 * codecs in {@link Codecs} are deterministic.
 *
 * <p>Implementations must be thread-safe and must never return {@code null}. A codec that cannot
 * encode or decode its input throws {@link CodecException} (or any runtime exception, which callers
 * wrap in one); Shardcache never falls back to Java serialization.
 *
 * @param <T> the type encoded
 */
public interface Codec<T> {

  /** Returns the bytes of {@code value}. The caller owns the returned array and may keep it. */
  byte[] encode(T value);

  /**
   * Returns the value encoded in {@code bytes}. Implementations must validate their input and throw
   * {@link CodecException} for bytes that no call to {@link #encode} could have produced.
   */
  T decode(byte[] bytes);
}
