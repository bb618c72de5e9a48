package dev.shardcache;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;
import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import org.jspecify.annotations.Nullable;

/**
 * The settings of one named {@link DistributedCache}: how its keys and values become bytes, how
 * large this node's shard may grow (in entries or in bytes), how long entries live, and how values
 * are loaded on a miss.
 *
 * <p>Instances are immutable and thread-safe; build them with {@link #builder(Codec, Codec)}. Every
 * node of a cluster should define a cache with the same name and equivalent settings: the key codec
 * must be identical (it decides ownership), and the loader should read the same source.
 *
 * <pre>{@code
 * CacheConfig<String, String> config = CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
 *     .maximumSize(100_000)
 *     .expireAfterWrite(Duration.ofMinutes(10))
 *     .loader(key -> db.load(key))
 *     .build();
 * }</pre>
 *
 * Bounded by bytes instead of entries, with idle entries dropped:
 *
 * <pre>{@code
 * CacheConfig<String, String> config = CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
 *     .maximumWeight(256L << 20)                   // 256 MiB of keys and values per node
 *     .expireAfterAccess(Duration.ofMinutes(30))   // unread on this node for 30 min: dropped
 *     .build();
 * }</pre>
 *
 * @param <K> the key type
 * @param <V> the value type
 */
public final class CacheConfig<K, V> {

  /**
   * The shard bound when neither {@link Builder#maximumSize} nor {@link Builder#maximumWeight} is
   * set.
   */
  public static final long DEFAULT_MAXIMUM_SIZE = 10_000;

  /**
   * What each value weighs against {@link Builder#maximumWeight} besides its encoded key and value,
   * in bytes: an estimate of what holding it costs on the heap beyond those bytes (map and eviction
   * nodes, version, the decoded key and value objects' headers). Measured at 292 bytes with short
   * string keys and values on a 64-bit JVM with compressed pointers, and rounded up; a decoded
   * value much larger or smaller than its encoding shifts the real figure.
   */
  public static final int ENTRY_OVERHEAD_BYTES = Shard.ENTRY_OVERHEAD_BYTES;

  /** The encoded-key limit when {@link Builder#maxKeyBytes} is not set: 4 KiB. */
  public static final int DEFAULT_MAX_KEY_BYTES = 4 * 1024;

  /** The encoded-value limit when {@link Builder#maxValueBytes} is not set: 1 MiB. */
  public static final int DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;

  /** The deadline of a call to a peer when {@link Builder#remoteTimeout} is not set. */
  public static final Duration DEFAULT_REMOTE_TIMEOUT = Duration.ofSeconds(5);

  /** The tombstone lifetime when {@link Builder#tombstoneLifetime} is not set. */
  public static final Duration DEFAULT_TOMBSTONE_LIFETIME = Duration.ofMinutes(10);

  /** How long a read waits for a key's load when {@link Builder#loadTimeout} is not set: 60 s. */
  public static final Duration DEFAULT_LOAD_TIMEOUT = Duration.ofSeconds(60);

  /** The most keys sent to one peer in one batched call; larger batches are split. */
  static final int MAX_KEYS_PER_BATCH = 1_000;

  private final Codec<K> keyCodec;
  private final Codec<V> valueCodec;
  private final long maximumSize;
  private final long maximumWeight;
  private final @Nullable Duration expireAfterWrite;
  private final @Nullable Duration expireAfterAccess;
  private final @Nullable Duration refreshAfterWrite;
  private final @Nullable CacheLoader<K, V> loader;
  private final long nearCacheMaximumSize;
  private final Duration nearCacheTtl;
  private final boolean hotKeys;
  private final int maxKeyBytes;
  private final int maxValueBytes;
  private final Duration remoteTimeout;
  private final int replicationFactor;
  private final Duration tombstoneLifetime;
  private final Duration loadTimeout;

