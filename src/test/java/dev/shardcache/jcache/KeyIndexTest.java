package dev.shardcache.jcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * The JSR-107 key index stays within its bound however many keys go through it, and at the bound
 * forgets the key written longest ago.
 *
 * <p>Defect: the index kept every key ever written or loaded until an iteration found it gone, so a
 * cache written with ever new keys and never iterated grew the index without bound.
 */
class KeyIndexTest {

  private static KeyBytes key(int n) {
    return new KeyBytes(("k" + n).getBytes(StandardCharsets.UTF_8));
  }

  @Property(tries = 50)
  void neverHoldsMoreThanItsBound(
      @ForAll @IntRange(min = 1, max = 200) int bound,
      @ForAll @IntRange(min = 0, max = 2_000) int writes) {
    KeyIndex index = new KeyIndex(bound);
    for (int n = 0; n < writes; n++) {
      index.add(key(n));
      assertThat(index.size()).isLessThanOrEqualTo(bound);
    }
    assertThat(index.size()).isEqualTo(Math.min(bound, writes));
    // What it keeps is the newest keys, oldest first.
    int first = Math.max(0, writes - bound);
    assertThat(index.snapshot())
        .containsExactlyElementsOf(
            java.util.stream.IntStream.range(first, writes).mapToObj(KeyIndexTest::key).toList());
  }

  @Test
  void aKeyWrittenAgainCountsAsNew() {
    KeyIndex index = new KeyIndex(3);
    index.add(key(1));
    index.add(key(2));
    index.add(key(3));
    index.add(key(1)); // rewritten: now the newest
    index.add(key(4)); // forgets 2, the oldest
    assertThat(index.snapshot()).containsExactly(key(3), key(1), key(4));
    index.remove(key(3));
    index.add(key(5));
    assertThat(index.snapshot()).containsExactly(key(1), key(4), key(5));
  }

  @Test
  void writesFarPastTheDefaultBoundKeepItThere() {
    KeyIndex index = new KeyIndex();
    int writes = KeyIndex.DEFAULT_MAXIMUM_SIZE * 3 / 2;
    for (int n = 0; n < writes; n++) {
      index.add(key(n));
    }
    assertThat(index.size()).isEqualTo(KeyIndex.DEFAULT_MAXIMUM_SIZE);
    assertThat(index.snapshot().get(0)).isEqualTo(key(writes - KeyIndex.DEFAULT_MAXIMUM_SIZE));
  }

  @Test
  void aBoundBelowOneIsRefused() {
    assertThatThrownBy(() -> new KeyIndex(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maximumSize must be at least 1, got 0");
  }
}
