package dev.shardcache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.Ticker;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import java.time.Duration;
import java.util.Map;
import java.util.OptionalLong;
import java.util.function.BiConsumer;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * One cache's entries on this node: live values in a bounded Caffeine cache (by entry count, or by
 * bytes with {@code maximumWeight}), deletes (tombstones) in a structure of their own, and the time
 * of the last cache-wide clear.
 *
 * <h2>Invariants</h2>
 *
 * <ul>
 *   <li><b>One version per key, the highest.</b> Every change of a key, local or from a peer, goes
 *       through {@link #merge} or {@link #compareAndSet}, which run under the key's lock in the
 *       values map and keep the higher {@link Version} of the value or tombstone held and the one
 *       arriving (last writer wins). Merging is commutative, associative and idempotent.
 *   <li><b>Deletes stick.</b> Tombstones are not in the bounded values map, so pressure on values
 *       never evicts a delete; they live for {@code tombstoneLifetime} (measured on this node's
 *       clock from when they were stored) in a map bounded by {@code max(maximumSize, 10,000)}
 *       entries, or, with {@code maximumWeight}, by {@code max(maximumWeight, 10,000 * }{@link
 *       #ENTRY_OVERHEAD_BYTES}{@code )} bytes, each weighing its encoded key plus the overhead. A
 *       copy older than a kept tombstone is dropped.
 *   <li><b>Weights are bytes.</b> With {@code maximumWeight}, a value weighs its encoded key and
 *       value plus {@link #ENTRY_OVERHEAD_BYTES}, computed once when it is stored (one more
 *       encoding of the value than the count bound costs); after maintenance ({@link #sweep}) the
 *       values weigh at most {@code maximumWeight} together.
 *   <li><b>Idleness per node.</b> With {@code expireAfterAccess}, a value neither read on this node
 *       ({@link #get}, {@link #compareAndSet}) nor stored for that long is dropped; {@link #peek},
 *       {@link #forEach}, {@link #forEachLive} and a merged copy that is not newer do not count.
 *   <li><b>Clears stick.</b> {@link #clear} records a hybrid-clock time; every entry with an older
 *       version is dead from then on, whether it is held, in flight in a load, queued in a hint,
 *       streamed by hand-off or sent by anti-entropy: {@link #merge} drops it and reads do not see
 *       it. The clear time only grows and travels with replication batches and digests, so every
 *       member converges to the latest clear.
 *   <li><b>Lifetimes on this node's clock.</b> A value's TTL counts from when this node stored it,
 *       less the age the sender reported, so a skewed clock elsewhere can neither stretch nor cut
 *       it. A value past its lifetime reads as absent, also inside {@link #compareAndSet}. The same
 *       write time ({@link Held#writtenAtMillis}) tells when a value is due for a refresh; the age
 *       travels to peers whenever the cache expires or refreshes entries.
 *   <li><b>A refresh never replaces a newer write.</b> {@link #replaceIfVersion} stores a reloaded
 *       value only if, under the key's lock, the live value still has the version the reload
 *       started from; any write, delete, clear or expiry since then makes it a no-op.
 *   <li><b>Holdership memo.</b> A held value remembers the ring epoch at which this node last
 *       confirmed that it holds the key ({@link Held#confirmedEpoch}); readers re-check after any
 *       ring change. The shard itself never routes.
 * </ul>
 *
 * <p>Thread-safe. Reads are lock-free; changes of one key are serialized.
 */
final class Shard<K, V> {
  /** Tombstones kept at least, whatever the values bound. */
  static final long MIN_TOMBSTONE_CAPACITY = 10_000;

  /**
   * The bytes one held value costs on the heap besides its encoded key and value, as {@code
   * maximumWeight} counts it: the map and eviction node, the holder, the version and the decoded
   * key and value objects' headers, the eviction sketch. Measured at 292 bytes per entry with short
   * string keys and values, the weight bound and both expiry policies, on a 64-bit JVM with
   * compressed pointers ({@code ShardFootprintTest}), and rounded up.
   */
  static final int ENTRY_OVERHEAD_BYTES = 300;

  /** A value this node holds. Immutable but for the holdership memo. */
  static final class Held<V> {
    final Versioned<V> entry;

    /** When the value expires on this node's wall clock; {@link Long#MAX_VALUE} without a TTL. */
    final long expiresAtMillis;

    /**
     * When the value was written, on this node's wall clock: when this node stored it, less the age
     * the sender reported. What {@code refreshAfterWrite} counts from.
     */
    final long writtenAtMillis;

    /** What the entry weighs against {@code maximumWeight}, in bytes; 1 when bounded by count. */
    final int weight;

    /** The ring epoch at which this node last confirmed it holds the key; -1: not confirmed. */
    volatile int confirmedEpoch;

    Held(
        Versioned<V> entry,
        long expiresAtMillis,
        long writtenAtMillis,
        int weight,
        int confirmedEpoch) {
      this.entry = entry;
      this.expiresAtMillis = expiresAtMillis;
      this.writtenAtMillis = writtenAtMillis;
      this.weight = weight;
      this.confirmedEpoch = confirmedEpoch;
    }

    V value() {
      V value = entry.value();
      if (value == null) {
        throw new AssertionError("a held entry is never a tombstone");
      }
      return value;
    }
  }

  private final CacheConfig<K, V> config;
  private final CacheCounters counters;
  private final Cache<K, Held<V>> values;
  private final Cache<K, Version> tombstones;
  private final long ttlMillis;

  /** Whether a value's age matters to anyone (a TTL or refreshes), so peers must be told it. */
  private final boolean aged;

  private final boolean weighted;
  private volatile long clearedBefore;

  Shard(CacheConfig<K, V> config, CacheCounters counters) {
    this(config, counters, Ticker.systemTicker());
  }

  /**
   * @param ticker the time source of Caffeine's expiry: idleness ({@code expireAfterAccess}) and
   *     the coarse bound of {@code expireAfterWrite} (the exact lifetime is on the wall clock); a
   *     test passes a fake one
   */
  Shard(CacheConfig<K, V> config, CacheCounters counters, Ticker ticker) {
    this.config = config;
    this.counters = counters;
    this.ttlMillis = config.expireAfterWrite().map(Duration::toMillis).orElse(-1L);
    this.aged = ttlMillis >= 0 || config.refreshAfterWrite().isPresent();
    OptionalLong maximumWeight = config.maximumWeight();
    this.weighted = maximumWeight.isPresent();
    Caffeine<K, Held<V>> valuesBuilder =
        Caffeine.newBuilder()
            .ticker(ticker)
            .evictionListener(
                (@Nullable K k, @Nullable Held<V> v, RemovalCause cause) ->
                    counters.evictions.increment());
    if (weighted) {
      valuesBuilder.maximumWeight(maximumWeight.getAsLong()).weigher((K k, Held<V> v) -> v.weight);
    } else {
      valuesBuilder.maximumSize(config.maximumSize());
    }
    if (ttlMillis >= 0) {
      // A fixed policy as the upper bound (a copy's lifetime only shortens with its age); isLive
      // applies the exact one. Caffeine's per-entry expiry would double the cost of a hit.
      valuesBuilder.expireAfterWrite(Duration.ofMillis(ttlMillis));
    }
    config.expireAfterAccess().ifPresent(valuesBuilder::expireAfterAccess);
    this.values = valuesBuilder.build();
    Caffeine<Object, Object> tombstonesBuilder =
        Caffeine.newBuilder().ticker(ticker).expireAfterWrite(config.tombstoneLifetime());
    if (weighted) {
      this.tombstones =
          tombstonesBuilder
              .maximumWeight(
                  Math.max(
                      maximumWeight.getAsLong(), MIN_TOMBSTONE_CAPACITY * ENTRY_OVERHEAD_BYTES))
              .weigher((K k, Version v) -> weigh(k, null))
              .build();
    } else {
      this.tombstones =
          tombstonesBuilder
              .maximumSize(Math.max(MIN_TOMBSTONE_CAPACITY, config.maximumSize()))
              .build();
    }
  }

  /**
   * What {@code key} with {@code value} (null: a tombstone) weighs: its encoded bytes plus {@link
   * #ENTRY_OVERHEAD_BYTES}. The codecs already encoded both when the entry was written or received,
   * so they do not fail here.
   */
  private int weigh(K key, @Nullable V value) {
    long bytes = (long) config.keyCodec().encode(key).length + ENTRY_OVERHEAD_BYTES;
    if (value != null) {
      bytes += config.valueCodec().encode(value).length;
    }
    return (int) Math.min(Integer.MAX_VALUE, bytes);
  }

  /** Whether a held value is visible: not cleared and within its lifetime. */
  boolean isLive(Held<V> held) {
    return held.entry.version().timestamp() >= clearedBefore
        && (ttlMillis < 0 || System.currentTimeMillis() < held.expiresAtMillis);
  }

  /** The live value of {@code key}, or null; records the access for eviction. */
  @Nullable Held<V> get(K key) {
    Held<V> held = values.getIfPresent(key);
    return held != null && isLive(held) ? held : null;
  }

  /** The live value of {@code key}, or null, without recording an access. */
  @Nullable Held<V> peek(K key) {
    Held<V> held = values.policy().getIfPresentQuietly(key);
    return held != null && isLive(held) ? held : null;
  }

  /** The newest entry of {@code key} this node knows, live value or tombstone, or null. */
  @Nullable Versioned<V> newest(K key) {
    Held<V> held = peek(key);
    if (held != null) {
      return held.entry;
    }
    Version deleted = tombstones.getIfPresent(key);
    return deleted == null || deleted.timestamp() < clearedBefore
        ? null
        : Versioned.tombstone(deleted);
  }

  /**
   * Merges a copy of {@code key} into the shard and returns the entry held afterwards (value or
   * tombstone), or null if there is none (the copy predates the last clear and nothing newer is
   * held).
   *
   * @param ageMillis how long the copy's value has already lived (0 for a fresh write)
   * @param confirmedEpoch the ring epoch at which the caller confirmed this node holds the key, or
   *     -1
   */
  @Nullable Versioned<V> merge(K key, Versioned<V> incoming, long ageMillis, int confirmedEpoch) {
    Held<V> live = peek(key);
    if (live != null && !incoming.version().isNewerThan(live.entry.version())) {
      // A copy no newer than the live value changes nothing (as if merged just before whatever
      // may drop that value next), so it takes no lock and, unlike a write, is no access of it.
      return live.entry;
    }
    @SuppressWarnings("unchecked")
    Versioned<V>[] result = (Versioned<V>[]) new Versioned<?>[1];
    // Encoded before the key's lock is taken, so that other writers of the bin do not wait for it.
    int weight = weightOf(key, incoming);
    values
        .asMap()
        .compute(
            key,
            (k, held) -> {
              Versioned<V> current = held != null && isLive(held) ? held.entry : null;
              Version deleted = tombstones.getIfPresent(k);
              if (deleted != null && deleted.timestamp() < clearedBefore) {
                deleted = null;
              }
              if (current == null && deleted != null) {
                current = Versioned.tombstone(deleted);
              }
              if (incoming.version().timestamp() < clearedBefore
                  || (current != null && !incoming.version().isNewerThan(current.version()))) {
                result[0] = current;
                return held != null && isLive(held) ? held : null;
              }
              result[0] = incoming;
              return store(k, incoming, ageMillis, weight, confirmedEpoch, deleted);
            });
    return result[0];
  }

  /**
   * Atomically, under the key's lock: if {@code matches} accepts the key's live value (null when
   * there is none, it expired or it was cleared), stores {@code next.get()} (a value or a
   * tombstone, which must be newer than anything held) and returns it; otherwise returns null.
   */
  @Nullable Versioned<V> compareAndSet(
      K key, Predicate<@Nullable V> matches, Supplier<Versioned<V>> next, int confirmedEpoch) {
    @SuppressWarnings("unchecked")
    Versioned<V>[] applied = (Versioned<V>[]) new Versioned<?>[1];
    values
        .asMap()
        .compute(
            key,
            (k, held) -> {
              Held<V> live = held != null && isLive(held) ? held : null;
              if (!matches.test(live == null ? null : live.entry.value())) {
                return live;
              }
              Versioned<V> entry = next.get();
              applied[0] = entry;
              return store(
                  k, entry, 0, weightOf(k, entry), confirmedEpoch, tombstones.getIfPresent(k));
            });
    return applied[0];
  }

  /**
   * Atomically, under the key's lock: if the live value of {@code key} has version {@code expected}
   * and {@code next} (a value) is newer, stores {@code next} as a fresh write and returns it;
   * otherwise changes nothing and returns null. How a refresh that reloaded the value of version
   * {@code expected} is applied: a write, delete, clear or expiry since then wins.
   */
  @Nullable Versioned<V> replaceIfVersion(
      K key, Version expected, Versioned<V> next, int confirmedEpoch) {
    if (next.isTombstone() || !next.version().isNewerThan(expected)) {
      return null;
    }
    @SuppressWarnings("unchecked")
    Versioned<V>[] applied = (Versioned<V>[]) new Versioned<?>[1];
    // Encoded before the key's lock is taken, as merge does.
    int weight = weightOf(key, next);
    values
        .asMap()
        .compute(
            key,
            (k, held) -> {
              Held<V> live = held != null && isLive(held) ? held : null;
              if (live == null || !live.entry.version().equals(expected)) {
                return live;
              }
              applied[0] = next;
              return store(k, next, 0, weight, confirmedEpoch, tombstones.getIfPresent(k));
            });
    return applied[0];
  }

  /** The weight {@code entry} would have when held; 1 for tombstones or when bounded by count. */
  private int weightOf(K key, Versioned<V> entry) {
    V value = entry.value();
    return weighted && value != null ? weigh(key, value) : 1;
  }

  /** Called under the key's lock: the new content of the values map for {@code key}. */
  private @Nullable Held<V> store(
      K key,
      Versioned<V> entry,
      long ageMillis,
      int weight,
      int confirmedEpoch,
      @Nullable Version deleted) {
    if (entry.isTombstone()) {
      tombstones.put(key, entry.version());
      return null;
    }
    if (deleted != null) {
      tombstones.invalidate(key);
    }
    long now = System.currentTimeMillis();
    long expiresAt = ttlMillis < 0 ? Long.MAX_VALUE : now + Math.max(0, ttlMillis - ageMillis);
    counters.puts.increment();
    return new Held<>(entry, expiresAt, now - ageMillis, weight, confirmedEpoch);
  }

  /**
   * Records a cache-wide clear at hybrid-clock time {@code before}: every entry versioned earlier
   * is dead from now on. Returns whether this moved the clear time forward.
   */
  boolean clear(long before) {
    synchronized (this) {
      if (before <= clearedBefore) {
        return false;
      }
      clearedBefore = before;
    }
    // Reads already ignore what is removed here; this only frees the memory.
    values.asMap().values().removeIf(held -> held.entry.version().timestamp() < before);
    tombstones.asMap().values().removeIf(version -> version.timestamp() < before);
    return true;
  }

  /** The hybrid-clock time of the last clear this node knows of; 0 if none. */
  long clearedBefore() {
    return clearedBefore;
  }

  /**
   * How long a held value has lived, as a peer receiving a copy should count it: since its write
   * time, at most the TTL; 0 when the cache neither expires nor refreshes entries.
   */
  long ageMillis(Held<V> held) {
    if (!aged) {
      return 0;
    }
    long age = Math.max(0, System.currentTimeMillis() - held.writtenAtMillis);
    return ttlMillis < 0 ? age : Math.min(ttlMillis, age);
  }

  /** Visits every live value and every tombstone, with the value's age; weakly consistent. */
  void forEach(BiConsumer<K, Stored<V>> visitor) {
    forEachLive(
        (key, held) -> {
          visitor.accept(key, new Stored<>(held.entry, ageMillis(held)));
          return true;
        });
    for (Map.Entry<K, Version> deleted : tombstones.asMap().entrySet()) {
      if (deleted.getValue().timestamp() >= clearedBefore) {
        visitor.accept(deleted.getKey(), new Stored<>(Versioned.tombstone(deleted.getValue()), 0));
      }
    }
  }

  /** Visits live values; see {@link #forEachLive}. */
  interface LiveVisitor<K, V> {
    /** Visits one live value; returns whether the walk goes on. */
    boolean visit(K key, Held<V> held);
  }

  /**
   * Visits every live value, tombstones left out, until the visitor returns false; weakly
   * consistent (a value stored or removed during the walk may or may not be visited; a key present
   * throughout is visited once, with whichever of its values was current then).
   */
  void forEachLive(LiveVisitor<K, V> visitor) {
    for (Map.Entry<K, Held<V>> held : values.asMap().entrySet()) {
      if (isLive(held.getValue()) && !visitor.visit(held.getKey(), held.getValue())) {
        return;
      }
    }
  }

  /** An entry as it is sent to a peer: the versioned value or tombstone, and the value's age. */
  record Stored<V>(Versioned<V> entry, long ageMillis) {}

  /** Removes {@code key}'s entry if it is still exactly {@code entry} (nothing newer arrived). */
  void removeIfUnchanged(K key, Versioned<V> entry) {
    if (entry.isTombstone()) {
      tombstones.asMap().remove(key, entry.version());
    } else {
      values.asMap().computeIfPresent(key, (k, held) -> held.entry.equals(entry) ? null : held);
    }
  }

  /** Drops values past their lifetime; Caffeine expires tombstones. Run periodically. */
  void sweep() {
    values.asMap().values().removeIf(held -> !isLive(held));
    values.cleanUp();
    tombstones.cleanUp();
  }

  /** The number of live values; walks the shard when entries expire or were cleared. */
  long liveCount() {
    long count = 0;
    for (Held<V> held : values.asMap().values()) {
      if (isLive(held)) {
        count++;
      }
    }
    return count;
  }

  /** Tombstones held now; for tests and diagnostics. */
  long tombstoneCount() {
    return tombstones.estimatedSize();
  }

  /**
   * What the held values weigh together, in bytes, when the shard is bounded by weight; empty when
   * it is bounded by count. Includes values past their lifetime until maintenance drops them.
   */
  OptionalLong weightedSize() {
    return values.policy().eviction().map(e -> e.weightedSize()).orElse(OptionalLong.empty());
  }

  /** What the tombstones weigh together when bounded by weight; for tests. */
  OptionalLong tombstoneWeight() {
    return tombstones.policy().eviction().map(e -> e.weightedSize()).orElse(OptionalLong.empty());
  }

  /** Empties the shard; the node is closing. */
  void invalidateAll() {
    values.invalidateAll();
    tombstones.invalidateAll();
  }
}
