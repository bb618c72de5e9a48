package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.StringValue;
import java.nio.charset.StandardCharsets;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

/** Every shipped codec round-trips every value, and encodes equal values to equal bytes. */
class CodecProperties {

  @Property(tries = 2_000)
  void utf8RoundTrips(@ForAll String value) {
    // Lone surrogates cannot be encoded as UTF-8; Java replaces them with '?', so compare with
    // that.
    String representable =
        new String(value.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8);
    assertThat(Codecs.utf8().decode(Codecs.utf8().encode(representable))).isEqualTo(representable);
    assertThat(Codecs.utf8().encode(representable))
        .isEqualTo(Codecs.utf8().encode(new String(representable)));
  }

  @Property(tries = 2_000)
  void bytesRoundTrip(@ForAll byte[] value) {
    assertThat(Codecs.bytes().decode(Codecs.bytes().encode(value))).isEqualTo(value);
  }

  @Property(tries = 2_000)
  void longsRoundTrip(@ForAll long value) {
    assertThat(Codecs.longs().decode(Codecs.longs().encode(value))).isEqualTo(value);
  }

  @Property(tries = 1_000)
  void protobufRoundTrips(@ForAll String text) {
    Codec<StringValue> codec = Codecs.protobuf(StringValue.parser());
    StringValue value = StringValue.of(text);
    assertThat(codec.decode(codec.encode(value))).isEqualTo(value);
  }

  @Property(tries = 2_000)
  void utf8DecodeNeverReturnsADifferentStringForTheSameBytes(@ForAll byte[] bytes) {
    // Either the bytes are valid UTF-8 and re-encode to themselves, or decoding fails: no silent
    // substitution that would cache a different value than was sent.
    try {
      String decoded = Codecs.utf8().decode(bytes);
      assertThat(Codecs.utf8().encode(decoded)).isEqualTo(bytes);
    } catch (CodecException expected) {
      // rejected, as it should be
    }
  }
}
