package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class CacheStatsTest {

  private static CacheStats stats(long n) {
    return new CacheStats(
        n, 2 * n, 3 * n, 4 * n, 5 * n, 6 * n, 7 * n, 8 * n, 9 * n, 10 * n, 11 * n, 12 * n);
  }

  @Test
  void derivedCounts() {
    CacheStats s = stats(1);
    assertThat(s.requestCount()).isEqualTo(3);
    assertThat(s.hitRate()).isEqualTo(1.0 / 3);
    assertThat(s.loadCount()).isEqualTo(9);
    assertThat(CacheStats.empty().hitRate()).isEqualTo(1.0);
  }

  @Test
  void minusAndPlus() {
    assertThat(stats(5).minus(stats(2))).isEqualTo(stats(3));
    assertThat(stats(2).minus(stats(5))).isEqualTo(CacheStats.empty());
    assertThat(stats(2).plus(stats(3))).isEqualTo(stats(5));
    assertThat(stats(2).plus(stats(3)).putCount()).isEqualTo(60);
    assertThat(
            new CacheStats(Long.MAX_VALUE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
                .plus(stats(1))
                .hitCount())
        .isEqualTo(Long.MAX_VALUE);
  }
}
