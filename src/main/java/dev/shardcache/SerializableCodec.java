package dev.shardcache;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InvalidClassException;
import java.io.ObjectInputFilter;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.jspecify.annotations.Nullable;

/**
 * Java serialization restricted by an allow-list and bounded in cost. Decoding first reads the
 * stream's structure without building anything ({@link SerializedGraph}), then checks every class
 * in the stream against an {@link ObjectInputFilter} before it is instantiated, so bytes from a
 * peer can only ever produce objects of the classes the application named (plus a fixed set of JDK
 * value and collection classes), never a gadget chain, and at a bounded cost.
 *
 * <p>The limits are fixed, chosen for cache values (a refused value raises a {@link CodecException}
 * naming the limit):
 *
 * <ul>
 *   <li>{@value #MAX_DEPTH} levels of nesting;
 *   <li>{@value #MAX_REFERENCES} object references in the stream (objects, back-references and
 *       nulls, as {@code ObjectInputStream} counts them);
 *   <li>{@value #MAX_ARRAY_LENGTH} elements in any array;
 *   <li>{@value #MAX_BYTES} bytes (32 MiB), the largest {@code maxValueBytes} a cache accepts; a
 *       cache's own limit applies before the codec sees the bytes;
 *   <li>{@value #MAX_EXPANSION} objects in the graph unfolded into a tree, a shared object counted
 *       once for each path to it. Hashing while decoding (every {@code HashSet} and {@code HashMap}
 *       hashes its elements, and a list's or set's hash visits all it holds) then visits at most
 *       {@value #MAX_DEPTH} times that many objects, so a "billion laughs" of nested or shared
 *       collections is refused before it costs anything: depth and reference limits alone do not
 *       bound it (see {@link SerializedGraph});
 *   <li>{@value #MAX_COMPARISONS} objects visited comparing keys if their hash codes all collided:
 *       keys with contents (lists, sets, records) whose class is not {@code Comparable} of itself,
 *       in a {@code HashSet} or {@code HashMap}, and every key of a {@code Set.of} or {@code
 *       Map.of}. About 1,000 such keys fit in one value's hash sets and maps, and about 6,000
 *       strings in its {@code Set.of} sets; keys of a class that implements {@code Comparable} of
 *       itself do not count. (Twenty thousand colliding one-element lists in a {@code HashSet}, 1
 *       MB, took 30 to 90 s to decode without this limit.)
 * </ul>
 *
 * A value over them needs a codec of its own (any {@link Codec}), or a smaller shape. Thread-safe.
 */
final class SerializableCodec<T extends Serializable> implements Codec<T> {

  /** JDK classes that carry data and run no application code when deserialized. */
  static final List<String> JDK_VALUE_CLASSES =
      List.of(
          "java.lang.Object",
          "java.lang.String",
          "java.lang.Number",
          "java.lang.Integer",
          "java.lang.Long",
          "java.lang.Short",
          "java.lang.Byte",
          "java.lang.Double",
          "java.lang.Float",
          "java.lang.Boolean",
          "java.lang.Character",
          "java.lang.Enum",
          "java.lang.Record",
          "java.math.BigInteger",
          "java.math.BigDecimal",
          "java.time.Ser",
          "java.time.*",
          "java.util.UUID",
          "java.util.Date",
          "java.util.Optional",
          "java.util.Map$Entry",
          "java.util.ArrayList",
          "java.util.LinkedList",
          "java.util.HashMap",
          "java.util.LinkedHashMap",
          "java.util.TreeMap",
          "java.util.HashSet",
          "java.util.LinkedHashSet",
          "java.util.TreeSet",
          "java.util.ArrayDeque",
          "java.util.EnumMap",
          "java.util.RegularEnumSet",
          "java.util.EnumSet*",
          "java.util.ImmutableCollections*",
          "java.util.CollSer",
          "java.util.Collections$Unmodifiable*",
          "java.util.Collections$Empty*",
          "java.util.Collections$Singleton*",
          "java.util.Arrays$ArrayList");

