package dev.shardcache;

import static dev.shardcache.SerializedGraph.NONE;
import static dev.shardcache.SerializedGraph.Refused.limit;
import static dev.shardcache.SerializedGraph.Refused.malformed;
import static java.io.ObjectStreamConstants.SC_BLOCK_DATA;
import static java.io.ObjectStreamConstants.SC_EXTERNALIZABLE;
import static java.io.ObjectStreamConstants.SC_SERIALIZABLE;
import static java.io.ObjectStreamConstants.SC_WRITE_METHOD;
import static java.io.ObjectStreamConstants.STREAM_MAGIC;
import static java.io.ObjectStreamConstants.STREAM_VERSION;
import static java.io.ObjectStreamConstants.TC_ARRAY;
import static java.io.ObjectStreamConstants.TC_BLOCKDATA;
import static java.io.ObjectStreamConstants.TC_BLOCKDATALONG;
import static java.io.ObjectStreamConstants.TC_CLASS;
import static java.io.ObjectStreamConstants.TC_CLASSDESC;
import static java.io.ObjectStreamConstants.TC_ENDBLOCKDATA;
import static java.io.ObjectStreamConstants.TC_ENUM;
import static java.io.ObjectStreamConstants.TC_LONGSTRING;
import static java.io.ObjectStreamConstants.TC_NULL;
import static java.io.ObjectStreamConstants.TC_OBJECT;
import static java.io.ObjectStreamConstants.TC_PROXYCLASSDESC;
import static java.io.ObjectStreamConstants.TC_REFERENCE;
import static java.io.ObjectStreamConstants.TC_RESET;
import static java.io.ObjectStreamConstants.TC_STRING;
import static java.io.ObjectStreamConstants.baseWireHandle;

import dev.shardcache.SerializedGraph.Refused;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Reads a Java serialization stream by its grammar, without loading a class or building an object,
 * and records its objects in a {@link SerializedGraph}: one node per object, one edge per field,
 * element or reference, and which objects are keys of a hash table.
 *
 * <p>The grammar is that of the Java Object Serialization Specification (chapter 6), protocol
 * version 2. For a class that writes its own data ({@code SC_WRITE_METHOD}), the reader expects the
 * default field values first and the class's optional data (blocks and objects up to {@code
 * TC_ENDBLOCKDATA}) after them, as the specification requires of {@code writeObject} ({@code
 * defaultWriteObject} or {@code writeFields} first); a stream that does otherwise is refused as
 * malformed, as is one that ends early or refers to a handle it has not assigned.
 *
 * <p>Its invariant: it applies the stream filter's limits (nesting depth, object references, array
 * length) counted as {@link java.io.ObjectInputStream} counts them, so a stream it accepts is
 * within them and a refusal can say which limit was met; and it never reads past the end of the
 * bytes (every read checks the length left first).
 *
 * <p>Not thread-safe: one instance reads one stream.
 */
final class SerializedStreamReader {
  /** Which objects of a class's optional data are keys of a hash table. */
  private static final int NO_KEYS = 0;

  private static final int ALL_KEYS = 1;
  private static final int EVEN_KEYS = 2; // key, value, key, value...

  /** Added to the above for Set.of and Map.of, whose probing compares every colliding key. */
  private static final int PROBED = 4;

