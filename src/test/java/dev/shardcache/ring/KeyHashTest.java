package dev.shardcache.ring;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.hash.Hashing;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class KeyHashTest {

  private static long guava(byte[] bytes) {
    return Hashing.murmur3_128().hashBytes(bytes).asLong();
  }

  @Test
  void matchesGuavaMurmur3OnRandomInputsOfEveryTailLength() {
    Random random = new Random(0x5eed);
    for (int i = 0; i < 20_000; i++) {
      // Lengths 0..199 cover every tail length (len % 16) with zero to twelve full blocks.
      byte[] bytes = new byte[i % 200];
      random.nextBytes(bytes);
      assertThat(KeyHash.hash(bytes))
          .as(() -> "input " + Arrays.toString(bytes))
          .isEqualTo(guava(bytes));
    }
  }

  @Test
  void matchesGuavaOnBytesWithTheHighBitSet() {
    // Tail bytes must be read as unsigned; all-0xFF inputs catch sign extension.
    for (int len = 0; len <= 40; len++) {
      byte[] bytes = new byte[len];
      Arrays.fill(bytes, (byte) 0xFF);
      assertThat(KeyHash.hash(bytes)).as("len %d", len).isEqualTo(guava(bytes));
    }
  }

  @Test
  void rangeOverloadHashesTheSameAsACopyOfTheRange() {
    Random random = new Random(42);
    byte[] buffer = new byte[300];
    random.nextBytes(buffer);
    for (int i = 0; i < 5_000; i++) {
      int off = random.nextInt(buffer.length + 1);
      int len = random.nextInt(buffer.length - off + 1);
      byte[] copy = Arrays.copyOfRange(buffer, off, off + len);
      assertThat(KeyHash.hash(buffer, off, len)).isEqualTo(KeyHash.hash(copy));
    }
  }

  /**
   * Pinned outputs. The ring hash decides which node owns every key, and nodes of two versions run
   * side by side during a rolling upgrade: if any of these constants has to change, old and new
   * nodes disagree about owners and the upgrade breaks. Do not "fix" these values; fix the code.
   */
  @Test
  void pinnedOutputsNeverChange() {
    assertThat(KeyHash.hash("".getBytes(UTF_8))).isEqualTo(0L);
    assertThat(KeyHash.hash("a".getBytes(UTF_8))).isEqualTo(0x85555565f6597889L);
    assertThat(KeyHash.hash("hello".getBytes(UTF_8))).isEqualTo(0xcbd8a7b341bd9b02L);
    assertThat(KeyHash.hash("user:42".getBytes(UTF_8))).isEqualTo(0xcd01081bf0aa3a68L);
    assertThat(KeyHash.hash("0123456789abcdef".getBytes(UTF_8))).isEqualTo(0x4be06d94cf4ad1a7L);
    assertThat(KeyHash.hash("The quick brown fox jumps over the lazy dog".getBytes(UTF_8)))
        .isEqualTo(0xe34bbc7bbc071b6cL);
  }

  @Test
  void rejectsNullAndRangesOutsideTheArray() {
    assertThatThrownBy(() -> KeyHash.hash(nullBytes())).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> KeyHash.hash(nullBytes(), 0, 0))
        .isInstanceOf(NullPointerException.class);
    byte[] bytes = new byte[10];
    assertThatThrownBy(() -> KeyHash.hash(bytes, -1, 2))
        .isInstanceOf(IndexOutOfBoundsException.class);
    assertThatThrownBy(() -> KeyHash.hash(bytes, 5, 6))
        .isInstanceOf(IndexOutOfBoundsException.class);
    assertThatThrownBy(() -> KeyHash.hash(bytes, 0, -1))
        .isInstanceOf(IndexOutOfBoundsException.class);
    assertThat(KeyHash.hash(bytes, 10, 0)).isEqualTo(KeyHash.hash(new byte[0]));
  }

  /** A null the compiler cannot see through, passed on purpose to check the exception. */
  private static byte[] nullBytes() {
    return null;
  }
}
