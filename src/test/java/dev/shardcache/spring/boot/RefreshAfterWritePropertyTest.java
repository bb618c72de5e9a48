package dev.shardcache.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shardcache.spring.CacheSettings;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * {@code shardcache.caches.NAME.refresh-after-write}: a Spring cache has no loader its owner could
 * reload with, so asking for refresh-ahead fails at startup with a message saying why and what to
 * use instead, rather than binding and silently never refreshing.
 */
class RefreshAfterWritePropertyTest {
  private final ApplicationContextRunner runner =
      new ApplicationContextRunner()
          .withConfiguration(AutoConfigurations.of(ShardcacheAutoConfiguration.class))
          .withPropertyValues("shardcache.port=0");

  @Test
  void isBoundOntoTheCachesSettings() {
    ShardcacheProperties.Cache properties = new ShardcacheProperties.Cache();
    properties.setRefreshAfterWrite(Duration.ofMinutes(5));
    assertThat(
            ShardcacheAutoConfiguration.settings("shardcache.caches.books", properties)
                .refreshAfterWrite())
        .isEqualTo(Duration.ofMinutes(5));
    assertThat(
            ShardcacheAutoConfiguration.settings(
                "shardcache.caches.books", new ShardcacheProperties.Cache()))
        .isEqualTo(CacheSettings.empty());
  }

  @Test
  void failsTheStartWithAMessageSayingWhyAndWhatToUseInstead() {
    runner
        .withPropertyValues("shardcache.caches.books.refresh-after-write=5m")
        .run(
            context -> {
              assertThat(context).hasFailed();
              assertThat(context.getStartupFailure())
                  .rootCause()
                  .isInstanceOf(IllegalArgumentException.class)
                  .hasMessageContaining("refresh-after-write")
                  .hasMessageContaining("PT5M")
                  .hasMessageContaining("a Spring cache has none")
                  .hasMessageContaining("expire-after-write");
            });
  }

  @Test
  void isInheritedFromTheDefaultsLikeEveryOtherSetting() {
    CacheSettings merged =
        CacheSettings.empty()
            .withDefaults(CacheSettings.builder().refreshAfterWrite(Duration.ofMinutes(1)).build());
    assertThat(merged.refreshAfterWrite()).isEqualTo(Duration.ofMinutes(1));
    assertThat(merged.toString()).contains("refreshAfterWrite=PT1M");
    assertThatThrownBy(
            () ->
                CacheSettings.builder()
                    .refreshAfterWrite(Duration.ofMinutes(1))
                    .refreshAfterWrite(Duration.ofMinutes(2)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("refreshAfterWrite was already set to PT1M");
    assertThatThrownBy(() -> CacheSettings.builder().refreshAfterWrite(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
