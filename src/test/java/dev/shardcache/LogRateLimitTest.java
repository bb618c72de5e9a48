package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The rate limit of repeated warnings. Defect: the last-logged time started at {@code
 * Long.MIN_VALUE}, so "now minus last" overflowed to a negative number and the refusal warnings of
 * hand-off and anti-entropy never passed at all.
 */
class LogRateLimitTest {
  private static final long NOW = System.currentTimeMillis();

  @Test
  void theFirstWarningPasses() {
    assertThat(new LogRateLimit(10_000).tryPass(NOW)).isTrue();
  }

  @Test
  void oneWarningPassesPerInterval() {
    LogRateLimit limit = new LogRateLimit(10_000);

    assertThat(limit.tryPass(NOW)).isTrue();
    assertThat(limit.tryPass(NOW + 1)).isFalse();
    assertThat(limit.tryPass(NOW + 9_999)).isFalse();
    assertThat(limit.tryPass(NOW + 10_000)).isTrue();
    assertThat(limit.tryPass(NOW + 10_001)).isFalse();
  }

  @Test
  void aClockThatStepsBackDoesNotPassAnother() {
    LogRateLimit limit = new LogRateLimit(10_000);

    assertThat(limit.tryPass(NOW)).isTrue();
    assertThat(limit.tryPass(NOW - 60_000)).isFalse();
  }
}