  private CacheConfig(Builder<K, V> builder) {
    this.keyCodec = builder.keyCodec;
    this.valueCodec = builder.valueCodec;
    this.maximumWeight = builder.maximumWeight;
    this.maximumSize =
        builder.maximumSize != UNSET
            ? builder.maximumSize
            : builder.maximumWeight != UNSET ? Long.MAX_VALUE : DEFAULT_MAXIMUM_SIZE;
    this.expireAfterWrite = builder.expireAfterWrite;
    this.expireAfterAccess = builder.expireAfterAccess;
    this.refreshAfterWrite = builder.refreshAfterWrite;
    this.loader = builder.loader;
    this.nearCacheMaximumSize =
        builder.nearCacheMaximumSize == UNSET ? 0 : builder.nearCacheMaximumSize;
    this.nearCacheTtl = builder.nearCacheTtl == null ? Duration.ZERO : builder.nearCacheTtl;
    this.hotKeys = builder.hotKeys == null || builder.hotKeys;
    this.maxKeyBytes =
        builder.maxKeyBytes == UNSET ? DEFAULT_MAX_KEY_BYTES : (int) builder.maxKeyBytes;
    this.maxValueBytes =
        builder.maxValueBytes == UNSET ? DEFAULT_MAX_VALUE_BYTES : (int) builder.maxValueBytes;
    this.remoteTimeout =
        builder.remoteTimeout == null ? DEFAULT_REMOTE_TIMEOUT : builder.remoteTimeout;
    this.replicationFactor =
        builder.replicationFactor == UNSET ? 1 : (int) builder.replicationFactor;
    this.tombstoneLifetime =
        builder.tombstoneLifetime == null ? DEFAULT_TOMBSTONE_LIFETIME : builder.tombstoneLifetime;
    this.loadTimeout = builder.loadTimeout == null ? DEFAULT_LOAD_TIMEOUT : builder.loadTimeout;
  }

  /**
   * Returns a builder for a cache whose keys are encoded with {@code keyCodec} and values with
   * {@code valueCodec}. The key codec must be deterministic (see {@link Codec}).
   */
  public static <K, V> Builder<K, V> builder(Codec<K> keyCodec, Codec<V> valueCodec) {
    return new Builder<>(
        requireNonNull(keyCodec, "keyCodec"), requireNonNull(valueCodec, "valueCodec"));
  }

  public Codec<K> keyCodec() {
    return keyCodec;
  }

  public Codec<V> valueCodec() {
    return valueCodec;
  }

  /**
   * The most entries this node's shard holds (Caffeine evicts by W-TinyLFU past it); {@link
   * Long#MAX_VALUE} when the shard is bounded by {@link #maximumWeight()} instead.
   */
  public long maximumSize() {
    return maximumSize;
  }

  /**
   * The most bytes this node's shard holds, counted as encoded keys and values plus {@link
   * #ENTRY_OVERHEAD_BYTES} per entry, if the shard is bounded by weight rather than by count.
   */
  public OptionalLong maximumWeight() {
    return maximumWeight == UNSET ? OptionalLong.empty() : OptionalLong.of(maximumWeight);
  }

  /** How long an entry lives after it was written or loaded, if entries expire. */
  public Optional<Duration> expireAfterWrite() {
    return Optional.ofNullable(expireAfterWrite);
  }

  /**
   * How long an entry stays in a node's shard while that node neither reads nor stores it, if idle
   * entries are dropped.
   */
  public Optional<Duration> expireAfterAccess() {
    return Optional.ofNullable(expireAfterAccess);
  }

  /** How old a value may be before a read reloads it in the background, if the cache refreshes. */
  public Optional<Duration> refreshAfterWrite() {
    return Optional.ofNullable(refreshAfterWrite);
  }

  /** The loader called on a miss, if the cache loads. */
  public Optional<CacheLoader<K, V>> loader() {
    return Optional.ofNullable(loader);
  }

  /** Whether reads of keys owned by other nodes are kept in a near cache on this node. */
  public boolean nearCacheEnabled() {
    return nearCacheMaximumSize > 0;
  }

  /** The bound of the near cache; 0 when it is disabled. */
  public long nearCacheMaximumSize() {
    return nearCacheMaximumSize;
  }

  /** How long a near-cache entry is served without asking the owner; zero when disabled. */
  public Duration nearCacheTtl() {
    return nearCacheTtl;
  }

  /** Whether readers keep the keys their owners serve most; see {@link Builder#hotKeys}. */
  public boolean hotKeys() {
    return hotKeys;
  }

  /** The largest encoded key accepted, in bytes. */
  public int maxKeyBytes() {
    return maxKeyBytes;
  }

  /** The largest encoded value accepted, in bytes. */
  public int maxValueBytes() {
    return maxValueBytes;
  }

  /** The deadline of each call this node makes to a peer for this cache. */
  public Duration remoteTimeout() {
    return remoteTimeout;
  }

