package dev.shardcache.spring;

import static java.util.Objects.requireNonNull;

import dev.shardcache.Codec;
import dev.shardcache.CodecException;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;
import org.springframework.cache.support.NullValue;

/**
 * The value codec of a Spring cache: one marker byte, then the value codec's bytes. A cached {@code
 * null} (Spring's {@link NullValue#INSTANCE}, stored when {@code allowNullValues} is on) is the
 * single byte {@code 0}, whatever the value codec; any other value is {@code 1} followed by its
 * bytes. So the value codec never sees the marker, and a JSON or protobuf codec needs no special
 * case for it. Thread-safe and deterministic when the wrapped codec is.
 */
final class NullMarkingCodec implements Codec<Object> {
  private static final byte NULL = 0;
  private static final byte VALUE = 1;

  private final Codec<Object> values;

  NullMarkingCodec(Codec<Object> values) {
    this.values = requireNonNull(values, "values");
  }

  @Override
  public byte[] encode(Object value) {
    if (value == NullValue.INSTANCE) {
      return new byte[] {NULL};
    }
    byte[] encoded = values.encode(value);
    byte[] marked = new byte[encoded.length + 1];
    marked[0] = VALUE;
    System.arraycopy(encoded, 0, marked, 1, encoded.length);
    return marked;
  }

  @Override
  public Object decode(byte[] bytes) {
    if (bytes.length == 1 && bytes[0] == NULL) {
      return NullValue.INSTANCE;
    }
    if (bytes.length == 0 || bytes[0] != VALUE) {
      throw new CodecException(
          "not a value of a Spring cache: expected marker byte 0 or 1, got "
              + (bytes.length == 0 ? "no bytes" : bytes[0] + " of " + bytes.length + " bytes"));
    }
    return values.decode(Arrays.copyOfRange(bytes, 1, bytes.length));
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof NullMarkingCodec other && other.values.equals(values);
  }

  @Override
  public int hashCode() {
    return values.hashCode() + 1;
  }

  @Override
  public String toString() {
    return "NullMarking(" + values + ")";
  }
}