  /** The deepest nesting decoded. */
  static final int MAX_DEPTH = 20;

  /** The most object references (objects, back-references, nulls) in one stream. */
  static final int MAX_REFERENCES = 100_000;

  /** The longest array. */
  static final int MAX_ARRAY_LENGTH = 1_000_000;

  /** The longest stream: the largest maxValueBytes a cache may have. */
  static final int MAX_BYTES = ShardcacheNode.MAX_MESSAGE_BYTES / 2;

  /** The most objects in the decoded graph unfolded into a tree. */
  static final int MAX_EXPANSION = 1_000_000;

  /** The most objects visited comparing hash keys if all their hash codes collided. */
  static final int MAX_COMPARISONS = 20_000_000;

  private static final SerializedGraph.Limits LIMITS =
      new SerializedGraph.Limits(
          MAX_DEPTH, MAX_REFERENCES, MAX_ARRAY_LENGTH, MAX_EXPANSION, MAX_COMPARISONS);
  private static final String LIMITS_FIXED =
      "; the limits of Codecs.serializable are fixed (depth "
          + MAX_DEPTH
          + ", "
          + MAX_REFERENCES
          + " references, arrays of "
          + MAX_ARRAY_LENGTH
          + " elements, "
          + MAX_BYTES
          + " bytes, "
          + MAX_EXPANSION
          + " objects unfolded, "
          + MAX_COMPARISONS
          + " compared): store a smaller value, or give the cache a Codec of its own"
          + " for it";

  /** JDK classes with fields of their own that are Comparable of themselves. */
  private static final Set<String> JDK_COMPARABLE =
      Set.of("java.math.BigInteger", "java.math.BigDecimal");

  private final Class<T> type;
  private final List<String> allowed;
  private final ObjectInputFilter classes;

  /** Allowed classes by name: whether their keys are ordered when hashes collide. */
  private final ConcurrentMap<String, Boolean> comparable = new ConcurrentHashMap<>();

