package dev.shardcache.spring;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;
import static java.util.Objects.requireNonNull;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codec;
import dev.shardcache.objects.ObjectCodecs;
import dev.shardcache.objects.StableKey;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The settings of one Spring cache, or the defaults of all of them: the shard's bound (entries or
 * bytes), TTL and idle time, the near cache, hot keys, the peer timeout, and how values are
 * encoded. Each setting may be left unset, in which case it is inherited from the defaults given to
 * {@link ShardcacheCacheManager.Builder#defaults}, and then from {@link CacheConfig}'s own
 * defaults. The bound is inherited as one setting: a cache that sets {@code maximumSize} is not
 * bounded by a default {@code maximumWeight}, nor the other way round.
 *
 * <p>Values are encoded with {@link ObjectCodecs#serializable} allowing the {@linkplain
 * Builder#allowedValueClasses allowed value classes} of the cache <em>and</em> of the defaults,
 * unless a {@linkplain Builder#valueCodec value codec} is set (on the cache, else on the defaults).
 * Every node must define a cache with equivalent settings.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class CacheSettings {
  private static final CacheSettings EMPTY = new Builder().build();

  private final @Nullable Long maximumSize;
  private final @Nullable Long maximumWeight;
  private final @Nullable Duration expireAfterWrite;
  private final @Nullable Duration expireAfterAccess;
  private final @Nullable Duration refreshAfterWrite;
  private final @Nullable Long nearCacheMaximumSize;
  private final @Nullable Duration nearCacheTtl;
  private final @Nullable Duration remoteTimeout;
  private final @Nullable Integer replicationFactor;
  private final @Nullable Boolean hotKeys;
  private final List<String> allowedValueClasses;
  private final @Nullable Codec<Object> valueCodec;

  private CacheSettings(Builder b) {
    this.maximumSize = b.maximumSize;
    this.maximumWeight = b.maximumWeight;
    this.expireAfterWrite = b.expireAfterWrite;
    this.expireAfterAccess = b.expireAfterAccess;
    this.refreshAfterWrite = b.refreshAfterWrite;
    this.nearCacheMaximumSize = b.nearCacheMaximumSize;
    this.nearCacheTtl = b.nearCacheTtl;
    this.remoteTimeout = b.remoteTimeout;
    this.replicationFactor = b.replicationFactor;
    this.hotKeys = b.hotKeys;
    this.allowedValueClasses = List.copyOf(b.allowedValueClasses);
    this.valueCodec = b.valueCodec;
  }

  /** Returns settings with nothing set: every value is inherited. */
  public static CacheSettings empty() {
    return EMPTY;
  }

  /** Returns a builder of settings. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Returns these settings with every unset value taken from {@code defaults}; allowed value
   * classes are the union of both.
   */
  public CacheSettings withDefaults(CacheSettings defaults) {
    requireNonNull(defaults, "defaults");
    Builder merged = new Builder();
    boolean ownBound = maximumSize != null || maximumWeight != null;
    merged.maximumSize = ownBound ? maximumSize : defaults.maximumSize;
    merged.maximumWeight = ownBound ? maximumWeight : defaults.maximumWeight;
    merged.expireAfterWrite =
        expireAfterWrite != null ? expireAfterWrite : defaults.expireAfterWrite;
    merged.expireAfterAccess =
        expireAfterAccess != null ? expireAfterAccess : defaults.expireAfterAccess;
    merged.refreshAfterWrite =
        refreshAfterWrite != null ? refreshAfterWrite : defaults.refreshAfterWrite;
    boolean ownNear = nearCacheMaximumSize != null;
    merged.nearCacheMaximumSize = ownNear ? nearCacheMaximumSize : defaults.nearCacheMaximumSize;
    merged.nearCacheTtl = ownNear ? nearCacheTtl : defaults.nearCacheTtl;
    merged.remoteTimeout = remoteTimeout != null ? remoteTimeout : defaults.remoteTimeout;
    merged.valueCodec = valueCodec != null ? valueCodec : defaults.valueCodec;
    merged.replicationFactor =
        replicationFactor != null ? replicationFactor : defaults.replicationFactor;
    merged.hotKeys = hotKeys != null ? hotKeys : defaults.hotKeys;
    Set<String> allowed = new LinkedHashSet<>(defaults.allowedValueClasses);
    allowed.addAll(allowedValueClasses);
    merged.allowedValueClasses.addAll(allowed);
    return merged.build();
  }

  public @Nullable Long maximumSize() {
    return maximumSize;
  }

  /** The shard's bound in bytes, or {@code null} when not set. */
  public @Nullable Long maximumWeight() {
    return maximumWeight;
  }

  public @Nullable Duration expireAfterWrite() {
    return expireAfterWrite;
  }

  public @Nullable Duration expireAfterAccess() {
    return expireAfterAccess;
  }

  /** See {@link Builder#refreshAfterWrite}: set, it makes {@link #toConfig} fail. */
  public @Nullable Duration refreshAfterWrite() {
    return refreshAfterWrite;
  }

  /**
   * The near cache's bound, or {@code null} when not set (then it is off unless a default sets it).
   */
  public @Nullable Long nearCacheMaximumSize() {
    return nearCacheMaximumSize;
  }

  public @Nullable Duration nearCacheTtl() {
    return nearCacheTtl;
  }

  public @Nullable Duration remoteTimeout() {
    return remoteTimeout;
  }

  public @Nullable Integer replicationFactor() {
    return replicationFactor;
  }

  /** Whether hot keys are on, or {@code null} when not set (then they are on). */
  public @Nullable Boolean hotKeys() {
    return hotKeys;
  }

  public List<String> allowedValueClasses() {
    return allowedValueClasses;
  }

  public @Nullable Codec<Object> valueCodec() {
    return valueCodec;
  }

  /** Returns the codec values are encoded with, before the null marker is added. */
  Codec<Object> effectiveValueCodec() {
    return valueCodec != null
        ? valueCodec
        : ObjectCodecs.serializable(allowedValueClasses.toArray(new String[0]));
  }

  /**
   * Returns the configuration of the distributed cache behind a Spring cache with these settings.
   *
   * @throws IllegalArgumentException if {@link #refreshAfterWrite} is set (see there)
   */
  CacheConfig<StableKey, Object> toConfig() {
    checkArgument(
        refreshAfterWrite == null,
        "refreshAfterWrite (refresh-after-write) %s: a refresh reloads a key on its owner with the"
            + " cache's loader, and a Spring cache has none. Its values come from the cached"
            + " methods, which only the calling instance can run, and its keys (StableKey) cannot"
            + " be turned back into method arguments on another node. Use expire-after-write, or"
            + " keep data you want refreshed ahead in a DistributedCache defined with"
            + " CacheConfig.builder(...).loader(...).refreshAfterWrite(...)",
        refreshAfterWrite);
    CacheConfig.Builder<StableKey, Object> config =
        CacheConfig.builder(StableKey.codec(), new NullMarkingCodec(effectiveValueCodec()));
    if (maximumSize != null) {
      config.maximumSize(maximumSize);
    }
    if (maximumWeight != null) {
      config.maximumWeight(maximumWeight);
    }
    if (expireAfterWrite != null) {
      config.expireAfterWrite(expireAfterWrite);
    }
    if (expireAfterAccess != null) {
      config.expireAfterAccess(expireAfterAccess);
    }
    if (nearCacheMaximumSize != null && nearCacheMaximumSize > 0) {
      config.nearCache(nearCacheMaximumSize, requireNonNull(nearCacheTtl, "nearCacheTtl"));
    }
    if (remoteTimeout != null) {
      config.remoteTimeout(remoteTimeout);
    }
    if (replicationFactor != null && replicationFactor > 1) {
      config.replicationFactor(replicationFactor);
    }
    if (hotKeys != null) {
      config.hotKeys(hotKeys);
    }
    return config.build();
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof CacheSettings s
        && Objects.equals(maximumSize, s.maximumSize)
        && Objects.equals(maximumWeight, s.maximumWeight)
        && Objects.equals(expireAfterWrite, s.expireAfterWrite)
        && Objects.equals(expireAfterAccess, s.expireAfterAccess)
        && Objects.equals(refreshAfterWrite, s.refreshAfterWrite)
        && Objects.equals(nearCacheMaximumSize, s.nearCacheMaximumSize)
        && Objects.equals(nearCacheTtl, s.nearCacheTtl)
        && Objects.equals(remoteTimeout, s.remoteTimeout)
        && Objects.equals(replicationFactor, s.replicationFactor)
        && Objects.equals(hotKeys, s.hotKeys)
        && allowedValueClasses.equals(s.allowedValueClasses)
        && Objects.equals(valueCodec, s.valueCodec);
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        maximumSize,
        maximumWeight,
        expireAfterWrite,
        expireAfterAccess,
        nearCacheMaximumSize,
        remoteTimeout,
        allowedValueClasses);
  }

  @Override
  public String toString() {
    return "CacheSettings{maximumSize="
        + maximumSize
        + ", maximumWeight="
        + maximumWeight
        + ", expireAfterWrite="
        + expireAfterWrite
        + ", expireAfterAccess="
        + expireAfterAccess
        + (refreshAfterWrite == null ? "" : ", refreshAfterWrite=" + refreshAfterWrite)
        + ", nearCache="
        + (nearCacheMaximumSize == null ? null : nearCacheMaximumSize + "/" + nearCacheTtl)
        + ", remoteTimeout="
        + remoteTimeout
        + ", replicationFactor="
        + replicationFactor
        + ", hotKeys="
        + hotKeys
        + ", allowedValueClasses="
        + allowedValueClasses
        + ", valueCodec="
        + valueCodec
        + "}";
  }

  /**
   * Builds {@link CacheSettings}. Each setting may be set once; setting it again throws {@link
   * IllegalStateException} naming the value already set. Not thread-safe.
   */
  public static final class Builder {
    private @Nullable Long maximumSize;
    private @Nullable Long maximumWeight;
    private @Nullable Duration expireAfterWrite;
    private @Nullable Duration expireAfterAccess;
    private @Nullable Duration refreshAfterWrite;
    private @Nullable Long nearCacheMaximumSize;
    private @Nullable Duration nearCacheTtl;
    private @Nullable Duration remoteTimeout;
    private @Nullable Integer replicationFactor;
    private @Nullable Boolean hotKeys;
    private final List<String> allowedValueClasses = new ArrayList<>();
    private boolean allowedSet;
    private @Nullable Codec<Object> valueCodec;

    private Builder() {}

    /**
     * Bounds each node's shard to a number of entries (see {@link
     * CacheConfig.Builder#maximumSize}); not with {@link #maximumWeight}.
     *
     * @throws IllegalStateException if {@code maximumSize} or {@code maximumWeight} was already set
     */
    public Builder maximumSize(long maximumSize) {
      checkState(this.maximumSize == null, "maximumSize was already set to %s", this.maximumSize);
      checkState(
          this.maximumWeight == null, "maximumWeight was already set to %s", this.maximumWeight);
      checkArgument(maximumSize >= 0, "maximumSize must not be negative, got %s", maximumSize);
      this.maximumSize = maximumSize;
      return this;
    }

    /**
     * Bounds each node's shard to {@code bytes} of encoded keys and values plus a per-entry
     * overhead (see {@link CacheConfig.Builder#maximumWeight}); not with {@link #maximumSize}.
     *
     * @throws IllegalStateException if {@code maximumWeight} or {@code maximumSize} was already set
     */
    public Builder maximumWeight(long bytes) {
      checkState(
          this.maximumWeight == null, "maximumWeight was already set to %s", this.maximumWeight);
      checkState(this.maximumSize == null, "maximumSize was already set to %s", this.maximumSize);
      checkArgument(bytes >= 0, "maximumWeight must not be negative, got %s", bytes);
      this.maximumWeight = bytes;
      return this;
    }

    /**
     * Expires entries this long after they were written (see {@link
     * CacheConfig.Builder#expireAfterWrite}).
     */
    public Builder expireAfterWrite(Duration duration) {
      requireNonNull(duration, "duration");
      checkState(
          expireAfterWrite == null, "expireAfterWrite was already set to %s", expireAfterWrite);
      checkArgument(
          !duration.isNegative() && !duration.isZero(),
          "expireAfterWrite must be positive, got %s",
          duration);
      this.expireAfterWrite = duration;
      return this;
    }

    /**
     * Drops entries a node has not read for this long (see {@link
     * CacheConfig.Builder#expireAfterAccess}: per node, and not with replication).
     */
    public Builder expireAfterAccess(Duration duration) {
      requireNonNull(duration, "duration");
      checkState(
          expireAfterAccess == null, "expireAfterAccess was already set to %s", expireAfterAccess);
      checkArgument(
          !duration.isNegative() && !duration.isZero(),
          "expireAfterAccess must be positive, got %s",
          duration);
      this.expireAfterAccess = duration;
      return this;
    }

    /**
     * Asks for refresh-ahead (see {@link CacheConfig.Builder#refreshAfterWrite}), which a Spring
     * cache cannot do: a refresh reloads a key on its owner with the cache's own loader, and a
     * Spring cache has none (its values come from the cached methods, which only the calling
     * instance can run, and its keys cannot be turned back into their arguments on another node).
     * Set (here or on the defaults), the cache is refused when it is defined, with a message saying
     * so, rather than silently never refreshed. Data that should be refreshed ahead belongs in a
     * {@link dev.shardcache.DistributedCache} defined with a loader.
     */
    public Builder refreshAfterWrite(Duration duration) {
      requireNonNull(duration, "duration");
      checkState(
          refreshAfterWrite == null, "refreshAfterWrite was already set to %s", refreshAfterWrite);
      checkArgument(
          !duration.isNegative() && !duration.isZero(),
          "refreshAfterWrite must be positive, got %s",
          duration);
      this.refreshAfterWrite = duration;
      return this;
    }

    /**
     * Keeps values of remote keys near the caller (see {@link CacheConfig.Builder#nearCache} and
     * its staleness rule). A {@code maximumSize} of 0 turns a default near cache off for this
     * cache.
     */
    public Builder nearCache(long maximumSize, Duration ttl) {
      requireNonNull(ttl, "ttl");
      checkState(
          nearCacheMaximumSize == null,
          "nearCache was already set to %s entries for %s",
          nearCacheMaximumSize,
          nearCacheTtl);
      checkArgument(
          maximumSize >= 0, "nearCache maximumSize must not be negative, got %s", maximumSize);
      checkArgument(
          maximumSize == 0 || (!ttl.isNegative() && !ttl.isZero()),
          "nearCache ttl must be positive, got %s",
          ttl);
      this.nearCacheMaximumSize = maximumSize;
      this.nearCacheTtl = ttl;
      return this;
    }

    /** Sets the deadline of calls to peers (see {@link CacheConfig.Builder#remoteTimeout}). */
    public Builder remoteTimeout(Duration timeout) {
      requireNonNull(timeout, "timeout");
      checkState(remoteTimeout == null, "remoteTimeout was already set to %s", remoteTimeout);
      checkArgument(
          !timeout.isNegative() && !timeout.isZero(),
          "remoteTimeout must be positive, got %s",
          timeout);
      this.remoteTimeout = timeout;
      return this;
    }

    /**
     * Keeps each key on {@code n} members (default 1: the owner only); see {@link
     * CacheConfig.Builder#replicationFactor}.
     *
     * @throws IllegalArgumentException if {@code n} is not in [1, 16]
     */
    public Builder replicationFactor(int n) {
      checkState(
          replicationFactor == null, "replicationFactor was already set to %s", replicationFactor);
      checkArgument(n >= 1 && n <= 16, "replicationFactor must be in [1, 16], got %s", n);
      this.replicationFactor = n;
      return this;
    }

    /**
     * Whether this cache keeps the values their owners mark hot (default: on); see {@link
     * CacheConfig.Builder#hotKeys}.
     */
    public Builder hotKeys(boolean enabled) {
      checkState(hotKeys == null, "hotKeys was already set to %s", hotKeys);
      this.hotKeys = enabled;
      return this;
    }

    /**
     * Allows values of these classes or packages ({@code com.example.Book}, {@code
     * com.example.model.*}, {@code com.example.**}) to be decoded, besides the JDK value and
     * collection classes. Ignored when a {@linkplain #valueCodec value codec} is set.
     */
    public Builder allowedValueClasses(String... patterns) {
      requireNonNull(patterns, "patterns");
      checkState(!allowedSet, "allowedValueClasses were already set to %s", allowedValueClasses);
      allowedSet = true;
      for (String pattern : patterns) {
        allowedValueClasses.add(requireNonNull(pattern, "patterns must not contain null"));
      }
      ObjectCodecs.serializable(patterns); // fail now on a pattern that allows everything
      return this;
    }

    /** Replaces the default Java-serialization value codec, such as with a JSON codec. */
    public Builder valueCodec(Codec<Object> codec) {
      requireNonNull(codec, "codec");
      checkState(valueCodec == null, "valueCodec was already set to %s", valueCodec);
      this.valueCodec = codec;
      return this;
    }

    public CacheSettings build() {
      return new CacheSettings(this);
    }
  }
}
