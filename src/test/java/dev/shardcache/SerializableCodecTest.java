package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class SerializableCodecTest {

  record Order(String id, BigDecimal total, List<String> lines, Instant placed)
      implements Serializable {}

  /** A class that is Serializable but not allowed: stands for any gadget. */
  static final class Gadget implements Serializable {
    private static final long serialVersionUID = 1L;
    String command = "rm -rf /";
  }

  record Box(Object content) implements Serializable {}

  @Test
  void allowedTypesRoundTrip() {
    Codec<Order> codec = Codecs.serializable(Order.class);
    Order order =
        new Order(
            "o-1",
            new BigDecimal("12.50"),
            new ArrayList<>(List.of("a", "b")),
            Instant.ofEpochSecond(5));
    assertThat(codec.decode(codec.encode(order))).isEqualTo(order);
    Codec<java.util.HashMap> maps = Codecs.serializable(java.util.HashMap.class);
    assertThat(maps.decode(maps.encode(new java.util.HashMap<>(Map.of("k", 1L)))))
        .containsEntry("k", 1L);
  }

  @Test
  void aClassOffTheAllowListIsRefusedBeforeItIsBuilt() throws IOException {
    Codec<Box> codec = Codecs.serializable(Box.class);
    byte[] hostile = codec.encode(new Box(new Gadget()));
    assertThatThrownBy(() -> codec.decode(hostile))
        .isInstanceOf(CodecException.class)
        .hasMessageContaining("refused to deserialize")
        .hasMessageContaining("Codecs.serializable");
    // Naming it makes it allowed.
    Codec<Box> allowing = Codecs.serializable(Box.class, Gadget.class.getName());
    assertThat(allowing.decode(hostile).content()).isInstanceOf(Gadget.class);
  }

  @Test
  void theWrongTypeAndGarbageAreCodecErrors() throws IOException {
    Codec<Order> codec = Codecs.serializable(Order.class);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject("just a string");
    }
    assertThatThrownBy(() -> codec.decode(bytes.toByteArray())).hasMessageContaining("where a");
    assertThatThrownBy(() -> codec.decode(new byte[] {1, 2, 3})).isInstanceOf(CodecException.class);
  }

  @Test
  void primitiveArraysAreAllowedAndOversizedOnesAreNot() {
    Codec<long[]> codec = Codecs.serializable(long[].class);
    assertThat(codec.decode(codec.encode(new long[] {1, 2, 3}))).containsExactly(1, 2, 3);
    byte[] oversized = codec.encode(new long[SerializableCodec.MAX_ARRAY_LENGTH + 1]);
    assertThatThrownBy(() -> codec.decode(oversized))
        .isInstanceOf(CodecException.class)
        .hasMessageContaining(
            "an array has " + (SerializableCodec.MAX_ARRAY_LENGTH + 1) + " elements")
        .hasMessageContaining("limits of Codecs.serializable are fixed");
  }

  @Test
  void patternsThatAllowEverythingAreRejected() {
    assertThatThrownBy(() -> Codecs.serializable(Order.class, "*")).hasMessageContaining("unsafe");
    assertThatThrownBy(() -> Codecs.serializable(Order.class, "a;!b"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(Codecs.serializable(Order.class, "com.example.**"))
        .isEqualTo(Codecs.serializable(Order.class, "com.example.**"));
  }

  // ---------------------------------------------------------------- bounded decoding (issue 11,
  // gap 6)

  /** A key that is Comparable of itself, so colliding keys of it are ordered, not compared. */
  record Sku(String vendor, int number) implements Serializable, Comparable<Sku> {
    @Override
    public int compareTo(Sku other) {
      int byVendor = vendor.compareTo(other.vendor);
      return byVendor != 0 ? byVendor : Integer.compare(number, other.number);
    }
  }

  record Line(String item, int quantity, BigDecimal price) implements Serializable {}

  record Pair(String left, String right) implements Serializable {}

  /**
   * The classic "billion laughs" for hashCode: two sets per level, each holding both sets of the
   * next level, so decoding hashes 2^levels sets. Thirty levels fit under the old depth limit (32)
   * and cost about 2^30 hashCode calls (25 levels took 4 s).
   */
  @Test
  void nestedHashSetsAreRefusedInBoundedTime() {
    Codec<HashSet> codec = Codecs.serializable(HashSet.class);
    for (int levels : new int[] {19, 30, 100}) {
      byte[] payload = serialize(nestedSets(levels));
      long started = System.nanoTime();
      assertTimeoutPreemptively(
          Duration.ofSeconds(60),
          () ->
              assertThatThrownBy(() -> codec.decode(payload))
                  .as("%s levels", levels)
                  .isInstanceOf(CodecException.class)
                  .hasMessageContaining("refused to deserialize a java.util.HashSet"));
      System.out.printf(
          "nested HashSets, %d levels (%d bytes): refused in %.1f ms%n",
          levels, payload.length, (System.nanoTime() - started) / 1e6);
    }
  }

  /**
   * Within every depth and reference limit, sharing alone explodes the hash: ten lists, each
   * holding the next one eight times, inside a set (634 bytes, depth 12, 90 references) took 20 s
   * to decode under maxdepth=32;maxrefs=100000.
   */
  @Test
  void sharedListsInsideASetAreRefusedThoughShallow() {
    Codec<HashSet> codec = Codecs.serializable(HashSet.class);
    byte[] payload = serialize(fanOut(10, 8));
    long started = System.nanoTime();
    assertTimeoutPreemptively(
        Duration.ofSeconds(60),
        () ->
            assertThatThrownBy(() -> codec.decode(payload))
                .isInstanceOf(CodecException.class)
                .hasMessageContaining("unfolded into a tree"));
    System.out.printf(
        "10 lists, each holding the next 8 times, in a set (%d bytes): refused in %.1f ms%n",
        payload.length, (System.nanoTime() - started) / 1e6);
  }

  /**
   * Keys that cannot be ordered and whose hashes collide are compared one by one: 20,000 such
   * one-element lists in one set (1 MB) took 30 to 90 s to decode.
   */
  @Test
  void manyKeysWithCollidingHashesAreRefused() {
    Codec<HashSet> codec = Codecs.serializable(HashSet.class);
    byte[] payload = serialize(collidingLists(20_000));
    long started = System.nanoTime();
    assertTimeoutPreemptively(
        Duration.ofSeconds(60),
        () ->
            assertThatThrownBy(() -> codec.decode(payload))
                .isInstanceOf(CodecException.class)
                .hasMessageContaining("hash codes collided")
                .hasMessageContaining("Comparable"));
    System.out.printf(
        "20,000 lists with colliding hashes in a set (%d bytes): refused in %.1f ms%n",
        payload.length, (System.nanoTime() - started) / 1e6);
    // A few hundred are within the limit, collisions and all.
    HashSet<?> few = collidingLists(300);
    assertThat(codec.decode(serialize(few))).hasSize(300);
  }

  @Test
  void aListThatHoldsItselfInASetIsACodecError() {
    HashSet<Object> set = new HashSet<>();
    List<Object> list = new ArrayList<>();
    set.add(list); // hashed while empty
    list.add(list);
    Codec<HashSet> codec = Codecs.serializable(HashSet.class);
    byte[] payload = serialize(set);
    assertThatThrownBy(() -> codec.decode(payload)).isInstanceOf(CodecException.class);
  }

  @Test
  void eachLimitIsNamedWhenMet() {
    Codec<ArrayList> lists = Codecs.serializable(ArrayList.class);
    ArrayList<Object> deep = new ArrayList<>();
    ArrayList<Object> inner = deep;
    for (int i = 0; i < SerializableCodec.MAX_DEPTH; i++) {
      ArrayList<Object> next = new ArrayList<>();
      inner.add(next);
      inner = next;
    }
    assertThatThrownBy(() -> lists.decode(serialize(deep)))
        .hasMessageContaining("nested more than " + SerializableCodec.MAX_DEPTH + " levels");

    ArrayList<Object> many = new ArrayList<>();
    for (int i = 0; i < SerializableCodec.MAX_REFERENCES; i++) {
      many.add(new BigDecimal(i)); // distinct objects, each a reference or more
    }
    assertThatThrownBy(() -> lists.decode(serialize(many)))
        .hasMessageContaining(
            "more than " + SerializableCodec.MAX_REFERENCES + " object references");

    assertThatThrownBy(() -> lists.decode(new byte[SerializableCodec.MAX_BYTES + 1]))
        .hasMessageContaining("over the limit of " + SerializableCodec.MAX_BYTES);
  }

  /** Values of the shapes caches hold decode as before, sharing included. */
  @Test
  void ordinaryNestedValuesStillDecode() {
    Codec<HashMap> maps =
        Codecs.serializable(HashMap.class, SerializableCodecTest.class.getName() + "$*");
    HashMap<String, List<Line>> orders = new HashMap<>();
    for (int o = 0; o < 2_000; o++) {
      List<Line> lines = new ArrayList<>();
      for (int l = 0; l < 5; l++) {
        lines.add(new Line("item-" + l, l + 1, new BigDecimal("9.99")));
      }
      orders.put("order-" + o, lines);
    }
    assertThat(maps.decode(serialize(orders))).isEqualTo(orders);

    // Records as map keys, with nested maps of sets, and one list shared by every entry.
    List<String> shared = List.of("a", "b", "c");
    HashMap<Pair, Map<String, Set<UUID>>> byPair = new HashMap<>();
    for (int i = 0; i < 500; i++) {
      Map<String, Set<UUID>> inner = new LinkedHashMap<>();
      inner.put("ids", new HashSet<>(List.of(new UUID(i, 1), new UUID(i, 2))));
      inner.put("shared", Set.of(new UUID(0, 0)));
      byPair.put(new Pair("l" + i, "r" + i), inner);
    }
    HashMap<String, Object> mixed = new HashMap<>();
    mixed.put("pairs", byPair);
    mixed.put("tree", new TreeMap<>(Map.of("x", shared, "y", shared, "z", shared)));
    mixed.put("immutable", Set.copyOf(orders.keySet()));
    mixed.put("when", Instant.ofEpochSecond(1_700_000_000L));
    assertThat(maps.decode(serialize(mixed))).isEqualTo(mixed);

    // Comparable keys are ordered when their hashes collide, so many of them are fine.
    HashMap<Sku, Integer> stock = new HashMap<>();
    for (int i = 0; i < 20_000; i++) {
      stock.put(new Sku("vendor-" + (i % 7), i), i);
    }
    assertThat(maps.decode(serialize(stock))).isEqualTo(stock);
  }

  // ---------------------------------------------------------------- payloads

  private static HashSet<Object> nestedSets(int levels) {
    HashSet<Object> root = new HashSet<>();
    Set<Object> s1 = root;
    Set<Object> s2 = new HashSet<>();
    for (int i = 0; i < levels; i++) {
      Set<Object> t1 = new HashSet<>();
      Set<Object> t2 = new HashSet<>();
      t1.add("x"); // makes t1 and t2 different
      s1.add(t1);
      s1.add(t2);
      s2.add(t1);
      s2.add(t2);
      s1 = t1;
      s2 = t2;
    }
    return root;
  }

  /** A set holding a list that holds the next list {@code width} times, {@code levels} deep. */
  private static HashSet<Object> fanOut(int levels, int width) {
    List<Object> next = new ArrayList<>(List.of("leaf"));
    for (int i = 0; i < levels; i++) {
      List<Object> list = new ArrayList<>();
      for (int j = 0; j < width; j++) {
        list.add(next);
      }
      next = list;
    }
    HashSet<Object> set = new HashSet<>();
    List<Object> top = new ArrayList<>();
    set.add(top); // hashed while empty, filled afterwards: only the decoder pays
    top.addAll(next);
    return set;
  }

  /** {@code count} distinct one-element lists whose hash codes are all equal. */
  private static HashSet<Object> collidingLists(int count) {
    HashSet<Object> set = new HashSet<>();
    List<List<Object>> lists = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      List<Object> list = new ArrayList<>(List.of(i)); // distinct hashes while being added
      set.add(list);
      lists.add(list);
    }
    for (int i = 0; i < count; i++) {
      // "Aa" and "BB" have the same hash code, so every such string of 16 pairs does too.
      StringBuilder s = new StringBuilder();
      for (int bit = 0; bit < 16; bit++) {
        s.append(((i >> bit) & 1) == 0 ? "Aa" : "BB");
      }
      lists.get(i).set(0, s.toString());
    }
    return set;
  }

  private static byte[] serialize(Object value) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(value);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }
}
