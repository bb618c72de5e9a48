package dev.shardcache;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * The rules of the settings of one {@link CacheConfig}: those between settings, checked by {@link
 * CacheConfig.Builder#build()} once every setting is known, and those many setters share (set once,
 * positive, in a range). Each refusal names the settings and what to change. Stateless.
 */
final class CacheConfigChecks {
  private CacheConfigChecks() {}

  /**
   * Returns {@code duration}, the value of the setting {@code name}, if it is positive.
   *
   * @throws IllegalArgumentException naming the setting if it is zero or negative
   */
  static Duration positive(Duration duration, String name) {
    checkArgument(
        !duration.isNegative() && !duration.isZero(),
        "%s must be positive, got %s",
        name,
        duration);
    return duration;
  }

  /**
   * @throws IllegalStateException naming the value already set, if {@code current} is not null
   */
  static void unset(@Nullable Object current, String name) {
    checkState(current == null, "%s was already set to %s", name, current);
  }

  /**
   * @throws IllegalStateException naming the value already set, if {@code current} is not {@link
   *     CacheConfig#UNSET}
   */
  static void unset(long current, String name) {
    checkState(current == CacheConfig.UNSET, "%s was already set to %s", name, current);
  }

  /**
   * @throws IllegalStateException naming the bound already set, if the shard has one: a shard is
   *     bounded by entries or by weight, not both
   */
  static void noBound(long maximumSize, long maximumWeight) {
    unset(maximumSize, "maximumSize");
    unset(maximumWeight, "maximumWeight");
  }

  /**
   * @throws IllegalArgumentException naming the setting, if {@code value} is not in [{@code min},
   *     {@code max}]
   */
  static void inRange(long value, long min, long max, String name) {
    checkArgument(
        value >= min && value <= max, "%s must be in [%s, %s], got %s", name, min, max, value);
  }

  /**
   * @throws IllegalArgumentException if the settings of {@code config} contradict each other
   */
  static void check(CacheConfig<?, ?> config) {
    checkArgument(
        config.keyCodec() != (Object) Codecs.bytes(),
        "byte[] keys compare by identity, so equal arrays would be different keys; use String keys"
            + " (such as hex or Base64) or a protobuf message such as BytesValue with Codecs.protobuf");
    @Nullable Duration idle = config.expireAfterAccess().orElse(null);
    checkArgument(
        idle == null || config.replicationFactor() == 1,
        "expireAfterAccess (%s) is per node and replicas are read only when the owner is away, so"
            + " with replicationFactor %s replicas would drop entries the owner keeps reading and"
            + " anti-entropy would copy them back and forth; use expireAfterWrite with"
            + " replication, or replicationFactor 1",
        idle,
        config.replicationFactor());
    @Nullable Duration refresh = config.refreshAfterWrite().orElse(null);
    checkArgument(
        refresh == null || config.loader().isPresent(),
        "refreshAfterWrite (%s) reloads keys in the background on their owners with the cache's"
            + " loader, and this cache has none; set loader(...) on the configuration (the"
            + " loaders of get(key, loader) run on their caller and cannot refresh), or drop"
            + " refreshAfterWrite",
        refresh);
    @Nullable Duration lifetime = config.expireAfterWrite().orElse(null);
    checkArgument(
        refresh == null || lifetime == null || refresh.compareTo(lifetime) < 0,
        "refreshAfterWrite (%s) must be shorter than expireAfterWrite (%s), or values expire"
            + " before a read can refresh them",
        refresh,
        lifetime);
  }
}
