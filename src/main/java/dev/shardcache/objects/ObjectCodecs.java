package dev.shardcache.objects;

import static java.util.Objects.requireNonNull;

import dev.shardcache.Codec;
import dev.shardcache.CodecException;
import dev.shardcache.Codecs;
import java.io.Serializable;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Value codecs for caches whose values are arbitrary objects, such as the results of annotated
 * methods.
 *
 * <h2>Choosing a value codec</h2>
 *
 * <ul>
 *   <li>{@link #serializable(String...)}, the default of the Spring and annotation integrations:
 *       Java serialization, decoded only for the JDK value and collection classes and the classes
 *       or packages you allow. Works for any {@code Serializable} result with no mapping code;
 *       values are larger and slower to encode than with a schema'd format.
 *   <li>A codec of your own (JSON, protobuf through {@link Codecs#protobuf}, ...) wrapped as a
 *       {@code Codec<Object>}, when values must be read by other languages or versions, or are not
 *       {@code Serializable}.
 * </ul>
 *
 * There is no unrestricted Java serialization: bytes from a peer can only ever become instances of
 * allowed classes.
 */
public final class ObjectCodecs {
  private ObjectCodecs() {}

  /**
   * Returns a codec of {@code Serializable} objects through {@link Codecs#serializable(Class,
   * String...)}: decoding accepts JDK value and collection classes and the classes matching {@code
   * allowedPatterns} (class names, {@code com.example.model.*} for one package, {@code
   * com.example.**} for a package and its subpackages), and refuses anything else before it is
   * instantiated. Encoding a value that is not {@code Serializable} throws a {@link CodecException}
   * naming its class.
   *
   * @throws IllegalArgumentException if a pattern would allow every class or is malformed
   */
  public static Codec<Object> serializable(String... allowedPatterns) {
    requireNonNull(allowedPatterns, "allowedPatterns");
    return new SerializableObjects(List.of(allowedPatterns));
  }

  /**
   * Adapts the {@code Serializable} codec to {@code Object}, with an error that says what to do.
   */
  private static final class SerializableObjects implements Codec<Object> {
    private final List<String> allowed;
    private final Codec<Serializable> delegate;

    SerializableObjects(List<String> allowed) {
      this.allowed = allowed;
      this.delegate = Codecs.serializable(Serializable.class, allowed.toArray(new String[0]));
    }

    @Override
    public byte[] encode(Object value) {
      if (!(value instanceof Serializable serializable)) {
        throw new CodecException(
            "cannot cache a "
                + value.getClass().getName()
                + ": the value codec"
                + " is Java serialization, and the class does not implement java.io.Serializable;"
                + " make it Serializable (a record can be) or configure another value codec");
      }
      return delegate.encode(serializable);
    }

    @Override
    public Object decode(byte[] bytes) {
      return delegate.decode(bytes);
    }

    @Override
    public boolean equals(@Nullable Object o) {
      return o instanceof SerializableObjects other && other.allowed.equals(allowed);
    }

    @Override
    public int hashCode() {
      return allowed.hashCode();
    }

    @Override
    public String toString() {
      return "ObjectCodecs.serializable(" + allowed + ")";
    }
  }
}
