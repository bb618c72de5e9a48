package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class CacheConfigTest {

  private static CacheConfig.Builder<String, String> builder() {
    return CacheConfig.builder(Codecs.utf8(), Codecs.utf8());
  }

  @Test
  void defaults() {
    CacheConfig<String, String> config = builder().build();
    assertThat(config.maximumSize()).isEqualTo(CacheConfig.DEFAULT_MAXIMUM_SIZE);
    assertThat(config.expireAfterWrite()).isEmpty();
    assertThat(config.loader()).isEmpty();
    assertThat(config.nearCacheEnabled()).isFalse();
    assertThat(config.maxKeyBytes()).isEqualTo(4096);
    assertThat(config.maxValueBytes()).isEqualTo(1 << 20);
    assertThat(config.remoteTimeout()).isEqualTo(Duration.ofSeconds(5));
    assertThat(config.hotKeys()).isTrue();
  }

  @Test
  void hotKeysHaveAnOffSwitchSetOnceAndGiveWayToANearCache() {
    CacheConfig<String, String> off = builder().hotKeys(false).build();
    assertThat(off.hotKeys()).isFalse();
    assertThat(off).isNotEqualTo(builder().build());
    assertThat(off.toString()).contains("hotKeys=false");
    assertThatThrownBy(() -> builder().hotKeys(true).hotKeys(false))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("hotKeys was already set to true");
    assertThat(HotKeys.on(builder().build())).isTrue();
    assertThat(HotKeys.on(off)).isFalse();
    assertThat(HotKeys.on(builder().nearCache(10, Duration.ofSeconds(1)).build()))
        .as("a near cache keeps every remote read already")
        .isFalse();
  }

  @Test
  void settingsAreSetOnceAndValidated() {
    assertThatThrownBy(() -> builder().maximumSize(1).maximumSize(2))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("maximumSize was already set to 1");
    assertThatThrownBy(() -> builder().maximumSize(-1))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> builder().expireAfterWrite(Duration.ZERO))
        .hasMessageContaining("must be positive");
    assertThatThrownBy(() -> builder().nearCache(0, Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(
            () ->
                builder().nearCache(10, Duration.ofSeconds(1)).nearCache(10, Duration.ofSeconds(1)))
        .hasMessageContaining("nearCache was already set to 10 entries for PT1S");
    assertThatThrownBy(() -> builder().maxValueBytes(64 << 20))
        .hasMessageContaining("[1, 33554432]");
    assertThatThrownBy(() -> builder().maxKeyBytes(0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> builder().remoteTimeout(Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> builder().loader(k -> k).loader(k -> k))
        .hasMessageContaining("loader was already set");
    assertThatThrownBy(() -> CacheConfig.builder(null, Codecs.utf8()))
        .isInstanceOf(NullPointerException.class);
  }

  @Test
  void theShardIsBoundedByCountOrByWeightNeverBoth() {
    CacheConfig<String, String> byCount = builder().build();
    assertThat(byCount.maximumWeight()).isEmpty();
    assertThat(byCount.maximumSize()).isEqualTo(CacheConfig.DEFAULT_MAXIMUM_SIZE);

    CacheConfig<String, String> byWeight = builder().maximumWeight(64L << 20).build();
    assertThat(byWeight.maximumWeight()).hasValue(64L << 20);
    assertThat(byWeight.maximumSize()).isEqualTo(Long.MAX_VALUE);
    assertThat(byWeight.toString()).contains("maximumWeight=67108864").doesNotContain("Size");
    assertThat(byWeight)
        .isEqualTo(builder().maximumWeight(64L << 20).build())
        .isNotEqualTo(builder().maximumWeight(32L << 20).build())
        .isNotEqualTo(builder().build());

    assertThatThrownBy(() -> builder().maximumSize(100).maximumWeight(1024))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("maximumSize was already set to 100");
    assertThatThrownBy(() -> builder().maximumWeight(1024).maximumSize(100))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("maximumWeight was already set to 1024");
    assertThatThrownBy(() -> builder().maximumWeight(1024).maximumWeight(2048))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("maximumWeight was already set to 1024");
    assertThatThrownBy(() -> builder().maximumWeight(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("must not be negative");
  }

  @Test
  void expireAfterAccessIsSetOncePositiveAndNotWithReplicas() {
    assertThat(builder().build().expireAfterAccess()).isEmpty();
    CacheConfig<String, String> idle =
        builder()
            .expireAfterAccess(Duration.ofMinutes(5))
            .expireAfterWrite(Duration.ofHours(1))
            .build();
    assertThat(idle.expireAfterAccess()).contains(Duration.ofMinutes(5));
    assertThat(idle)
        .isNotEqualTo(builder().expireAfterWrite(Duration.ofHours(1)).build())
        .isEqualTo(
            builder()
                .expireAfterWrite(Duration.ofHours(1))
                .expireAfterAccess(Duration.ofMinutes(5))
                .build());
    assertThat(idle.toString()).contains("expireAfterAccess=PT5M");

    assertThatThrownBy(() -> builder().expireAfterAccess(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("expireAfterAccess must be positive, got PT0S");
    assertThatThrownBy(
            () ->
                builder()
                    .expireAfterAccess(Duration.ofSeconds(1))
                    .expireAfterAccess(Duration.ofSeconds(2)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("expireAfterAccess was already set to PT1S");
    assertThatThrownBy(
            () -> builder().expireAfterAccess(Duration.ofMinutes(5)).replicationFactor(2).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("replicationFactor 2")
        .hasMessageContaining("use expireAfterWrite with replication");
    assertThat(
            builder()
                .expireAfterAccess(Duration.ofMinutes(5))
                .replicationFactor(1)
                .build()
                .replicationFactor())
        .isEqualTo(1);
  }

  @Test
  void byteArrayKeysAreRefusedBecauseArraysCompareByIdentity() {
    assertThatThrownBy(() -> CacheConfig.builder(Codecs.bytes(), Codecs.utf8()).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("compare by identity");
    assertThat(CacheConfig.builder(Codecs.utf8(), Codecs.bytes()).build().valueCodec())
        .isEqualTo(Codecs.bytes());
  }

  @Test
  void equalityComparesSettingsAndInstances() {
    CacheLoader<String, String> loader = k -> k;
    assertThat(builder().maximumSize(5).loader(loader).build())
        .isEqualTo(builder().maximumSize(5).loader(loader).build())
        .isNotEqualTo(builder().maximumSize(6).loader(loader).build())
        .isNotEqualTo(builder().maximumSize(5).loader(k -> k).build());
    assertThat(builder().build().toString()).contains("maximumSize=10000", "nearCache=off");
  }
}
