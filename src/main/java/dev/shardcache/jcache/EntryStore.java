package dev.shardcache.jcache;

import static java.util.Objects.requireNonNull;

import dev.shardcache.BatchWriteException;
import dev.shardcache.CacheLoader;
import dev.shardcache.CacheScan;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheException;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import javax.cache.Cache;
import javax.cache.CacheException;
import org.jspecify.annotations.Nullable;

/**
 * The entries of one JCache cache on the owners of their keys, and the single steps that every
 * operation is built from: encode a key or value, read an entry, make one compare-and-set, and
 * record what a compare-and-set that won has changed.
 *
 * <p>Every change is one {@link DistributedCache#compareAndSet} from the envelope this node read to
 * the next one. Its consequences (the entry event, the put or removal statistic) are recorded here,
 * and only when this node's compare-and-set won: when nodes race for one entry, exactly one of them
 * reports the change. A lost compare-and-set changes and records nothing. Whether to try again is
 * not decided here but in {@link AtomicUpdate}.
 *
 * <p>An expired entry reads as absent ({@link #readLive}). The node that finds it removes it with a
 * compare-and-set from the expired envelope, and so only one node reports it EXPIRED.
 *
 * <p>Thread-safe. Each method makes at most a few calls to the owner (bounded by the core's remote
 * timeout) and blocks on synchronous listeners. A failure of the core, an unreachable owner ({@link
 * dev.shardcache.PeerUnavailableException}) included, surfaces as {@link CacheException}; a
 * compare-and-set that fails so was not applied.
 */
final class EntryStore<K, V> {
  /** What {@link #create} did. */
  enum Creation {
    /** This node's compare-and-set created the entry. */
    STORED,
    /** Nothing was stored: the creation expiry is zero, so the entry expired as it was made. */
    EXPIRED,
    /** Nothing was stored: another writer created the entry first. */
    LOST
  }

  private final Cache<K, V> source;
  private final String name;
  private final DistributedCache<KeyBytes, byte[]> store;
  private final ObjectCodec codec;
  private final Class<?> keyType;
  private final Class<?> valueType;
  private final ExpiryTimes expiry;
  private final EventDispatcher<K, V> events;
  private final JCacheStatistics statistics;

  /**
   * @param source the cache named as the source of the events
   * @param keyType the configured key type, which every key must be an instance of
   * @param valueType the configured value type, which every value must be an instance of
   */
  EntryStore(
      Cache<K, V> source,
      String name,
      DistributedCache<KeyBytes, byte[]> store,
      ObjectCodec codec,
      Class<?> keyType,
      Class<?> valueType,
      ExpiryTimes expiry,
      EventDispatcher<K, V> events,
      JCacheStatistics statistics) {
    this.source = source;
    this.name = name;
    this.store = store;
    this.codec = codec;
    this.keyType = keyType;
    this.valueType = valueType;
    this.expiry = expiry;
    this.events = events;
    this.statistics = statistics;
  }

  /** The time that envelopes' expiry times are in: wall-clock epoch millis, alike on every node. */
  static long now() {
    return System.currentTimeMillis();
  }

  String name() {
    return name;
  }

  ExpiryTimes expiry() {
    return expiry;
  }

  // ---------------------------------------------------------------- encoding

  /**
   * Encodes {@code key}.
   *
   * @throws ClassCastException if it is not of the configured key type
   */
  KeyBytes keyOf(K key) {
    checkKey(requireNonNull(key, "key"));
    return new KeyBytes(codec.encode(key));
  }

  /**
   * @throws ClassCastException if {@code key} is not of the configured key type
   */
  void checkKey(K key) {
    if (!keyType.isInstance(key)) {
      throw new ClassCastException(
          "key "
              + key
              + " is a "
              + key.getClass().getName()
              + ", but cache '"
              + name
              + "' is configured for keys of "
              + keyType.getName());
    }
  }

  /** Encodes each of {@code keys}, in their order; none may be null. */
  Map<KeyBytes, K> keysOf(Set<? extends K> keys) {
    requireNonNull(keys, "keys");
    Map<KeyBytes, K> byBytes = new LinkedHashMap<>();
    for (K key : keys) {
      byBytes.put(keyOf(requireNonNull(key, "keys must not contain null")), key);
    }
    return byBytes;
  }

  /**
   * Encodes {@code value}.
   *
   * @throws ClassCastException if it is not of the configured value type
   */
  byte[] encodeValue(V value) {
    requireNonNull(value, "value");
    if (!valueType.isInstance(value)) {
      throw new ClassCastException(
          "value "
              + value
              + " is a "
              + value.getClass().getName()
              + ", but cache '"
              + name
              + "' is configured for values of "
              + valueType.getName());
    }
    return codec.encode(value);
  }

