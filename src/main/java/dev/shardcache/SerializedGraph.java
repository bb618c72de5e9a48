package dev.shardcache;

import dev.shardcache.SerializedStreamReader.Desc;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * The object graph of a Java serialization stream, read without loading a class or building an
 * object ({@link SerializedStreamReader} reads the stream into it), and the check that refuses a
 * stream whose graph would be too costly to decode. It runs before {@link
 * java.io.ObjectInputStream} touches the bytes.
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
 * The graph has one node per object and one edge per field, element or reference; the check counts
 * the graph's <em>expansion</em>: its nodes when it is unfolded into a tree, a shared object
 * counted once per path from the root to it, and a reference back to an object still being read (a
 * cycle) counted once. A stream whose expansion exceeds the limit is refused. The bound holds for
 * any class: every object is reached from the root by nesting, at most {@code maxDepth} levels
 * deep, so all the hashing done while decoding visits at most {@code maxDepth} times the expansion,
 * and a full traversal of the decoded value (its {@code hashCode}, {@code equals} or {@code
 * toString}) visits at most the expansion. {@link SerializedStreamReader} also applies the stream
 * filter's limits (depth, references, array length), counted as {@code ObjectInputStream} counts
 * them, so that a refusal can say which limit was met.
 *
 * <p>Equal hash codes cost comparisons instead: a {@code HashMap} or {@code HashSet} orders keys
 * whose hashes collide by {@code compareTo} when their class is {@link Comparable} of itself, and
 * otherwise compares each new key with every colliding one by {@code equals}; the sets and maps of
 * {@code Set.of} and {@code Map.of} (serialized as {@code java.util.CollSer}) always do. Twenty
 * thousand one-element lists with equal hash codes in one set, a 1 MB stream within every limit
 * above, took 30 to 90 s to decode. So for each hash-based set or map the check counts the keys
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
 * {@link SerializedStreamReader} states which streams it reads, and refuses the rest as malformed.
 *
 * <p>Not thread-safe: one instance holds the graph of one stream.
 */
final class SerializedGraph {
  /** No node: what a null reads as. */
  static final int NONE = -1;

  /**
   * What one comparison costs in a tree bin of keys that cannot be ordered, beyond visiting the
   * keys, in objects visited: the search of both subtrees and the tie-break around each equals.
   * Measured: colliding one-element lists in a HashSet cost about 30 times what colliding strings
   * cost in a Set.of, per comparison.
   */
  private static final int TREE_BIN_OVERHEAD = 32;

  /** A stream refused, with the reason, worded for a codec's message. */
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

    /** A refusal for a stream that meets a limit. */
    static Refused limit(String reason) {
      return new Refused(reason, false);
    }

    /** A refusal for a stream that breaks the grammar. */
    static Refused malformed(String reason) {
      return new Refused(reason, true);
    }
  }

  private final long maxExpansion;
  private final long maxComparisons;
  private final Predicate<String> comparableKey;

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

  private SerializedGraph(Limits limits, Predicate<String> comparableKey) {
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
    SerializedGraph graph = new SerializedGraph(limits, comparableKey);
    int root = new SerializedStreamReader(stream, limits, graph).readFirstObject();
    if (root != NONE) {
      int[] first = graph.firstChildren();
      int[] children = graph.children(first);
      long[] expansion = graph.checkExpansion(root, first, children);
      graph.checkComparisons(first, expansion);
    }
  }

  // ------------------------------------------------------------------ building the graph

  /** A new node, of class {@code desc} for an object, null for other contents. */
  int newNode(@Nullable Desc desc) {
    int node = nodeCount++;
    if (node == nodeClass.length) {
      nodeClass = Arrays.copyOf(nodeClass, node * 2);
    }
    nodeClass[node] = desc;
    return node;
  }

  /**
   * Records that {@code node} is a key of the hash table {@code table}; {@code probed} for a key of
   * a {@code Set.of} or {@code Map.of}, which is compared with every colliding key whatever its
   * class.
   */
  void key(int table, int node, boolean probed) {
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

  /** An edge from {@code from} to {@code to}; none if {@code to} is {@link #NONE} (a null). */
  void edge(int from, int to) {
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

  // ------------------------------------------------------------------ the cost of decoding it

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
        throw Refused.limit(
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
          throw Refused.limit(
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
}
