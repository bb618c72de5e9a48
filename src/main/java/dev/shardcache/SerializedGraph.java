package dev.shardcache;

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

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * Reads the structure of a Java serialization stream, without loading a class or building an
 * object, and refuses a stream whose object graph would be too costly to decode. It runs before
 * {@link java.io.ObjectInputStream} touches the bytes.
 *
 * <h2>Why the stream filter is not enough</h2>
 *
 * Decoding a {@code HashSet} or {@code HashMap} hashes every element, and the {@code hashCode} of a
 * list, set, map or record visits everything inside it, once per path to it. A stream can share an
 * object many times with back-references of five bytes each, so a graph of a few dozen objects can
 * have billions of paths: ten lists, each holding the next one eight times, inside a set, are 634
 * bytes at depth 12 with 90 references, and took 20 s to decode behind {@code maxdepth=32;
 * maxrefs=100000}. The classic nested-{@code HashSet} payload needs depth (two sets per level, so
 * 2<sup>levels</sup> calls), but the fan-out above does not: {@link java.io.ObjectInputFilter}'s
 * limits on depth and references do not bound the hashing work, and the filter cannot see which
 * object a back-reference points to.
 *
 * <h2>What is bounded</h2>
 *
 * This reader rebuilds the graph (one node per object, one edge per field, element or reference)
 * and counts the graph's <em>expansion</em>: its nodes when it is unfolded into a tree, a shared
 * object counted once per path from the root to it, and a reference back to an object still being
 * read (a cycle) counted once. A stream whose expansion exceeds the limit is refused. The bound
 * holds for any class: every object is reached from the root by nesting, at most {@code maxDepth}
 * levels deep, so all the hashing done while decoding visits at most {@code maxDepth} times the
 * expansion, and a full traversal of the decoded value (its {@code hashCode}, {@code equals} or
 * {@code toString}) visits at most the expansion. The reader also applies the stream filter's
 * limits (depth, references, array length), counted as {@code ObjectInputStream} counts them, so
 * that a refusal can say which limit was met.
 *
 * <p>Equal hash codes cost comparisons instead: a {@code HashMap} or {@code HashSet} orders keys
 * whose hashes collide by {@code compareTo} when their class is {@link Comparable} of itself, and
 * otherwise compares each new key with every colliding one by {@code equals}; the sets and maps of
 * {@code Set.of} and {@code Map.of} (serialized as {@code java.util.CollSer}) always do. Twenty
 * thousand one-element lists with equal hash codes in one set, a 1 MB stream within every limit
 * above, took 30 to 90 s to decode. So for each hash-based set or map the reader counts the keys
 * that would be compared so ({@code n}: keys with contents of their own, such as lists or records,
 * whose class is not comparable, as {@code comparableKey} tells; in a {@code Set.of} or {@code
 * Map.of}, every key) and their expansion ({@code e}), and refuses the stream if the sum of {@code
 * n * e} over its sets and maps, the objects visited if every hash collided, exceeds the comparison
 * limit; each comparison in a {@code HashMap}'s tree bin also counts a fixed overhead.
 *
 * <h2>What is not bounded</h2>
 *
 * Work done by an allow-listed application class in its own {@code readObject}, {@code hashCode} or
 * {@code equals}, beyond visiting its fields.
 *
 * <h2>Grammar</h2>
 *
 * The stream grammar of the Java Object Serialization Specification (chapter 6), protocol version
 * 2. For a class that writes its own data ({@code SC_WRITE_METHOD}), the reader expects the default
 * field values first and the class's optional data (blocks and objects up to {@code
 * TC_ENDBLOCKDATA}) after them, as the specification requires of {@code writeObject} ({@code
 * defaultWriteObject} or {@code writeFields} first); a stream that does otherwise is refused as
 * malformed. Not thread-safe: one instance reads one stream.
 */
final class SerializedGraph {
  private static final int NONE = -1;

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

  /**
   * What one comparison costs in a tree bin of keys that cannot be ordered, beyond visiting the
   * keys, in objects visited: the search of both subtrees and the tie-break around each equals.
   * Measured: colliding one-element lists in a HashSet cost about 30 times what colliding strings
   * cost in a Set.of, per comparison.
   */
  private static final int TREE_BIN_OVERHEAD = 32;

  /** A stream this reader refuses, with the reason, worded for a codec's message. */
  static final class Refused extends Exception {
    private static final long serialVersionUID = 1L;

    /** Whether the stream broke the grammar (rather than a limit). */
    final boolean malformed;

    private final String reason;

    Refused(String reason, boolean malformed) {
      super(reason, null, false, false);
      this.reason = reason;
      this.malformed = malformed;
    }

    /** Why the stream is refused; never null, unlike a Throwable's message in general. */
    @Override
    public String getMessage() {
      return reason;
    }
  }