  /** A new copy of the value in {@code envelope}: the cache stores by value. */
  @SuppressWarnings("unchecked") // the codec decodes what encodeValue encoded, a V
  V decode(Envelope envelope) {
    return (V) call(() -> codec.decode(envelope.value()));
  }

  @SuppressWarnings("unchecked") // the codec decodes what keyOf encoded, a K
  K decodeKey(KeyBytes k) {
    return (K) call(() -> codec.decode(k.bytes()));
  }

  // ---------------------------------------------------------------- reads

  /** The envelope of {@code k} on its owner, expired or not; null if absent. */
  @Nullable Envelope read(KeyBytes k) {
    byte[] raw = call(() -> store.getIfPresent(k));
    return raw == null ? null : Envelope.wrap(raw);
  }

  /**
   * The live envelope of {@code k} at {@code now}; null if absent. An expired one reads as absent,
   * after this node removed it and reported it EXPIRED (unless another node did first).
   */
  @Nullable Envelope readLive(KeyBytes k, K key, long now) {
    Envelope found = read(k);
    if (found != null && found.isExpiredAt(now)) {
      expire(k, key, found);
      return null;
    }
    return found;
  }

  /** The stored envelopes of {@code keys} (expired or not), with one call per owner. */
  Map<KeyBytes, byte[]> readAll(Set<KeyBytes> keys) {
    return call(() -> store.getAll(keys));
  }

  /**
   * The core's {@code get(k, loader)}: the entry of {@code k}, or the value {@code loader} stored
   * for it. Unlike the other methods this passes the core's exceptions on unchanged, because {@link
   * ReadThrough} tells a loader's failure from the core's.
   */
  byte[] getOrLoad(KeyBytes k, CacheLoader<KeyBytes, byte[]> loader) {
    return store.get(k, loader);
  }

  /** Removes an entry found expired and reports it, if no other writer changed it first. */
  void expire(KeyBytes k, K key, Envelope expired) {
    if (cas(k, expired, null)) {
      fire(EntryEvent.expired(source, key, decode(expired)));
    }
  }

  /**
   * Applies the access expiry to an entry just read. Not retried: if a writer changed the entry
   * meanwhile, the write's own expiry time is the newer one and stands.
   */
  void touch(KeyBytes k, Envelope found, long now) {
    Long expireAt = expiry.onAccess(now);
    if (expireAt != null && expireAt != found.expireAt()) {
      cas(k, found, found.withExpireAt(expireAt));
    }
  }

  // ---------------------------------------------------------------- changes

  /**
   * One compare-and-set on the owner, recording nothing: from {@code expected} (null: absent) to
   * {@code update} (null: removed). Returns whether it won.
   */
  boolean cas(KeyBytes k, @Nullable Envelope expected, @Nullable Envelope update) {
    return call(
        () ->
            store.compareAndSet(
                k, expected == null ? null : expected.raw(), update == null ? null : update.raw()));
  }

  /** Creates the entry of an absent key with a value written through the API: a put. */
  Creation create(KeyBytes k, K key, V value, byte[] valueBytes, long now) {
    long expireAt = expiry.onCreation(now);
    if (expireAt <= now) {
      return Creation.EXPIRED;
    }
    if (!cas(k, null, Envelope.of(expireAt, valueBytes))) {
      return Creation.LOST;
    }
    statistics.put();
    fire(EntryEvent.created(source, key, value));
    return Creation.STORED;
  }

  /**
   * Creates the entry of an absent key with a value the loader produced: not a put, so no put
   * statistic. Nothing is stored if another writer created the entry first.
   */
  void createLoaded(KeyBytes k, K key, V value, byte[] valueBytes, long now) {
    long expireAt = expiry.onCreation(now);
    if (expireAt > now && cas(k, null, Envelope.of(expireAt, valueBytes))) {
      loaded(k, key, value);
    }
  }

  /** Records an entry that this node's load created through {@link #getOrLoad}. */
  void loaded(KeyBytes k, K key, V value) {
    fire(EntryEvent.created(source, key, value));
  }

  /**
   * Replaces {@code current} with {@code value}, a put; false if the entry is no longer {@code
   * current}.
   */
  boolean update(KeyBytes k, K key, V value, byte[] valueBytes, Envelope current, long now) {
    if (!cas(k, current, next(current, valueBytes, now))) {
      return false;
    }
    statistics.put();
    fire(EntryEvent.updated(source, key, value, decode(current)));
    return true;
  }

  /**
   * Replaces {@code current} with a value the loader produced (not a put); false if the entry is no
   * longer {@code current}.
   */
  boolean updateLoaded(KeyBytes k, K key, V value, byte[] valueBytes, Envelope current, long now) {
    if (!cas(k, current, next(current, valueBytes, now))) {
      return false;
    }
    fire(EntryEvent.updated(source, key, value, decode(current)));
    return true;
  }

