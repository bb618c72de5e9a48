package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.StringValue;
import org.junit.jupiter.api.Test;

class CodecsTest {

  @Test
  void utf8RejectsMalformedBytesInsteadOfReplacingThem() {
    assertThatThrownBy(() -> Codecs.utf8().decode(new byte[] {(byte) 0xC3, (byte) 0x28}))
        .isInstanceOf(CodecException.class)
        .hasMessageContaining("not valid UTF-8");
    assertThat(Codecs.utf8().decode(Codecs.utf8().encode("żółw €"))).isEqualTo("żółw €");
  }

  @Test
  void longsAreEightBigEndianBytes() {
    assertThat(Codecs.longs().encode(1L)).containsExactly(0, 0, 0, 0, 0, 0, 0, 1);
    assertThatThrownBy(() -> Codecs.longs().decode(new byte[3]))
        .isInstanceOf(CodecException.class)
        .hasMessageContaining("exactly 8 bytes, got 3");
  }

  @Test
  void bytesAreCopiedBothWays() {
    byte[] original = {1, 2, 3};
    byte[] encoded = Codecs.bytes().encode(original);
    original[0] = 9;
    assertThat(encoded).containsExactly(1, 2, 3);
    byte[] decoded = Codecs.bytes().decode(encoded);
    encoded[1] = 9;
    assertThat(decoded).containsExactly(1, 2, 3);
  }

  @Test
  void decodingAnArrayNobodyElseHoldsTakesItAsItIsForBytesAndDecodesItForTheRest() {
    byte[] owned = {1, 2, 3};
    assertThat(Codecs.decodeOwned(Codecs.bytes(), owned)).isSameAs(owned);
    assertThat(Codecs.decodeOwned(Codecs.utf8(), new byte[] {'h', 'i'})).isEqualTo("hi");
    assertThatThrownBy(() -> Codecs.decodeOwned(Codecs.longs(), new byte[] {1}))
        .isInstanceOf(CodecException.class);
  }

  @Test
  void protobufRejectsMalformedMessages() {
    Codec<StringValue> codec = Codecs.protobuf(StringValue.parser());
    StringValue value = StringValue.of("hello");
    assertThat(codec.decode(codec.encode(value))).isEqualTo(value);
    assertThatThrownBy(() -> codec.decode(new byte[] {0x0A, 0x7F, 0x01}))
        .isInstanceOf(CodecException.class)
        .hasMessageContaining("not a valid protobuf message");
    assertThat(Codecs.protobuf(StringValue.parser())).isEqualTo(codec);
  }
}
