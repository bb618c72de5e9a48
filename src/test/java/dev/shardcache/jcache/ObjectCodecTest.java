package dev.shardcache.jcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shardcache.CodecException;
import java.math.BigDecimal;
import java.util.List;
import org.junit.jupiter.api.Test;

class ObjectCodecTest {
  private final ObjectCodec codec = new ObjectCodec(List.of());

  @Test
  void compactTypesAndJdkValuesRoundTrip() {
    for (Object value : List.of("text", "", 42L, 7, new BigDecimal("1.50"), List.of("a", "b"))) {
      assertThat(codec.decode(codec.encode(value))).isEqualTo(value);
    }
    assertThat(codec.encode(42L)).hasSize(9);
  }

  @Test
  void keysEncodeDeterministically() {
    assertThat(codec.encode("k")).isEqualTo(codec.encode(new String("k")));
    assertThat(codec.encode(new BigDecimal("3"))).isEqualTo(codec.encode(new BigDecimal("3")));
  }

  @Test
  void classesOutsideTheAllowListAreRefused() {
    byte[] bytes = codec.encode(new Custom("x"));
    assertThatThrownBy(() -> codec.decode(bytes)).isInstanceOf(CodecException.class);
    ObjectCodec allowing = new ObjectCodec(List.of(Custom.class.getName()));
    assertThat(allowing.decode(bytes)).isEqualTo(new Custom("x"));
  }

  @Test
  void malformedBytesAreRefused() {
    assertThatThrownBy(() -> codec.decode(new byte[0])).isInstanceOf(CodecException.class);
    assertThatThrownBy(() -> codec.decode(new byte[] {'L', 1})).isInstanceOf(CodecException.class);
    assertThatThrownBy(() -> codec.decode(new byte[] {'?'})).isInstanceOf(CodecException.class);
  }

  record Custom(String name) implements java.io.Serializable {}
}