  private static final byte[] HASH_SET = "java.util.HashSet".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] HASH_MAP = "java.util.HashMap".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] COLL_SER = "java.util.CollSer".getBytes(StandardCharsets.US_ASCII);
  private static final int COLL_SER_SET = 2;
  private static final int COLL_SER_MAP = 3;

  /** A class descriptor: the shape of one class's data in the stream. */
  static final class Desc {
    final byte[] name;
    int flags;
    byte[] fieldTypes = new byte[0];

    /** The superclass's descriptor; null for the topmost serializable class. */
    @Nullable Desc parent;

    boolean complete;

    /**
     * Whether keys of this class are ordered, not compared, when their hashes collide; null until a
     * key of the class is met and the predicate asked.
     */
    @Nullable Boolean comparable;

    Desc(byte[] name) {
      this.name = name;
    }
  }

  private final byte[] in;
  private final SerializedGraph graph;
  private final int maxDepth;
  private final long maxReferences;
  private final int maxArrayLength;

  private int pos;
  private long references;

  /** Handle number to node id (0 or more) or -(descriptor index + 2). */
  private int[] handles = new int[64];

  private int handleCount;
  private final List<Desc> descs = new ArrayList<>();

  SerializedStreamReader(byte[] in, SerializedGraph.Limits limits, SerializedGraph graph) {
    this.in = in;
    this.graph = graph;
    this.maxDepth = limits.depth();
    this.maxReferences = limits.references();
    this.maxArrayLength = limits.arrayLength();
  }

  /**
   * Reads the stream header and the first object into the graph; returns the object's node, or
   * {@link SerializedGraph#NONE} for a null.
   *
   * @throws Refused saying where the stream is malformed, or which of the filter's limits it meets
   */
  int readFirstObject() throws Refused {
    if (u2() != (STREAM_MAGIC & 0xFFFF) || u2() != STREAM_VERSION) {
      throw malformed("no serialization stream header");
    }
    return readContent(0);
  }

  // ------------------------------------------------------------------ grammar

  /** One object (or null, or reference) at {@code parentDepth + 1}; its node, or NONE. */
  private int readContent(int parentDepth) throws Refused {
    byte tc = peek();
    while (tc == TC_RESET) {
      if (parentDepth > 0) {
        throw malformed("a reset inside an object");
      }
      pos++;
      handleCount = 0;
      descs.clear();
      tc = peek();
    }
    int depth = parentDepth + 1;
    // As ObjectInputStream, which asks its filter about everything but nulls and strings.
    boolean leaf = tc == TC_NULL || tc == TC_STRING || tc == TC_LONGSTRING;
    if (depth > maxDepth && !leaf) {
      throw limit("objects are nested more than " + maxDepth + " levels deep");
    }
    if (++references > maxReferences) {
      throw limit("the stream has more than " + maxReferences + " object references");
    }
    pos++;
    return switch (tc) {
      case TC_NULL -> NONE;
      case TC_REFERENCE -> {
        int handle = handle(i4());
        yield handle >= 0 ? handle : NONE;
      }
      case TC_CLASS -> {
        readClassDesc(depth, false);
        yield newObject(null);
      }
      case TC_CLASSDESC, TC_PROXYCLASSDESC -> {
        pos--;
        readClassDesc(depth, false);
        yield NONE;
      }
      case TC_STRING -> {
        skip(u2());
        yield newObject(null);
      }
      case TC_LONGSTRING -> {
        skip(i8());
        yield newObject(null);
      }
      case TC_ARRAY -> readArray(depth);
      case TC_ENUM -> {
        requireDesc(readClassDesc(depth, false));
        int node = newObject(null);
        byte nameTag = u1();
        if (nameTag == TC_STRING) {
          skip(u2());
        } else if (nameTag == TC_LONGSTRING) {
          skip(i8());
        } else {
          throw malformed("an enum constant without a name");
        }
        newObject(null);
        yield node;
      }
      case TC_OBJECT -> {
        Desc desc = requireDesc(readClassDesc(depth, false));
        int node = newObject(desc);
        readClassData(node, desc, depth);
        yield node;
      }
      default ->
          throw malformed(String.format("type code 0x%02X where an object was expected", tc));
    };
  }

  private int readArray(int depth) throws Refused {
    Desc desc = requireDesc(readClassDesc(depth, false));
    int length = i4();
    if (desc.name.length < 2 || desc.name[0] != '[' || length < 0) {
      throw malformed("an array without an array class or with a negative length");
    }
    if (length > maxArrayLength) {
      throw limit("an array has " + length + " elements, over the limit of " + maxArrayLength);
    }
    int node = newObject(null);
    byte component = desc.name[1];
    if (component == 'L' || component == '[') {
      for (int i = 0; i < length; i++) {
        graph.edge(node, readContent(depth));
      }
    } else {
      skip((long) length * primitiveSize(component));
    }
    return node;
  }

  /**
   * A class descriptor: new, a reference to one, or null (TC_NULL: no class, or no serializable
   * superclass). {@code depth} is the depth of the object it describes; its superclass is read one
   * level deeper, as ObjectInputStream does.
   */
  private @Nullable Desc readClassDesc(int depth, boolean superclass) throws Refused {
    byte tc = u1();
    if (tc == TC_NULL) {
      return null;
    }
    if (superclass && depth > maxDepth) {
      throw limit("objects are nested more than " + maxDepth + " levels deep");
    }
    return switch (tc) {
      case TC_REFERENCE -> {
        int handle = handle(i4());
        Desc desc = handle <= -2 ? descs.get(-handle - 2) : null;
        if (desc == null || !desc.complete) {
          throw malformed("a reference to a class descriptor that is not one");
        }
        yield desc;
      }
      case TC_CLASSDESC -> {
        byte[] name = bytes(u2());
        skip(8); // serialVersionUID
        Desc desc = newDesc(name);
        desc.flags = u1() & 0xFF;
        int fields = u2();
        if ((desc.flags & (SC_SERIALIZABLE | SC_EXTERNALIZABLE)) == 0 && fields > 0) {
          throw malformed("fields in the descriptor of a class that is not serializable");
        }
        desc.fieldTypes = new byte[fields];
        for (int i = 0; i < fields; i++) {
          byte type = u1();
          skip(u2()); // field name
          if (type == 'L' || type == '[') {
            readTypeName();
          } else if (primitiveSize(type) == 0) {
            throw malformed(String.format("field type code 0x%02X", type));
          }
          desc.fieldTypes[i] = type;
        }
        readAnnotation(NONE, depth, NO_KEYS);
        desc.parent = readSuperclass(depth);
        desc.complete = true;
        yield desc;
      }
      case TC_PROXYCLASSDESC -> {
        Desc desc = newDesc(new byte[0]);
        desc.flags = SC_SERIALIZABLE;
        int interfaces = i4();
        if (interfaces < 0 || interfaces > 65_535) {
          throw malformed("a proxy class with " + interfaces + " interfaces");
        }
        for (int i = 0; i < interfaces; i++) {
          skip(u2());
        }
        readAnnotation(NONE, depth, NO_KEYS);
        desc.parent = readSuperclass(depth);
        desc.complete = true;
        yield desc;
      }
      default ->
          throw malformed(
              String.format("type code 0x%02X where a class descriptor was expected", tc));
    };
  }

  private @Nullable Desc readSuperclass(int depth) throws Refused {
    if (++references > maxReferences) {
      throw limit("the stream has more than " + maxReferences + " object references");
    }
    return readClassDesc(depth + 1, true);
  }

  /** A field's class name: a string, a reference to one, or null. */
  private void readTypeName() throws Refused {
    byte tc = u1();
    switch (tc) {
      case TC_NULL -> {} // no type name
      case TC_REFERENCE -> {
        if (handle(i4()) < 0) {
          throw malformed("a field type that is not a string");
        }
      }
      case TC_STRING -> {
        skip(u2());
        newObject(null);
      }
      case TC_LONGSTRING -> {
        skip(i8());
        newObject(null);
      }
      default ->
          throw malformed(String.format("type code 0x%02X where a field type was expected", tc));
    }
  }

  /**
   * Blocks of data and objects up to TC_ENDBLOCKDATA; the objects become children of owner, and
   * those that {@code keys} selects (counting nulls) keys of its hash table.
   */
  private void readAnnotation(int owner, int depth, int keys) throws Refused {
    int index = 0;
    while (true) {
      byte tc = peek();
      if (tc == TC_ENDBLOCKDATA) {
        pos++;
        return;
      } else if (tc == TC_BLOCKDATA) {
        pos++;
        skip(u1() & 0xFF);
      } else if (tc == TC_BLOCKDATALONG) {
        pos++;
        skip(i4());
      } else {
        int child = readContent(depth);
        if (owner != NONE) {
          graph.edge(owner, child);
          boolean key = (keys & ALL_KEYS) != 0 || ((keys & EVEN_KEYS) != 0 && index % 2 == 0);
          if (key && child != NONE) {
            graph.key(owner, child, (keys & PROBED) != 0);
          }
        }
        index++;
      }
    }
  }

  /** The data of each class of the object, from its topmost serializable superclass down. */
  private void readClassData(int node, Desc desc, int depth) throws Refused {
    if ((desc.flags & SC_EXTERNALIZABLE) != 0) {
      if ((desc.flags & SC_BLOCK_DATA) == 0) {
        throw malformed("externalizable data of protocol version 1, which cannot be skipped");
      }
      readAnnotation(node, depth, NO_KEYS);
      return;
    }
    List<Desc> chain = new ArrayList<>();
    for (Desc d = desc; d != null; d = d.parent) {
      chain.add(d);
    }
    for (int i = chain.size() - 1; i >= 0; i--) {
      Desc d = chain.get(i);
      if ((d.flags & SC_SERIALIZABLE) == 0) {
        throw malformed("class data of a class that is not serializable");
      }
      long primitiveBytes = 0;
      for (byte type : d.fieldTypes) {
        primitiveBytes += primitiveSize(type);
      }
      int keys = NO_KEYS;
      if (Arrays.equals(d.name, HASH_SET)) {
        keys = ALL_KEYS;
      } else if (Arrays.equals(d.name, HASH_MAP)) {
        keys = EVEN_KEYS;
      } else if (Arrays.equals(d.name, COLL_SER) && primitiveBytes == 4) {
        need(4);
        int tag = in[pos + 3] & 0xFF; // its one field, the kind of collection, in the low byte
        keys =
            tag == COLL_SER_SET
                ? ALL_KEYS | PROBED
                : tag == COLL_SER_MAP ? EVEN_KEYS | PROBED : NO_KEYS;
      }
      skip(primitiveBytes); // ObjectInputStream reads every primitive field first, then the objects
      for (byte type : d.fieldTypes) {
        if (type == 'L' || type == '[') {
          graph.edge(node, readContent(depth));
        }
      }
      if ((d.flags & SC_WRITE_METHOD) != 0) {
        readAnnotation(node, depth, keys);
      }
    }
  }

  // ------------------------------------------------------------------ handles

  /** A new node for an object of class {@code desc} (null for other contents), with its handle. */
  private int newObject(@Nullable Desc desc) {
    int node = graph.newNode(desc);
    assignHandle(node);
    return node;
  }

  private Desc newDesc(byte[] name) {
    Desc desc = new Desc(name);
    descs.add(desc);
    assignHandle(-(descs.size() - 1) - 2);
    return desc;
  }

  private void assignHandle(int value) {
    if (handleCount == handles.length) {
      handles = Arrays.copyOf(handles, handles.length * 2);
    }
    handles[handleCount++] = value;
  }

  private int handle(int wire) throws Refused {
    int index = wire - baseWireHandle;
    if (index < 0 || index >= handleCount) {
      throw malformed(
          "a reference to handle " + Integer.toHexString(wire) + ", which does not exist");
    }
    return handles[index];
  }

  // ------------------------------------------------------------------ bytes

  private static int primitiveSize(byte type) {
    return switch (type) {
      case 'B', 'Z' -> 1;
      case 'C', 'S' -> 2;
      case 'I', 'F' -> 4;
      case 'J', 'D' -> 8;
      default -> 0;
    };
  }

  private Desc requireDesc(@Nullable Desc desc) throws Refused {
    if (desc == null) {
      throw malformed("an object without a class descriptor");
    }
    return desc;
  }

  private byte peek() throws Refused {
    need(1);
    return in[pos];
  }

  private byte u1() throws Refused {
    need(1);
    return in[pos++];
  }

  private int u2() throws Refused {
    need(2);
    int value = ((in[pos] & 0xFF) << 8) | (in[pos + 1] & 0xFF);
    pos += 2;
    return value;
  }

  private int i4() throws Refused {
    need(4);
    int value =
        ((in[pos] & 0xFF) << 24)
            | ((in[pos + 1] & 0xFF) << 16)
            | ((in[pos + 2] & 0xFF) << 8)
            | (in[pos + 3] & 0xFF);
    pos += 4;
    return value;
  }

  private long i8() throws Refused {
    long high = i4() & 0xFFFF_FFFFL;
    return (high << 32) | (i4() & 0xFFFF_FFFFL);
  }

  private byte[] bytes(int length) throws Refused {
    need(length);
    byte[] copy = Arrays.copyOfRange(in, pos, pos + length);
    pos += length;
    return copy;
  }

  private void skip(long length) throws Refused {
    need(length);
    pos += (int) length;
  }

  private void need(long length) throws Refused {
    if (length < 0 || length > in.length - pos) {
      throw malformed("it ends in the middle of an object");
    }
  }
}