  /**
   * How many distinct members hold each key: the owner and {@code replicationFactor - 1} replicas.
   */
  public int replicationFactor() {
    return replicationFactor;
  }

  /** How long a read waits for a key's load, on the owner or for the owner's answer. */
  public Duration loadTimeout() {
    return loadTimeout;
  }

  /** How long a delete is remembered, so that an older write arriving late cannot undo it. */
  public Duration tombstoneLifetime() {
    return tombstoneLifetime;
  }

  /**
   * Two configurations are equal when they have the same settings and the same codec and loader
   * instances (codecs and loaders are compared with {@code equals}).
   */
  @Override
  public boolean equals(@Nullable Object o) {
    if (this == o) {
      return true;
    }
    if (!(o instanceof CacheConfig<?, ?> that)) {
      return false;
    }
    return maximumSize == that.maximumSize
        && maximumWeight == that.maximumWeight
        && nearCacheMaximumSize == that.nearCacheMaximumSize
        && maxKeyBytes == that.maxKeyBytes
        && maxValueBytes == that.maxValueBytes
        && keyCodec.equals(that.keyCodec)
        && valueCodec.equals(that.valueCodec)
        && Objects.equals(expireAfterWrite, that.expireAfterWrite)
        && Objects.equals(expireAfterAccess, that.expireAfterAccess)
        && Objects.equals(refreshAfterWrite, that.refreshAfterWrite)
        && Objects.equals(loader, that.loader)
        && nearCacheTtl.equals(that.nearCacheTtl)
        && hotKeys == that.hotKeys
        && remoteTimeout.equals(that.remoteTimeout)
        && replicationFactor == that.replicationFactor
        && tombstoneLifetime.equals(that.tombstoneLifetime)
        && loadTimeout.equals(that.loadTimeout);
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        keyCodec,
        valueCodec,
        maximumSize,
        maximumWeight,
        expireAfterWrite,
        expireAfterAccess,
        refreshAfterWrite,
        maxKeyBytes,
        maxValueBytes);
  }

  @Override
  public String toString() {
    return "CacheConfig{keyCodec="
        + keyCodec
        + ", valueCodec="
        + valueCodec
        + (maximumWeight == UNSET
            ? ", maximumSize=" + maximumSize
            : ", maximumWeight=" + maximumWeight)
        + ", expireAfterWrite="
        + expireAfterWrite
        + ", expireAfterAccess="
        + expireAfterAccess
        + ", refreshAfterWrite="
        + refreshAfterWrite
        + ", loader="
        + (loader == null ? "none" : "set")
        + ", nearCache="
        + (nearCacheEnabled() ? nearCacheMaximumSize + "/" + nearCacheTtl : "off")
        + ", hotKeys="
        + hotKeys
        + ", maxKeyBytes="
        + maxKeyBytes
        + ", maxValueBytes="
        + maxValueBytes
        + ", remoteTimeout="
        + remoteTimeout
        + ", replicationFactor="
        + replicationFactor
        + ", tombstoneLifetime="
        + tombstoneLifetime
        + ", loadTimeout="
        + loadTimeout
        + "}";
  }

  static final long UNSET = -1;

  /**
   * Builds a {@link CacheConfig}. Each setting may be set once; setting it again throws {@link
   * IllegalStateException} naming the value already set. Not thread-safe.
   */
  public static final class Builder<K, V> {
    private final Codec<K> keyCodec;
    private final Codec<V> valueCodec;
    private long maximumSize = UNSET;
    private long maximumWeight = UNSET;
    private @Nullable Duration expireAfterWrite;
    private @Nullable Duration expireAfterAccess;
    private @Nullable Duration refreshAfterWrite;
    private @Nullable CacheLoader<K, V> loader;
    private long nearCacheMaximumSize = UNSET;
    private @Nullable Duration nearCacheTtl;
    private @Nullable Boolean hotKeys;
    private long maxKeyBytes = UNSET;
    private long maxValueBytes = UNSET;
    private @Nullable Duration remoteTimeout;
    private long replicationFactor = UNSET;
    private @Nullable Duration tombstoneLifetime;
    private @Nullable Duration loadTimeout;

    private Builder(Codec<K> keyCodec, Codec<V> valueCodec) {
      this.keyCodec = keyCodec;
      this.valueCodec = valueCodec;
    }

    /**
     * Bounds this node's shard to {@code maximumSize} entries (default {@value
     * CacheConfig#DEFAULT_MAXIMUM_SIZE} when neither this nor {@link #maximumWeight} is set). The
     * bound is per node: a cluster of n nodes holds up to n times as many entries. A shard has one
     * bound: this or {@link #maximumWeight}, not both.
     *
     * @throws IllegalArgumentException if {@code maximumSize} is negative
     * @throws IllegalStateException if {@code maximumSize} or {@code maximumWeight} was already set
     */
    public Builder<K, V> maximumSize(long maximumSize) {
      CacheConfigChecks.noBound(this.maximumSize, this.maximumWeight);
      checkArgument(maximumSize >= 0, "maximumSize must not be negative, got %s", maximumSize);
      this.maximumSize = maximumSize;
      return this;
    }

    /**
     * Bounds this node's shard to {@code bytes}, instead of a number of entries: each value weighs
     * its encoded key and value plus {@value CacheConfig#ENTRY_OVERHEAD_BYTES} bytes ({@link
     * CacheConfig#ENTRY_OVERHEAD_BYTES}, what holding it costs besides those bytes), and Caffeine
     * evicts by W-TinyLFU while the shard weighs more. Use it when values vary in size, so that a
     * few large ones cannot take the heap. The bound is per node, like {@link #maximumSize}, and
     * applies to the shard only: the near cache keeps its own entry bound, and deletes (tombstones)
     * are bounded apart, by the same number of bytes (at least 10,000 of them).
     *
     * <p>The weight is taken when a value is stored, by encoding it once more; a bound by count
     * costs nothing of the kind. The encoded size approximates the heap a value takes: compact
     * objects decoded from verbose encodings (or the reverse) take less (or more) than counted.
     * Bytes held may exceed the bound between a write and the cleanup Caffeine runs after it
     * (asynchronously, usually within milliseconds; the node's maintenance also runs one every
     * {@code antiEntropyInterval}).
     *
     * @throws IllegalArgumentException if {@code bytes} is negative
     * @throws IllegalStateException if {@code maximumWeight} or {@code maximumSize} was already set
     */
    public Builder<K, V> maximumWeight(long bytes) {
      CacheConfigChecks.noBound(this.maximumSize, this.maximumWeight);
      checkArgument(bytes >= 0, "maximumWeight must not be negative, got %s", bytes);
      this.maximumWeight = bytes;
      return this;
    }

    /**
     * Expires each entry {@code duration} after it was written or loaded on its owner (default:
     * never). Every node should use the same duration.
     *
     * @throws IllegalArgumentException if {@code duration} is zero or negative
     */
    public Builder<K, V> expireAfterWrite(Duration duration) {
      requireNonNull(duration, "duration");
      CacheConfigChecks.unset(expireAfterWrite, "expireAfterWrite");
      this.expireAfterWrite = CacheConfigChecks.positive(duration, "expireAfterWrite");
      return this;
    }

    /**
     * Drops an entry from a node's shard once that node has neither read it nor stored a copy of it
     * for {@code duration} (default: never), in the manner of Caffeine's {@code expireAfterAccess}.
     * Idleness is per node: what refreshes an entry is a read answered from this node's shard (its
     * own callers' reads of keys it holds, and the reads peers send it as the key's holder) and any
     * write or copy stored there. Two consequences:
     *
     * <ul>
     *   <li><b>Near caches hide reads.</b> A read answered by another node's near cache (or {@link
     *       #hotKeys} copy) never reaches the owner, so a key read only through near caches goes
     *       idle on its owner. Each near-cache miss (at most one per near-cache TTL per node)
     *       refreshes it: choose {@code duration} well above the near cache's TTL.
     *   <li><b>Not with replicas.</b> Replicas are read only when the owner cannot be reached, so
     *       they would drop entries the owner keeps reading, and anti-entropy would copy them back
     *       and forth between holders without end. {@link #build} refuses {@code expireAfterAccess}
     *       with a {@link #replicationFactor} above 1; use {@link #expireAfterWrite} there.
     * </ul>
     *
     * It combines with {@link #expireAfterWrite}: an entry leaves at whichever comes first. Every
     * node should use the same duration.
     *
     * @throws IllegalArgumentException if {@code duration} is zero or negative
     */
    public Builder<K, V> expireAfterAccess(Duration duration) {
      requireNonNull(duration, "duration");
      CacheConfigChecks.unset(expireAfterAccess, "expireAfterAccess");
      this.expireAfterAccess = CacheConfigChecks.positive(duration, "expireAfterAccess");
      return this;
    }

    /**
     * Refreshes values ahead of time (default: never): a read of a value written more than {@code
     * duration} ago, on any node (owner, replica or near cache), answers it at once and starts one
     * background reload with the cache's {@link #loader}, for the whole cluster, on the key's
     * owner; concurrent readers anywhere start no more. The new value replaces the old on every
     * holder with a new version, unless the key was written while it reloaded: a refresh never
     * replaces a newer write. A failed reload keeps the old value, is logged at most every 10 s per
     * cache, and is tried again by a later read. Age counts as for {@link #expireAfterWrite}, on
     * the holder's clock; reloads run on the node's load threads ({@code maxConcurrentLoads}).
     * Needs a {@link #loader} ({@link #build} refuses one without; loaders given to {@code get(key,
     * loader)} are never used) and a {@code duration} shorter than {@link #expireAfterWrite}. Every
     * node should use the same duration.
     *
     * @throws IllegalArgumentException if {@code duration} is zero or negative
     */
    public Builder<K, V> refreshAfterWrite(Duration duration) {
      requireNonNull(duration, "duration");
      CacheConfigChecks.unset(refreshAfterWrite, "refreshAfterWrite");
      this.refreshAfterWrite = CacheConfigChecks.positive(duration, "refreshAfterWrite");
      return this;
    }

    /**
     * Loads values on a miss (default: none; then {@link DistributedCache#get} returns {@code null}
     * for an absent key).
     */
    public Builder<K, V> loader(CacheLoader<K, V> loader) {
      requireNonNull(loader, "loader");
      checkState(this.loader == null, "loader was already set to %s", this.loader);
      this.loader = loader;
      return this;
    }

    /**
     * Keeps up to {@code maximumSize} values of keys owned by other nodes on this node for {@code
     * ttl}, so a hot remote key costs one call per {@code ttl} instead of one per read (default:
     * off). A near-cached value can be stale: a write or invalidate made through another node is
     * not seen here until {@code ttl} has passed. Writes made through this node clear its own
     * near-cache entry at once.
     *
     * @throws IllegalArgumentException if {@code maximumSize} is not positive or {@code ttl} is not
     *     positive
     */
    public Builder<K, V> nearCache(long maximumSize, Duration ttl) {
      requireNonNull(ttl, "ttl");
      checkState(
          nearCacheMaximumSize == UNSET,
          "nearCache was already set to %s entries for %s",
          nearCacheMaximumSize,
          nearCacheTtl);
      checkArgument(maximumSize > 0, "nearCache maximumSize must be positive, got %s", maximumSize);
      this.nearCacheMaximumSize = maximumSize;
      this.nearCacheTtl = CacheConfigChecks.positive(ttl, "nearCache ttl");
      return this;
    }

    /**
     * Whether a node keeps the values of the keys other nodes serve it most (default: on). Owners
     * count the reads peers send them (never a node's reads of its own keys) in a frequency sketch
     * and mark keys with at least 1/1024 of recent reads; a reader keeps a marked value for 1 s, at
     * most 1,024 of them. Writes of marked keys send invalidations as the {@link #nearCache} does;
     * a lost one leaves a value stale for at most the 1 s. Ignored with a near cache, which keeps
     * every remote read already. Every node should use the same setting.
     */
    public Builder<K, V> hotKeys(boolean enabled) {
      checkState(hotKeys == null, "hotKeys was already set to %s", hotKeys);
      this.hotKeys = enabled;
      return this;
    }

    /**
     * Rejects keys whose encoding is longer than {@code maxKeyBytes} (default {@value
     * CacheConfig#DEFAULT_MAX_KEY_BYTES}) with {@link IllegalArgumentException}.
     */
    public Builder<K, V> maxKeyBytes(int maxKeyBytes) {
      checkState(this.maxKeyBytes == UNSET, "maxKeyBytes was already set to %s", this.maxKeyBytes);
      checkArgument(maxKeyBytes > 0, "maxKeyBytes must be positive, got %s", maxKeyBytes);
      this.maxKeyBytes = maxKeyBytes;
      return this;
    }

    /**
     * Rejects values whose encoding is longer than {@code maxValueBytes} (default {@value
     * CacheConfig#DEFAULT_MAX_VALUE_BYTES}): a put throws {@link IllegalArgumentException}; a load
     * fails with {@link CacheLoadException}. At most 32 MiB.
     */
    public Builder<K, V> maxValueBytes(int maxValueBytes) {
      CacheConfigChecks.unset(this.maxValueBytes, "maxValueBytes");
      CacheConfigChecks.inRange(
          maxValueBytes, 1, ShardcacheNode.MAX_MESSAGE_BYTES / 2, "maxValueBytes");
      this.maxValueBytes = maxValueBytes;
      return this;
    }

    /**
     * Sets the deadline of each call to a peer that does not wait for a load (default 5 s): a
     * {@code getIfPresent}, a write, a replication batch. A peer that misses it while it still
     * answers heartbeats is <em>slow</em>, not down: the call fails (a write with {@link
     * OutcomeUnknownException}) and the peer keeps its keys. A read that waits for a load is
     * bounded by {@link #loadTimeout} instead. The owner waits for replicas at most half of this,
     * so that it answers its caller within the caller's deadline.
     */
    public Builder<K, V> remoteTimeout(Duration timeout) {
      requireNonNull(timeout, "timeout");
      checkState(remoteTimeout == null, "remoteTimeout was already set to %s", remoteTimeout);
      this.remoteTimeout = CacheConfigChecks.positive(timeout, "remoteTimeout");
      return this;
    }

    /**
     * Keeps each key on {@code n} distinct members (default 1): the first {@code n} members
     * clockwise from the key on the ring. Writes are applied by a holder and sent to the others
     * before they are acknowledged (waiting at most half of {@code remoteTimeout}); reads fall over
     * to the next one when the owner is unreachable; so losing up to {@code n - 1} members loses no
     * cached entry. Every node must use the same factor. A factor above the member count means
     * every member holds every key.
     *
     * @throws IllegalArgumentException if {@code n} is not in [1, 16]
     */
    public Builder<K, V> replicationFactor(int n) {
      CacheConfigChecks.unset(replicationFactor, "replicationFactor");
      checkArgument(n >= 1 && n <= 16, "replicationFactor must be in [1, 16], got %s", n);
      this.replicationFactor = n;
      return this;
    }

    /**
     * Sets how long a read waits for a key's load (default 60 s): on the owner, for the one load
     * all readers share; on any other node, for the owner's answer. A read that waits longer fails
     * with {@link CacheLoadException}; the load itself goes on and is stored when it ends. Set it
     * above the loader's slowest expected load: the cluster never loads a key a second time because
     * the first load is slow.
     *
     * @throws IllegalArgumentException if {@code timeout} is not positive
     */
    public Builder<K, V> loadTimeout(Duration timeout) {
      requireNonNull(timeout, "timeout");
      checkState(loadTimeout == null, "loadTimeout was already set to %s", loadTimeout);
      this.loadTimeout = CacheConfigChecks.positive(timeout, "loadTimeout");
      return this;
    }

    /**
     * Remembers each delete for {@code lifetime} (default 10 minutes), so that a write older than
     * the delete that arrives late (a replication delay, a hint delivered after an outage) cannot
     * bring the key back. A write older than the delete arriving after the lifetime has passed can;
     * choose a lifetime longer than your longest expected outage of a member.
     *
     * @throws IllegalArgumentException if {@code lifetime} is not positive
     */
    public Builder<K, V> tombstoneLifetime(Duration lifetime) {
      requireNonNull(lifetime, "lifetime");
      CacheConfigChecks.unset(tombstoneLifetime, "tombstoneLifetime");
      this.tombstoneLifetime = CacheConfigChecks.positive(lifetime, "tombstoneLifetime");
      return this;
    }

    /**
     * Returns the configuration; the builder may not be used afterwards to change it.
     *
     * @throws IllegalArgumentException if the key codec is {@link Codecs#bytes()} (Java arrays are
     *     equal only to themselves, so two equal byte arrays would be two different keys), or if
     *     {@link #expireAfterAccess} is set with a {@link #replicationFactor} above 1, or if {@link
     *     #refreshAfterWrite} is set without a {@link #loader} or is not shorter than {@link
     *     #expireAfterWrite}
     */
    public CacheConfig<K, V> build() {
      CacheConfig<K, V> config = new CacheConfig<>(this);
      CacheConfigChecks.check(config);
      return config;
    }
  }
}
