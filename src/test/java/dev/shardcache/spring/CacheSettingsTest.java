package dev.shardcache.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shardcache.CacheConfig;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** How one cache's settings combine with the defaults, and what reaches its configuration. */
class CacheSettingsTest {

  @Test
  void theBoundIsInheritedAsOneSetting() {
    CacheSettings byWeight = CacheSettings.builder().maximumWeight(64L << 20).build();
    CacheSettings bySize = CacheSettings.builder().maximumSize(500).build();

    CacheSettings ownSize = bySize.withDefaults(byWeight);
    assertThat(ownSize.maximumSize()).isEqualTo(500);
    assertThat(ownSize.maximumWeight()).as("not the default's weight besides").isNull();
    assertThat(ownSize.toConfig().maximumWeight()).isEmpty();

    CacheSettings inherited = CacheSettings.empty().withDefaults(byWeight);
    assertThat(inherited.maximumWeight()).isEqualTo(64L << 20);
    CacheConfig<?, ?> config = inherited.toConfig();
    assertThat(config.maximumWeight()).hasValue(64L << 20);
    assertThat(config.maximumSize()).isEqualTo(Long.MAX_VALUE);

    assertThat(byWeight.withDefaults(bySize).toConfig().maximumWeight()).hasValue(64L << 20);
  }

  @Test
  void expireAfterAccessIsInheritedAndReachesTheConfiguration() {
    CacheSettings defaults =
        CacheSettings.builder().expireAfterAccess(Duration.ofMinutes(30)).build();
    assertThat(CacheSettings.empty().withDefaults(defaults).toConfig().expireAfterAccess())
        .contains(Duration.ofMinutes(30));
    assertThat(
            CacheSettings.builder()
                .expireAfterAccess(Duration.ofMinutes(5))
                .build()
                .withDefaults(defaults)
                .expireAfterAccess())
        .isEqualTo(Duration.ofMinutes(5));
    assertThat(defaults).isNotEqualTo(CacheSettings.empty());
    assertThat(defaults.toString()).contains("expireAfterAccess=PT30M");
  }

  @Test
  void hotKeysAreOnUnlessTurnedOffHereOrInTheDefaults() {
    CacheSettings off = CacheSettings.builder().hotKeys(false).build();
    assertThat(CacheSettings.empty().toConfig().hotKeys()).isTrue();
    assertThat(CacheSettings.empty().withDefaults(off).toConfig().hotKeys()).isFalse();
    assertThat(CacheSettings.builder().hotKeys(true).build().withDefaults(off).toConfig().hotKeys())
        .isTrue();
    assertThat(off).isNotEqualTo(CacheSettings.empty());
    assertThat(off.toString()).contains("hotKeys=false");
    assertThatThrownBy(() -> CacheSettings.builder().hotKeys(false).hotKeys(true))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("hotKeys was already set to false");
  }

  @Test
  void conflictingSettingsAreRefusedWithTheValueAlreadySet() {
    assertThatThrownBy(() -> CacheSettings.builder().maximumSize(10).maximumWeight(1024))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("maximumSize was already set to 10");
    assertThatThrownBy(() -> CacheSettings.builder().maximumWeight(1024).maximumSize(10))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("maximumWeight was already set to 1024");
    assertThatThrownBy(() -> CacheSettings.builder().expireAfterAccess(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    CacheSettings replicatedAndIdle =
        CacheSettings.builder()
            .expireAfterAccess(Duration.ofMinutes(5))
            .replicationFactor(2)
            .build();
    assertThatThrownBy(replicatedAndIdle::toConfig)
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("use expireAfterWrite with replication");
  }
}
