package dev.shardcache.objects;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shardcache.CodecException;
import dev.shardcache.ring.HashRing;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** The key encoding rule: equal keys, equal bytes, on any node; unequal keys, different bytes. */
class StableKeyEncoderTest {
  private final StableKeyEncoder encoder = StableKeyEncoder.standard();

  record Isbn(String prefix, int number) {}

  enum Shelf {
    LEFT,
    RIGHT {
      @Override
      public String toString() {
        return "r";
      }
    }
  }

  @Test
  void hashMapsWithTheSameEntriesEncodeAlikeWhateverTheirHistory() {
    Map<String, Integer> small = new HashMap<>();
    Map<String, Integer> large = new HashMap<>(1024);
    List<String> words = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      words.add("word-" + i);
    }
    words.forEach(w -> small.put(w, w.length()));
    Collections.reverse(words);
    words.forEach(w -> large.put(w, w.length()));
    large.put("extra", 1);
    large.remove("extra");
    // Java serialization would write these in different bucket orders.
    assertThat(encoder.encode(small)).isEqualTo(encoder.encode(large));
    assertThat(encoder.encode(new TreeMap<>(small))).isEqualTo(encoder.encode(small));
    assertThat(encoder.encode(new LinkedHashMap<>(large))).isEqualTo(encoder.encode(small));
  }

  @Test
  @SuppressWarnings(
      "JdkObsolete") // LinkedList is here as one more List class that must encode alike
  void equalCollectionsOfDifferentClassesEncodeAlike() {
    assertThat(encoder.encode(new HashSet<>(List.of("b", "a", "c"))))
        .isEqualTo(encoder.encode(new TreeSet<>(List.of("c", "a", "b"))))
        .isEqualTo(encoder.encode(Set.of("a", "b", "c")));
    assertThat(encoder.encode(new LinkedList<>(List.of(1, 2))))
        .isEqualTo(encoder.encode(List.of(1, 2)))
        .isEqualTo(encoder.encode(Arrays.asList(1, 2)));
    // Arrays.deepEquals(Object[], String[]) holds when the elements are equal
    assertThat(encoder.encode(new Object[] {"a", "b"}))
        .isEqualTo(encoder.encode(new String[] {"a", "b"}));
    assertThat(encoder.encode(new int[] {1, 2})).isEqualTo(encoder.encode(new int[] {1, 2}));
  }

  @Test
  void unequalKeysEncodeDifferently() {
    List<Object> keys =
        List.of(
            1,
            1L,
            (short) 1,
            (byte) 1,
            1.0,
            1.0f,
            '1',
            "1",
            true,
            new BigInteger("1"),
            new BigDecimal("1"),
            new BigDecimal("1.0"),
            0.0,
            -0.0,
            List.of(1),
            Set.of(1),
            Map.of(1, 1),
            new int[] {1},
            new long[] {1},
            new Object[] {1},
            "a, b",
            List.of("a", "b"),
            List.of("a,", "b"),
            List.of(List.of("a"), "b"),
            new Isbn("978", 1),
            new Isbn("97", 81),
            Shelf.LEFT,
            Shelf.RIGHT,
            "LEFT",
            UUID.fromString("00000000-0000-0001-0000-000000000001"),
            LocalDate.of(2024, 1, 2),
            Instant.ofEpochSecond(0),
            Duration.ofSeconds(1),
            ZoneOffset.UTC,
            ZoneId.of("UTC"),
            "\uD800",
            "?",
            "");
    Set<StableKey> distinct = new HashSet<>();
    for (Object key : keys) {
      assertThat(distinct.add(encoder.encode(key))).as("key %s", key).isTrue();
    }
    assertThat(encoder.encode(null)).isNotEqualTo(encoder.encode("null"));
  }

  @Test
  void argumentsAreShapedAsSpringShapesThem() {
    assertThat(encoder.encodeArguments("x")).isEqualTo(encoder.encode("x"));
    assertThat(encoder.encodeArguments()).isNotEqualTo(encoder.encode(List.of()));
    assertThat(encoder.encodeArguments("x", 1)).isNotEqualTo(encoder.encode(List.of("x", 1)));
    // a single array argument is wrapped, as SimpleKeyGenerator wraps it
    assertThat(encoder.encodeArguments((Object) new int[] {1}))
        .isNotEqualTo(encoder.encode(new int[] {1}));
    assertThat(encoder.encodeArguments("x", 1).toString()).isEqualTo("StableKey(\"x\", 1)");
  }

  @Test
  void bytesArePinnedAcrossVersions() {
    // Changing these moves every key to another owner during a rolling upgrade.
    HexFormat hex = HexFormat.of();
    assertThat(hex.formatHex(encoder.encode("ab").toBytes())).isEqualTo("0173026162");
    assertThat(hex.formatHex(encoder.encode(42L).toBytes())).isEqualTo("014a000000000000002a");
    assertThat(hex.formatHex(encoder.encodeArguments("a", 7).toBytes()))
        .isEqualTo("0150027301614900000007");
    assertThat(hex.formatHex(encoder.encode(Map.of("b", 1, "a", 2)).toBytes()))
        .isEqualTo("014d0273016149000000027301624900000001");
    assertThat(
            HashRing.of(List.of("h:1", "h:2", "h:3"))
                .ownerOf(encoder.encode(List.of("k", 1)).toBytes()))
        .isEqualTo(
            HashRing.of(List.of("h:3", "h:1", "h:2"))
                .ownerOf(StableKey.codec().encode(encoder.encode(List.of("k", 1)))));
  }

  @Test
  void recordsAndRegisteredTypesAreEncodedByValue() {
    assertThat(encoder.encode(new Isbn("978", 3))).isEqualTo(encoder.encode(new Isbn("978", 3)));
    assertThat(encoder.encode(new Isbn("978", 3)).toString())
        .isEqualTo("StableKey(Isbn[\"978\", 3])");

    final class Sku {
      final String code;

      Sku(String code) {
        this.code = code;
      }
    }
    StableKeyEncoder custom =
        StableKeyEncoder.builder().composite(Sku.class, "sku", s -> List.of(s.code)).build();
    assertThat(custom.encode(new Sku("x"))).isEqualTo(custom.encode(new Sku("x")));
    assertThat(custom.encode(new Sku("x"))).isNotEqualTo(custom.encode(new Sku("y")));
    assertThatThrownBy(() -> encoder.encode(new Sku("x")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("Sku")
        .hasMessageContaining("record");
  }

  @Test
  void unsupportedAndCyclicKeysAreRefused() {
    assertThatThrownBy(() -> encoder.encode(new Object()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("java.lang.Object");
    List<Object> cyclic = new ArrayList<>();
    cyclic.add(cyclic);
    assertThatThrownBy(() -> encoder.encode(cyclic))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("nested");
  }

  @Test
  void codecRoundTripsAndRejectsMalformedBytes() {
    StableKey key = encoder.encode(Map.of("a", List.of(1, 2L), "b", Set.of(UUID.randomUUID())));
    assertThat(StableKey.codec().decode(StableKey.codec().encode(key))).isEqualTo(key);
    assertThatThrownBy(() -> StableKey.codec().decode(new byte[0]))
        .isInstanceOf(CodecException.class);
    assertThatThrownBy(() -> StableKey.codec().decode(new byte[] {1, 's', 5, 'a'}))
        .isInstanceOf(CodecException.class)
        .hasMessageContaining("out of range");
    assertThatThrownBy(() -> StableKey.codec().decode(new byte[] {1, 'N', 'N'}))
        .isInstanceOf(CodecException.class)
        .hasMessageContaining("after the end");
    assertThatThrownBy(() -> StableKey.codec().decode(new byte[] {1, '?'}))
        .isInstanceOf(CodecException.class)
        .hasMessageContaining("unknown tag");
    // a set whose elements are out of canonical order could never come from encode()
    assertThatThrownBy(
            () ->
                StableKey.codec().decode(new byte[] {1, 'Q', 2, 'I', 0, 0, 0, 2, 'I', 0, 0, 0, 1}))
        .isInstanceOf(CodecException.class)
        .hasMessageContaining("canonical order");
  }
}