  private Envelope next(Envelope current, byte[] valueBytes, long now) {
    Long expireAt = expiry.onUpdate(now);
    return Envelope.of(expireAt == null ? current.expireAt() : expireAt, valueBytes);
  }

  /**
   * Removes {@code current}; false if the entry is no longer {@code current}.
   *
   * @param startNanos when the operation started, for the removal time statistic
   */
  boolean remove(KeyBytes k, K key, Envelope current, long startNanos) {
    if (!cas(k, current, null)) {
      return false;
    }
    statistics.removal();
    statistics.removeTime(startNanos);
    fire(EntryEvent.removed(source, key, decode(current)));
    return true;
  }

  // ---------------------------------------------------------------- batches

  /**
   * The expiry time a put at {@code now} gives an entry whatever the entry held, if a batch of puts
   * may be written blind, in one core {@code putAll}: nobody listens (a listener must hear CREATED
   * from UPDATED, with the old value), and the expiry policy sets the same time on creation and on
   * update ({@link ExpiryTimes#onAnyWrite}) and keeps the entry. Null if each put must read its
   * entry first.
   */
  @Nullable Long blindPutExpiry(long now) {
    if (!events.isEmpty()) {
      return null;
    }
    Long expireAt = expiry.onAnyWrite(now);
    return expireAt != null && expireAt > now ? expireAt : null;
  }

  /**
   * Whether a batch of removes may be written blind, in one core {@code invalidateAll(keys)}:
   * nobody listens (REMOVED and EXPIRED events need the entry) and statistics are off (a removal
   * counts only for a key that had an entry).
   */
  boolean blindRemovesAllowed() {
    return events.isEmpty() && !statistics.isEnabled();
  }

  /**
   * Stores the envelopes of {@code values} with one core {@code putAll} (one call per holder),
   * recording each as a put; see {@link #blindPutExpiry}. When some keys fail, those that were
   * written are recorded and the failure is thrown as a {@link CacheException}.
   */
  void putAll(Map<KeyBytes, byte[]> envelopes) {
    try {
      store.putAll(envelopes);
    } catch (BatchWriteException e) {
      Set<Object> failed = new HashSet<>(e.notApplied());
      failed.addAll(e.outcomeUnknown());
      recordPuts(envelopes.keySet(), failed);
      throw new CacheException("cache '" + name + "': " + e.getMessage(), e);
    } catch (ShardcacheException e) {
      throw new CacheException("cache '" + name + "': " + e.getMessage(), e);
    }
    recordPuts(envelopes.keySet(), Set.of());
  }

  private void recordPuts(Set<KeyBytes> keys, Set<Object> failed) {
    for (KeyBytes k : keys) {
      if (!failed.contains(k)) {
        statistics.put();
      }
    }
  }

  /**
   * Removes {@code keys} with one core {@code invalidateAll(keys)} (one call per holder), without
   * events or statistics; see {@link #blindRemovesAllowed}.
   */
  void removeAll(List<KeyBytes> keys) {
    call(
        () -> {
          store.invalidateAll(keys);
          return null;
        });
  }

  /**
   * The core's {@code getAll(keys, loader)}: the entries of {@code keys}, those absent loaded with
   * one {@code loader.loadAll} on this node and stored on their owners if still absent. As {@link
   * #getOrLoad}, this passes the core's exceptions on unchanged.
   */
  Map<KeyBytes, byte[]> getAllOrLoad(
      Collection<KeyBytes> keys, CacheLoader<KeyBytes, byte[]> loader) {
    return store.getAll(keys, loader);
  }

  /** Removes every entry of the cache from every member, without events. */
  void invalidateAll() {
    call(
        () -> {
          store.invalidateAll();
          return null;
        });
  }

  // ---------------------------------------------------------------- iteration

  /**
   * A scan of every entry of the cache in the cluster, as the envelopes stored (expired ones
   * included): the core's {@link DistributedCache#scan()}. Read it with {@link #nextOf}.
   */
  CacheScan<KeyBytes, byte[]> scan() {
    return call(store::scan);
  }

  /**
   * The next entry of {@code scan}, or null at its end; a member that could not be read surfaces as
   * {@link CacheException}.
   */
  Map.@Nullable Entry<KeyBytes, byte[]> nextOf(CacheScan<KeyBytes, byte[]> scan) {
    return call(() -> scan.hasNext() ? scan.next() : null);
  }

  // ---------------------------------------------------------------- helpers

  private void fire(EntryEvent<K, V> event) {
    if (!events.isEmpty()) {
      events.fire(event);
    }
  }

  /** Runs a call to the core; its failures become the {@link CacheException} JCache throws. */
  private <T> T call(Supplier<T> operation) {
    try {
      return operation.get();
    } catch (ShardcacheException e) {
      throw new CacheException("cache '" + name + "': " + e.getMessage(), e);
    }
  }
}
