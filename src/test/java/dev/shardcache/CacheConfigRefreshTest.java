package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** {@link CacheConfig.Builder#refreshAfterWrite}: set once, positive, and only with a loader. */
class CacheConfigRefreshTest {
  private static final CacheLoader<String, String> LOADER = key -> "v";

  private static CacheConfig.Builder<String, String> builder() {
    return CacheConfig.builder(Codecs.utf8(), Codecs.utf8());
  }

  @Test
  void isOffByDefaultAndKeptWhenSet() {
    assertThat(builder().build().refreshAfterWrite()).isEmpty();
    CacheConfig<String, String> config =
        builder().loader(LOADER).refreshAfterWrite(Duration.ofMinutes(1)).build();
    assertThat(config.refreshAfterWrite()).contains(Duration.ofMinutes(1));
    assertThat(config.toString()).contains("refreshAfterWrite=PT1M");
    assertThat(config)
        .isEqualTo(builder().loader(LOADER).refreshAfterWrite(Duration.ofMinutes(1)).build())
        .hasSameHashCodeAs(
            builder().loader(LOADER).refreshAfterWrite(Duration.ofMinutes(1)).build())
        .isNotEqualTo(builder().loader(LOADER).refreshAfterWrite(Duration.ofMinutes(2)).build())
        .isNotEqualTo(builder().loader(LOADER).build());
  }

  @Test
  void isSetOnceAndPositive() {
    assertThatThrownBy(
            () ->
                builder()
                    .refreshAfterWrite(Duration.ofSeconds(1))
                    .refreshAfterWrite(Duration.ofSeconds(2)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("refreshAfterWrite was already set to PT1S");
    assertThatThrownBy(() -> builder().refreshAfterWrite(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("refreshAfterWrite must be positive, got PT0S");
    assertThatThrownBy(() -> builder().refreshAfterWrite(Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> builder().refreshAfterWrite(null))
        .isInstanceOf(NullPointerException.class);
  }

  @Test
  void needsTheCachesOwnLoaderBecauseRefreshesRunOnTheOwner() {
    assertThatThrownBy(() -> builder().refreshAfterWrite(Duration.ofMinutes(1)).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("refreshAfterWrite (PT1M)")
        .hasMessageContaining("set loader(...)")
        .hasMessageContaining("get(key, loader)");
  }

  @Test
  void mustBeShorterThanTheLifetimeOrNothingWouldEverBeRefreshed() {
    assertThatThrownBy(
            () ->
                builder()
                    .loader(LOADER)
                    .expireAfterWrite(Duration.ofMinutes(1))
                    .refreshAfterWrite(Duration.ofMinutes(1))
                    .build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "refreshAfterWrite (PT1M) must be shorter than expireAfterWrite (PT1M), or values"
                + " expire before a read can refresh them");
    assertThat(
            builder()
                .loader(LOADER)
                .expireAfterWrite(Duration.ofMinutes(10))
                .refreshAfterWrite(Duration.ofMinutes(1))
                .build()
                .refreshAfterWrite())
        .contains(Duration.ofMinutes(1));
  }
}
