package dev.shardcache.jcache;

import dev.shardcache.Codec;
import dev.shardcache.CodecException;
import dev.shardcache.Codecs;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Turns the keys and values of a JCache cache, objects of any type, into bytes and back. This is
 * what gives the caches store-by-value semantics: the cache holds bytes, and every read decodes a
 * fresh copy.
 *
 * <p>The first byte tags the form: strings (UTF-8), longs and integers get compact, deterministic
 * forms of their own; anything else is Java-serialized and decoded only through the core's
 * allow-listed codec ({@link Codecs#serializable}), so bytes from a peer can only become JDK value
 * classes or classes matching the configured patterns. A key or value that is none of the compact
 * types and not {@link Serializable} is rejected with {@link IllegalArgumentException}.
 *
 * <p>Keys must encode deterministically (equal keys, equal bytes, on every node): the compact forms
 * do; a serialized key does as long as its class's fields serialize in a fixed order (no {@code
 * HashMap} or {@code HashSet} inside). Thread-safe and immutable.
 */
final class ObjectCodec implements Codec<Object> {
  private static final byte STRING = 'S';
  private static final byte LONG = 'L';
  private static final byte INT = 'I';
  private static final byte SERIALIZED = 'J';

  private final Codec<Serializable> serialized;
  private final List<String> allowed;

  /**
   * @param allowed class names or package patterns ({@code com.example.*}, {@code com.example.**})
   *     whose instances may be deserialized, besides the JDK value classes
   */
  ObjectCodec(List<String> allowed) {
    this.allowed = List.copyOf(allowed);
    this.serialized = Codecs.serializable(Serializable.class, this.allowed.toArray(String[]::new));
  }

  @Override
  public byte[] encode(Object value) {
    if (value instanceof String s) {
      byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
      return ByteBuffer.allocate(1 + utf8.length).put(STRING).put(utf8).array();
    }
    if (value instanceof Long l) {
      return ByteBuffer.allocate(1 + Long.BYTES).put(LONG).putLong(l).array();
    }
    if (value instanceof Integer i) {
      return ByteBuffer.allocate(1 + Integer.BYTES).put(INT).putInt(i).array();
    }
    if (!(value instanceof Serializable serializable)) {
      throw new IllegalArgumentException(
          value.getClass().getName()
              + " is not Serializable;"
              + " Shardcache's JCache caches store by value and need keys and values that are strings,"
              + " numbers or Serializable");
    }
    byte[] body = serialized.encode(serializable);
    return ByteBuffer.allocate(1 + body.length).put(SERIALIZED).put(body).array();
  }

  @Override
  public Object decode(byte[] bytes) {
    if (bytes.length == 0) {
      throw new CodecException("an encoded JCache key or value is never empty");
    }
    ByteBuffer body = ByteBuffer.wrap(bytes, 1, bytes.length - 1);
    return switch (bytes[0]) {
      case STRING -> Codecs.utf8().decode(remaining(body));
      case LONG -> {
        checkLength(bytes, Long.BYTES);
        yield body.getLong();
      }
      case INT -> {
        checkLength(bytes, Integer.BYTES);
        yield body.getInt();
      }
      case SERIALIZED -> serialized.decode(remaining(body));
      default ->
          throw new CodecException(
              "unknown JCache encoding tag "
                  + bytes[0]
                  + "; was this cache written by another codec?");
    };
  }

  private static byte[] remaining(ByteBuffer body) {
    byte[] rest = new byte[body.remaining()];
    body.get(rest);
    return rest;
  }

  private static void checkLength(byte[] bytes, int expected) {
    if (bytes.length != 1 + expected) {
      throw new CodecException("expected " + (1 + expected) + " bytes, got " + bytes.length);
    }
  }

  @Override
  public String toString() {
    return "ObjectCodec" + allowed;
  }
}
