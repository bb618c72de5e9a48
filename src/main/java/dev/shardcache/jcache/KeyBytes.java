package dev.shardcache.jcache;

import dev.shardcache.Codec;
import dev.shardcache.CodecException;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * A JCache key as the core sees it: the key's encoded bytes, compared by content. The core keeps
 * keys in a Caffeine map, so they need value equality, which a bare {@code byte[]} lacks. Immutable
 * and thread-safe: the array is never handed out.
 */
final class KeyBytes {
  /** Encodes a {@link KeyBytes} as its bytes; deterministic, as a key codec must be. */
  static final Codec<KeyBytes> CODEC =
      new Codec<>() {
        @Override
        public byte[] encode(KeyBytes value) {
          return value.bytes.clone();
        }

        @Override
        public KeyBytes decode(byte[] bytes) {
          if (bytes.length == 0) {
            throw new CodecException("a JCache key is never encoded in zero bytes");
          }
          return new KeyBytes(bytes.clone());
        }

        @Override
        public String toString() {
          return "KeyBytes.CODEC";
        }
      };

  private final byte[] bytes;
  private final int hash;

  /** Takes ownership of {@code bytes}: the caller must not change the array afterwards. */
  KeyBytes(byte[] bytes) {
    this.bytes = bytes;
    this.hash = Arrays.hashCode(bytes);
  }

  /** Returns the encoded key; callers must not modify it. */
  byte[] bytes() {
    return bytes;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof KeyBytes other && other.hash == hash && Arrays.equals(other.bytes, bytes);
  }

  @Override
  public int hashCode() {
    return hash;
  }

  @Override
  public String toString() {
    return "KeyBytes[" + bytes.length + " bytes]";
  }
}