  /** A class descriptor: the shape of one class's data in the stream. */
  private static final class Desc {
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
  private final int maxDepth;
  private final long maxReferences;
  private final int maxArrayLength;
  private final long maxExpansion;
  private final long maxComparisons;
  private final Predicate<String> comparableKey;

  private int pos;
  private long references;

  /** Handle number to node id (0 or more) or -(descriptor index + 2). */
  private int[] handles = new int[64];

  private int handleCount;
  private final List<Desc> descs = new ArrayList<>();
  private int nodeCount;

  /** Each node's class, for objects; null for strings, arrays, enum constants and classes. */
  private @Nullable Desc[] nodeClass = new Desc[64];

  private int[] edgeFrom = new int[64];
  private int[] edgeTo = new int[64];
  private int edgeCount;
  private int[] keyTable = new int[16];
  private int[] keyNode = new int[16];
  private boolean[] keyProbed = new boolean[16];
  private int keyCount;

  private SerializedGraph(byte[] in, Limits limits, Predicate<String> comparableKey) {
    this.in = in;
    this.maxDepth = limits.depth();
    this.maxReferences = limits.references();
    this.maxArrayLength = limits.arrayLength();
    this.maxExpansion = limits.expansion();
    this.maxComparisons = limits.comparisons();
    this.comparableKey = comparableKey;
  }

  /** The limits a stream is held to; see the class comment. */
  record Limits(int depth, long references, int arrayLength, long expansion, long comparisons) {}

  /**
   * Reads the first object of {@code stream} and returns normally if it is within {@code limits}.
   * {@code comparableKey} tells, by name, whether a class is {@link Comparable} of itself (so that
   * colliding keys of it are ordered rather than compared one by one); it is asked only about
   * classes of hash keys that have fields of their own.
   *
   * @throws Refused naming the limit it exceeds, or saying where it is malformed
   */
  static void check(byte[] stream, Limits limits, Predicate<String> comparableKey) throws Refused {
    SerializedGraph graph = new SerializedGraph(stream, limits, comparableKey);
    if (graph.u2() != (STREAM_MAGIC & 0xFFFF) || graph.u2() != STREAM_VERSION) {
      throw malformed("no serialization stream header");
    }
    int root = graph.readContent(0);
    if (root != NONE) {
      int[] first = graph.firstChildren();
      int[] children = graph.children(first);
      long[] expansion = graph.checkExpansion(root, first, children);
      graph.checkComparisons(first, expansion);
    }
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
        yield newNode(null);
      }
      case TC_CLASSDESC, TC_PROXYCLASSDESC -> {
        pos--;
        readClassDesc(depth, false);
        yield NONE;
      }
      case TC_STRING -> {
        skip(u2());
        yield newNode(null);
      }
      case TC_LONGSTRING -> {
        skip(i8());
        yield newNode(null);
      }
      case TC_ARRAY -> readArray(depth);
      case TC_ENUM -> {
        requireDesc(readClassDesc(depth, false));
        int node = newNode(null);
        byte nameTag = u1();
        if (nameTag == TC_STRING) {
          skip(u2());
        } else if (nameTag == TC_LONGSTRING) {
          skip(i8());
        } else {
          throw malformed("an enum constant without a name");
        }
        newNode(null);
        yield node;
      }
      case TC_OBJECT -> {
        Desc desc = requireDesc(readClassDesc(depth, false));
        int node = newNode(desc);
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
    int node = newNode(null);
    byte component = desc.name[1];
    if (component == 'L' || component == '[') {
      for (int i = 0; i < length; i++) {
        edge(node, readContent(depth));
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
        newNode(null);
      }
      case TC_LONGSTRING -> {
        skip(i8());
        newNode(null);
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
          edge(owner, child);
          boolean key = (keys & ALL_KEYS) != 0 || ((keys & EVEN_KEYS) != 0 && index % 2 == 0);
          if (key && child != NONE) {
            key(owner, child, (keys & PROBED) != 0);
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
          edge(node, readContent(depth));
        }
      }
      if ((d.flags & SC_WRITE_METHOD) != 0) {
        readAnnotation(node, depth, keys);
      }
    }
  }

  // ------------------------------------------------------------------ the graph

  /** A new node, of class {@code desc} for an object, null for other contents. */
  private int newNode(@Nullable Desc desc) {
    int node = nodeCount++;
    if (node == nodeClass.length) {
      nodeClass = Arrays.copyOf(nodeClass, node * 2);
    }
    nodeClass[node] = desc;
    assignHandle(node);
    return node;
  }

