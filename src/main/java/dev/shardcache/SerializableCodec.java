package dev.shardcache;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InvalidClassException;
import java.io.ObjectInputFilter;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Java serialization restricted by an allow-list: decoding checks every class in the stream against
 * an {@link ObjectInputFilter} before it is instantiated, so bytes from a peer can only ever produce
 * objects of the classes the application named (plus a fixed set of JDK value and collection
 * classes), and never a gadget chain. Depth, references, array lengths and total bytes are bounded
 * too. Thread-safe.
 */
final class SerializableCodec<T extends Serializable> implements Codec<T> {

  /** JDK classes that carry data and run no application code when deserialized. */
  static final List<String> JDK_VALUE_CLASSES = List.of(
      "java.lang.Object", "java.lang.String", "java.lang.Number", "java.lang.Integer", "java.lang.Long",
      "java.lang.Short", "java.lang.Byte", "java.lang.Double", "java.lang.Float",
      "java.lang.Boolean", "java.lang.Character", "java.lang.Enum", "java.lang.Record",
      "java.math.BigInteger", "java.math.BigDecimal",
      "java.time.Ser", "java.time.*", "java.util.UUID", "java.util.Date", "java.util.Optional",
      "java.util.Map$Entry", "java.util.ArrayList", "java.util.LinkedList", "java.util.HashMap",
      "java.util.LinkedHashMap",
      "java.util.TreeMap", "java.util.HashSet", "java.util.LinkedHashSet", "java.util.TreeSet",
      "java.util.ArrayDeque", "java.util.EnumMap", "java.util.RegularEnumSet", "java.util.EnumSet*",
      "java.util.ImmutableCollections*", "java.util.CollSer",
      "java.util.Collections$Unmodifiable*", "java.util.Collections$Empty*",
      "java.util.Collections$Singleton*", "java.util.Arrays$ArrayList");

  private static final String LIMITS = "maxdepth=32;maxrefs=100000;maxarray=16777216;maxbytes=67108864";

  private final Class<T> type;
  private final List<String> allowed;
  private final ObjectInputFilter filter;

  SerializableCodec(Class<T> type, List<String> allowed) {
    this.type = type;
    this.allowed = List.copyOf(allowed);
    StringBuilder pattern = new StringBuilder(LIMITS);
    pattern.append(';').append(type.getName());
    for (String p : JDK_VALUE_CLASSES) {
      pattern.append(';').append(p);
    }
    for (String p : this.allowed) {
      pattern.append(';').append(p);
    }
    pattern.append(";!*");
    ObjectInputFilter byPattern = ObjectInputFilter.Config.createFilter(pattern.toString());
    this.filter = info -> {
      Class<?> serialClass = info.serialClass();
      while (serialClass != null && serialClass.isArray()) {
        serialClass = serialClass.getComponentType();
      }
      if (serialClass != null && serialClass.isPrimitive()) {
        // Arrays of primitives hold data only; the limits still apply.
        ObjectInputFilter.Status limits =
            byPattern.checkInput(new LimitsOnly(info));
        return limits == ObjectInputFilter.Status.REJECTED ? limits : ObjectInputFilter.Status.ALLOWED;
      }
      return byPattern.checkInput(info);
    };
  }

  @Override
  public byte[] encode(T value) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(value);
    } catch (IOException e) {
      throw new CodecException("cannot serialize " + value.getClass().getName() + ": " + e, e);
    }
    return bytes.toByteArray();
  }

  @Override
  public T decode(byte[] bytes) {
    Object decoded;
    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes))) {
      in.setObjectInputFilter(filter);
      decoded = in.readObject();
    } catch (InvalidClassException e) {
      throw new CodecException("refused to deserialize " + (e.classname == null ? "the stream" : e.classname)
          + " (" + e.getMessage() + "); only " + type.getName()
          + ", JDK value classes and " + allowed + " are allowed; add the class (or its package"
          + " pattern, such as com.example.**) to Codecs.serializable(...)", e);
    } catch (IOException | ClassNotFoundException e) {
      throw new CodecException("bytes are not a valid serialized " + type.getName() + ": " + e, e);
    }
    if (!type.isInstance(decoded)) {
      throw new CodecException("decoded a " + (decoded == null ? "null" : decoded.getClass().getName())
          + " where a " + type.getName() + " was expected");
    }
    return type.cast(decoded);
  }

  /** The same filter call without the class, so that only the limits are checked. */
  private record LimitsOnly(ObjectInputFilter.FilterInfo info) implements ObjectInputFilter.FilterInfo {
    @Override
    public @Nullable Class<?> serialClass() {
      return null;
    }

    @Override
    public long arrayLength() {
      return info.arrayLength();
    }

    @Override
    public long depth() {
      return info.depth();
    }

    @Override
    public long references() {
      return info.references();
    }

    @Override
    public long streamBytes() {
      return info.streamBytes();
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SerializableCodec<?> other && other.type == type && other.allowed.equals(allowed);
  }

  @Override
  public int hashCode() {
    return type.hashCode() * 31 + allowed.hashCode();
  }

  @Override
  public String toString() {
    return "Codecs.serializable(" + type.getName() + ", " + allowed + ")";
  }
}