  SerializableCodec(Class<T> type, List<String> allowed) {
    this.type = type;
    this.allowed = List.copyOf(allowed);
    StringBuilder pattern = new StringBuilder(type.getName());
    for (String p : JDK_VALUE_CLASSES) {
      pattern.append(';').append(p);
    }
    for (String p : this.allowed) {
      pattern.append(';').append(p);
    }
    pattern.append(";!*");
    this.classes = ObjectInputFilter.Config.createFilter(pattern.toString());
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
    if (bytes.length > MAX_BYTES) {
      throw refused(bytes.length + " bytes are over the limit of " + MAX_BYTES);
    }
    try {
      SerializedGraph.check(bytes, LIMITS, this::isComparableKey);
    } catch (SerializedGraph.Refused e) {
      if (e.malformed) {
        throw new CodecException(
            "bytes are not a valid serialized "
                + type.getName()
                + ": "
                + e.getMessage()
                + " (an allow-listed class whose writeObject writes data before"
                + " calling defaultWriteObject cannot be read either)",
            e);
      }
      throw refused(e.getMessage());
    }
    Filter filter = new Filter();
    Object decoded;
    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes))) {
      in.setObjectInputFilter(filter);
      decoded = in.readObject();
    } catch (InvalidClassException e) {
      String limit = filter.limit;
      if (limit != null) {
        throw refused(limit);
      }
      throw new CodecException(
          "refused to deserialize "
              + (e.classname == null ? "the stream" : e.classname)
              + " ("
              + e.getMessage()
              + "); only "
              + type.getName()
              + ", JDK value classes and "
              + allowed
              + " are allowed; add the class (or its package"
              + " pattern, such as com.example.**) to Codecs.serializable(...)",
          e);
    } catch (IOException | ClassNotFoundException e) {
      throw new CodecException("bytes are not a valid serialized " + type.getName() + ": " + e, e);
    } catch (StackOverflowError e) {
      // A value that holds itself through a list or set: its hashCode never ends.
      throw new CodecException(
          "bytes of a "
              + type.getName()
              + " hold a collection that contains"
              + " itself, whose hash cannot be computed");
    }
    if (!type.isInstance(decoded)) {
      throw new CodecException(
          "decoded a "
              + (decoded == null ? "null" : decoded.getClass().getName())
              + " where a "
              + type.getName()
              + " was expected");
    }
    return type.cast(decoded);
  }

  /**
   * Whether keys of the class named {@code name} are ordered by a {@code HashMap} when their hashes
   * collide: the class is {@code Comparable} of itself. The class is loaded, not initialized, as
   * ObjectInputStream would load it, and only a class this codec allows counts.
   */
  private boolean isComparableKey(String name) {
    if (JDK_COMPARABLE.contains(name)) {
      return true;
    }
    Boolean known = comparable.get(name);
    if (known != null) {
      return known;
    }
    ClassLoader loader =
        type.getClassLoader() != null
            ? type.getClassLoader()
            : Thread.currentThread().getContextClassLoader();
    Class<?> c;
    try {
      c = Class.forName(name, false, loader);
    } catch (ClassNotFoundException | LinkageError e) {
      return false;
    }
    if (classes.checkInput(new ClassOnly(c)) != ObjectInputFilter.Status.ALLOWED) {
      return false; // decoding refuses it anyway; not remembered, so the map holds allowed names
      // only
    }
    boolean ordered = false;
    for (Type t : c.getGenericInterfaces()) {
      if (t instanceof ParameterizedType p
          && p.getRawType() == Comparable.class
          && p.getActualTypeArguments()[0] == c) {
        ordered = true; // what HashMap requires to order colliding keys: C implements Comparable<C>
      }
    }
    comparable.putIfAbsent(name, ordered);
    return ordered;
  }

  /** A filter question about a class alone. */
  private record ClassOnly(Class<?> serialClass) implements ObjectInputFilter.FilterInfo {
    @Override
    public long arrayLength() {
      return -1;
    }

    @Override
    public long depth() {
      return 1;
    }

    @Override
    public long references() {
      return 1;
    }

    @Override
    public long streamBytes() {
      return 0;
    }
  }

  private CodecException refused(String limit) {
    return new CodecException(
        "refused to deserialize a " + type.getName() + ": " + limit + LIMITS_FIXED);
  }

  /**
   * The stream filter of one decode: the limits (a second line behind {@link SerializedGraph}, that
   * remembers which one refused), then the allow-list. Arrays of primitives hold data only, so only
   * the limits apply to them.
   */
  private final class Filter implements ObjectInputFilter {
    @Nullable String limit;

    @Override
    public Status checkInput(FilterInfo info) {
      if (info.depth() > MAX_DEPTH) {
        limit = "objects are nested more than " + MAX_DEPTH + " levels deep";
      } else if (info.references() > MAX_REFERENCES) {
        limit = "the stream has more than " + MAX_REFERENCES + " object references";
      } else if (info.arrayLength() > MAX_ARRAY_LENGTH) {
        limit =
            "an array has "
                + info.arrayLength()
                + " elements, over the limit of "
                + MAX_ARRAY_LENGTH;
      } else if (info.streamBytes() > MAX_BYTES) {
        limit = "the stream is over the limit of " + MAX_BYTES + " bytes";
      }
      if (limit != null) {
        return Status.REJECTED;
      }
      Class<?> serialClass = info.serialClass();
      while (serialClass != null && serialClass.isArray()) {
        serialClass = serialClass.getComponentType();
      }
      if (serialClass == null) {
        return Status.UNDECIDED; // a back-reference: only the limits apply
      }
      return serialClass.isPrimitive() ? Status.ALLOWED : classes.checkInput(info);
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SerializableCodec<?> other
        && other.type == type
        && other.allowed.equals(allowed);
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