  private void key(int table, int node, boolean probed) {
    if (keyCount == keyTable.length) {
      keyTable = Arrays.copyOf(keyTable, keyCount * 2);
      keyNode = Arrays.copyOf(keyNode, keyCount * 2);
      keyProbed = Arrays.copyOf(keyProbed, keyCount * 2);
    }
    keyTable[keyCount] = table;
    keyNode[keyCount] = node;
    keyProbed[keyCount] = probed;
    keyCount++;
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

  private void edge(int from, int to) {
    if (to == NONE) {
      return;
    }
    if (edgeCount == edgeFrom.length) {
      edgeFrom = Arrays.copyOf(edgeFrom, edgeCount * 2);
      edgeTo = Arrays.copyOf(edgeTo, edgeCount * 2);
    }
    edgeFrom[edgeCount] = from;
    edgeTo[edgeCount] = to;
    edgeCount++;
  }

  /**
   * Where each node's children start in the array {@link #children(int[])} lays out; one element
   * longer than the nodes, so that node n's children end where node n + 1's start.
   */
  private int[] firstChildren() {
    int[] first = new int[nodeCount + 1];
    for (int e = 0; e < edgeCount; e++) {
      first[edgeFrom[e] + 1]++;
    }
    for (int n = 0; n < nodeCount; n++) {
      first[n + 1] += first[n];
    }
    return first;
  }

  /**
   * The edges' targets laid out by node: node n's children are {@code [first[n], first[n + 1])}.
   */
  private int[] children(int[] first) {
    int[] children = new int[edgeCount];
    int[] fill = Arrays.copyOf(first, nodeCount);
    for (int e = 0; e < edgeCount; e++) {
      children[fill[edgeFrom[e]]++] = edgeTo[e];
    }
    return children;
  }

  /**
   * Counts the nodes of the graph unfolded from {@code root} into a tree, depth first without
   * recursion (a chain of references can be as long as the stream), each node's count kept once.
   * Returns each node's expansion; nodes not reachable from the root have 0.
   */
  private long[] checkExpansion(int root, int[] first, int[] children) throws Refused {
    long[] expansion = new long[nodeCount];
    byte[] state = new byte[nodeCount]; // 0 not seen, 1 on the path being unfolded, 2 counted
    int[] path = new int[nodeCount];
    int[] next = new int[nodeCount];
    int top = 0;
    path[0] = root;
    next[0] = first[root];
    state[root] = 1;
    expansion[root] = 1;
    while (top >= 0) {
      int node = path[top];
      if (next[top] < first[node + 1]) {
        int child = children[next[top]++];
        if (state[child] == 0) {
          state[child] = 1;
          expansion[child] = 1;
          top++;
          path[top] = child;
          next[top] = first[child];
          continue;
        }
        expansion[node] += state[child] == 2 ? expansion[child] : 1;
      } else {
        state[node] = 2;
        top--;
        if (top >= 0) {
          expansion[path[top]] += expansion[node];
          node = path[top];
        }
      }
      if (expansion[node] > maxExpansion) {
        throw limit(
            "its objects, unfolded into a tree (a shared object counted once for each path"
                + " to it), are more than "
                + maxExpansion
                + ", so hashing them would take too long");
      }
    }
    return expansion;
  }

  /**
   * For each hash table, the objects that comparing its keys would visit if all their hashes
   * collided: each pair of the {@code n} keys compared one by one, {@code n * e / 2} where {@code
   * e} is their expansion (plus {@link #TREE_BIN_OVERHEAD} each in a tree bin); refused if the sum
   * over the tables is over the limit.
   */
  private void checkComparisons(int[] first, long[] expansion) throws Refused {
    if (keyCount == 0) {
      return;
    }
    long[] keys = new long[nodeCount];
    long[] size = new long[nodeCount];
    for (int k = 0; k < keyCount; k++) {
      int node = keyNode[k];
      if (expansion[keyTable[k]] == 0) {
        continue; // not part of the value
      }
      Desc keyClass = nodeClass[node];
      if (!keyProbed[k]
          && (keyClass == null || first[node] == first[node + 1] || isComparable(keyClass))) {
        // A string, a number, an array (compared by identity), or a key ordered when colliding.
        continue;
      }
      keys[keyTable[k]]++;
      size[keyTable[k]] += expansion[node] + (keyProbed[k] ? 0 : TREE_BIN_OVERHEAD);
    }
    long total = 0;
    for (int table = 0; table < nodeCount; table++) {
      if (keys[table] > 0) {
        total += keys[table] * size[table] / 2;
        if (total > maxComparisons) {
          throw limit(
              "its sets and maps hold keys that would take more than "
                  + maxComparisons
                  + " objects visited to compare if their hash codes collided (keys that have contents,"
                  + " such as lists or records, and are not Comparable of their own class, or any key"
                  + " of a Set.of or Map.of); make such key classes implement Comparable, use a HashSet"
                  + " or HashMap rather than Set.of or Map.of, or hold fewer such keys in one value");
        }
      }
    }
  }

  private boolean isComparable(Desc desc) {
    Boolean comparable = desc.comparable;
    if (comparable == null) {
      comparable = comparableKey.test(new String(desc.name, StandardCharsets.UTF_8));
      desc.comparable = comparable;
    }
    return comparable;
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

  private static Refused limit(String reason) {
    return new Refused(reason, false);
  }

  private static Refused malformed(String reason) {
    return new Refused(reason, true);
  }
}
