package dev.shardcache.objects;

import static java.util.Objects.requireNonNull;

import dev.shardcache.Codec;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * A cache key of any supported type, reduced to its canonical bytes by a {@link StableKeyEncoder}.
 * Two stable keys are equal exactly when their bytes are, and the bytes of equal application keys
 * are equal on every node, so a {@code DistributedCache<StableKey, V>} hashes, stores and finds
 * keys of arbitrary types consistently across the cluster.
 *
 * <p>A node that receives a stable key from a peer never rebuilds the application's key object from
 * it: it stores and compares the bytes. Decoding therefore instantiates nothing, whatever the bytes
 * name.
 *
 * <p>Instances are immutable and thread-safe; {@link #codec()} is the key codec to define caches
 * with.
 */
public final class StableKey {
  /** How much of a key {@link #toString} renders before cutting it. */
  private static final int MAX_RENDERED_CHARS = 200;

  private final byte[] bytes;
  private final int hash;

  private StableKey(byte[] bytes) {
    this.bytes = bytes;
    this.hash = Arrays.hashCode(bytes);
  }

  /** Wraps bytes that an encoder just wrote; they are trusted and not copied. */
  static StableKey ofValidBytes(byte[] bytes) {
    return new StableKey(bytes);
  }

  /**
   * Returns the stable key of {@code key} under the {@linkplain StableKeyEncoder#standard()
   * standard rules}.
   *
   * @throws IllegalArgumentException if {@code key} has a type that cannot be encoded by value
   */
  public static StableKey of(@Nullable Object key) {
    return StableKeyEncoder.standard().encode(key);
  }

  /**
   * Returns the key whose canonical bytes are {@code bytes}.
   *
   * @throws dev.shardcache.CodecException if the bytes are not a well-formed key
   */
  public static StableKey fromBytes(byte[] bytes) {
    byte[] copy = requireNonNull(bytes, "bytes").clone();
    StableKeyFormat.validate(copy, 0);
    return new StableKey(copy);
  }

  /** Returns a copy of the canonical bytes. */
  public byte[] toBytes() {
    return bytes.clone();
  }

  /**
   * Returns the key codec of caches keyed by stable keys: the canonical bytes as they are. Decoding
   * checks that the bytes are a well-formed key. Deterministic and thread-safe.
   */
  public static Codec<StableKey> codec() {
    return StableKeyCodec.INSTANCE;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof StableKey other && other.hash == hash && Arrays.equals(other.bytes, bytes);
  }

  @Override
  public int hashCode() {
    return hash;
  }

  /** Renders the key for logs, such as {@code StableKey("users", 42)}; long keys are cut. */
  @Override
  public String toString() {
    return "StableKey" + wrap(StableKeyFormat.validate(bytes, MAX_RENDERED_CHARS));
  }

  private static String wrap(String rendered) {
    return rendered.startsWith("(") ? rendered : "(" + rendered + ")";
  }

  private enum StableKeyCodec implements Codec<StableKey> {
    INSTANCE;

    @Override
    public byte[] encode(StableKey value) {
      return value.bytes.clone();
    }

    @Override
    public StableKey decode(byte[] bytes) {
      return fromBytes(bytes);
    }

    @Override
    public String toString() {
      return "StableKey.codec()";
    }
  }
}
