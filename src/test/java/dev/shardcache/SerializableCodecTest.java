package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SerializableCodecTest {

  record Order(String id, BigDecimal total, List<String> lines, Instant placed) implements Serializable {}

  /** A class that is Serializable but not allowed: stands for any gadget. */
  static final class Gadget implements Serializable {
    private static final long serialVersionUID = 1L;
    String command = "rm -rf /";
  }

  record Box(Object content) implements Serializable {}

  @Test
  void allowedTypesRoundTrip() {
    Codec<Order> codec = Codecs.serializable(Order.class);
    Order order = new Order("o-1", new BigDecimal("12.50"), new ArrayList<>(List.of("a", "b")), Instant.ofEpochSecond(5));
    assertThat(codec.decode(codec.encode(order))).isEqualTo(order);
    Codec<java.util.HashMap> maps = Codecs.serializable(java.util.HashMap.class);
    assertThat(maps.decode(maps.encode(new java.util.HashMap<>(Map.of("k", 1L))))).containsEntry("k", 1L);
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
  }

  @Test
  void patternsThatAllowEverythingAreRejected() {
    assertThatThrownBy(() -> Codecs.serializable(Order.class, "*")).hasMessageContaining("unsafe");
    assertThatThrownBy(() -> Codecs.serializable(Order.class, "a;!b")).isInstanceOf(IllegalArgumentException.class);
    assertThat(Codecs.serializable(Order.class, "com.example.**")).isEqualTo(Codecs.serializable(Order.class, "com.example.**"));
  }
}
