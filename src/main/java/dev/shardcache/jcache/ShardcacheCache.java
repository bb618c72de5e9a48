package dev.shardcache.jcache;

import static java.util.Objects.requireNonNull;

import dev.shardcache.CacheLoadException;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import javax.cache.Cache;
import javax.cache.CacheException;
import javax.cache.CacheManager;
import javax.cache.configuration.CacheEntryListenerConfiguration;
import javax.cache.configuration.CompleteConfiguration;
import javax.cache.configuration.Configuration;
import javax.cache.configuration.Factory;
import javax.cache.configuration.MutableConfiguration;
import javax.cache.integration.CacheLoader;
import javax.cache.integration.CacheLoaderException;
import javax.cache.integration.CacheWriterException;
import javax.cache.integration.CompletionListener;
import javax.cache.management.CacheStatisticsMXBean;
import javax.cache.processor.EntryProcessor;
import javax.cache.processor.EntryProcessorException;
import javax.cache.processor.EntryProcessorResult;
import javax.management.ObjectName;
import org.jspecify.annotations.Nullable;

/**
 * A JSR-107 {@link Cache} backed by a Shardcache {@link DistributedCache}: every entry lives on
 * the node that owns its key, whichever node reads or writes it. Get one from a
 * {@link ShardcacheCacheManager}.
 *
 * <h2>How the operations map onto the core</h2>
 * Keys and values are encoded (strings, longs and integers compactly, anything else with
 * allow-listed Java serialization), so the cache stores by value. Each value is stored in an
 * {@link Envelope} with its expiry time. Every read is a {@code getIfPresent} on the owner; every
 * change is a {@link DistributedCache#compareAndSet} on the owner from the envelope this node just
 * read to the new one, retried from a fresh read if another writer got there first. So
 * {@code putIfAbsent}, {@code replace}, conditional removes, {@code getAndPut} and
 * {@code invoke} are atomic on the owner, and the event or statistic for a change is recorded only
 * by the node whose compare-and-set won. A read-through {@code get} loads through the core's
 * {@link DistributedCache#get(Object, dev.shardcache.CacheLoader)}, so on the owner concurrent
 * misses of a key share one load.
 *
 * <h2>Costs and limits</h2>
 * <ul>
 *   <li>A write is a read plus a compare-and-set: two calls to a remote owner. A read of a cache
 *       whose expiry policy changes expiry on access adds a compare-and-set.
 *   <li>An entry processor runs on the calling node against a snapshot, and runs again if the
 *       entry changed before its result could be applied; a processor (and, with write-through, the
 *       writer) may therefore be called more than once under contention.
 *   <li>Listeners hear of changes made through this node only; see {@link EventDispatcher}.
 *   <li>The iterator and {@link #removeAll()} reach the keys this node wrote or loaded; see
 *       {@link KeyIndex}. {@link #removeAll()} then clears the cache on every member, so no entry
 *       survives it, but entries it did not reach are removed without events or writer calls.
 * </ul>
 *
 * <p>Thread-safe. Methods block on calls to the owner (bounded by the core's remote timeout), on the
 * loader, the writer and synchronous listeners. A failure of the core (an unreachable owner, a
 * member that does not define the cache) surfaces as {@link CacheException}.
 *
 * @param <K> the key type
 * @param <V> the value type
 */
public final class ShardcacheCache<K, V> implements Cache<K, V> {
  /** Compare-and-set attempts before an operation gives up on a key that keeps changing. */
  private static final int MAX_ATTEMPTS = 1_000;

  private final ShardcacheCacheManager manager;
  private final String name;
  private final DistributedCache<KeyBytes, byte[]> store;
  private final ObjectCodec codec;
  private final KeyIndex index;
  private final Executor executor;
  private final MutableConfiguration<K, V> configuration; // guarded by itself
  private final Class<?> keyType;
  private final Class<?> valueType;
  private final ExpiryTimes expiry;
  private final @Nullable CacheLoader<K, V> loader;
  private final boolean readThrough;
  private final WriteThrough<K, V> writeThrough;
  private final EventDispatcher<K, V> events;
  private final JCacheStatistics statistics;
  private final ConfigurationBean configurationBean;
  private volatile boolean closed;

  ShardcacheCache(
      ShardcacheCacheManager manager,
      String name,
      CompleteConfiguration<K, V> config,
      DistributedCache<KeyBytes, byte[]> store,
      ObjectCodec codec,
      KeyIndex index,
      Executor executor) {
    this.manager = manager;
    this.name = name;
    this.store = store;
    this.codec = codec;
    this.index = index;
    this.executor = executor;
    this.configuration = new MutableConfiguration<>(config);
    this.keyType = config.getKeyType();
    this.valueType = config.getValueType();
    this.expiry = new ExpiryTimes(config.getExpiryPolicyFactory().create());
    Factory<CacheLoader<K, V>> loaderFactory = config.getCacheLoaderFactory();
    this.loader = loaderFactory == null ? null : loaderFactory.create();
    this.readThrough = config.isReadThrough() && loader != null;
    this.writeThrough = new WriteThrough<>(config);
    this.events = new EventDispatcher<>(executor);
    for (CacheEntryListenerConfiguration<K, V> listener : config.getCacheEntryListenerConfigurations()) {
      events.register(listener);
    }
    this.statistics = new JCacheStatistics(() -> store.stats().evictionCount());
    this.configurationBean = new ConfigurationBean(this);
    setStatisticsEnabled(config.isStatisticsEnabled());
    setManagementEnabled(config.isManagementEnabled());
  }

  // ---------------------------------------------------------------- reads

  @Override
  public @Nullable V get(K key) {
    requireOpen();
    long start = System.nanoTime();
    KeyBytes k = keyOf(key);
    long now = now();
    Envelope found = readLive(k, key, now);
    V value;
    if (found != null) {
      statistics.hit();
      touch(k, found, now);
      value = decode(found);
    } else {
      statistics.miss();
      value = readThrough ? loadThrough(k, key) : null;
    }
    statistics.getTime(start);
    return value;
  }

  @Override
  public Map<K, V> getAll(Set<? extends K> keys) {
    requireOpen();
    long start = System.nanoTime();
    Map<KeyBytes, K> byBytes = encodeKeys(keys);
    Map<KeyBytes, byte[]> found = call(() -> store.getAll(byBytes.keySet()));
    Map<K, V> result = new LinkedHashMap<>();
    List<K> missing = new ArrayList<>();
    long now = now();
    for (Map.Entry<KeyBytes, K> entry : byBytes.entrySet()) {
      byte[] raw = found.get(entry.getKey());
      Envelope envelope = raw == null ? null : Envelope.wrap(raw);
      if (envelope != null && envelope.isExpiredAt(now)) {
        expire(entry.getKey(), entry.getValue(), envelope);
        envelope = null;
      }
      if (envelope == null) {
        statistics.miss();
        missing.add(entry.getValue());
      } else {
        statistics.hit();
        touch(entry.getKey(), envelope, now);
        result.put(entry.getValue(), decode(envelope));
      }
    }
    if (readThrough && !missing.isEmpty()) {
      Map<K, V> loaded = loadAllFromLoader(missing);
      for (Map.Entry<K, V> entry : loaded.entrySet()) {
        if (entry.getKey() != null && entry.getValue() != null) {
          storeLoaded(keyOf(entry.getKey()), entry.getKey(), entry.getValue(), false);
          result.put(entry.getKey(), entry.getValue());
        }
      }
    }
    statistics.getTime(start);
    return result;
  }

  @Override
  public boolean containsKey(K key) {
    requireOpen();
    Envelope found = read(keyOf(key));
    return found != null && !found.isExpiredAt(now());
  }

  @Override
  public void loadAll(Set<? extends K> keys, boolean replaceExistingValues,
      @Nullable CompletionListener completionListener) {
    requireOpen();
    requireNonNull(keys, "keys");
    for (K key : keys) {
      requireNonNull(key, "keys must not contain null");
    }
    CacheLoader<K, V> with = loader;
    if (with == null) {
      if (completionListener != null) {
        completionListener.onCompletion();
      }
      return;
    }
    List<K> requested = List.copyOf(keys);
    executor.execute(() -> {
      try {
        List<K> toLoad = new ArrayList<>();
        for (K key : requested) {
          if (replaceExistingValues || !containsKey(key)) {
            toLoad.add(key);
          }
        }
        if (!toLoad.isEmpty()) {
          Map<K, V> loaded = loadAllFromLoader(toLoad);
          for (Map.Entry<K, V> entry : loaded.entrySet()) {
            if (entry.getKey() != null && entry.getValue() != null) {
              storeLoaded(keyOf(entry.getKey()), entry.getKey(), entry.getValue(), replaceExistingValues);
            }
          }
        }
        if (completionListener != null) {
          completionListener.onCompletion();
        }
      } catch (Exception e) {
        if (completionListener != null) {
          completionListener.onException(e);
        }
      }
    });
  }

  // ---------------------------------------------------------------- writes

  @Override
  public void put(K key, V value) {
    requireOpen();
    long start = System.nanoTime();
    KeyBytes k = keyOf(key);
    byte[] valueBytes = encodeValue(value);
    long now = now();
    Envelope current = readLive(k, key, now);
    writeThrough.write(key, value);
    write(k, key, value, valueBytes, current, now);
    statistics.putTime(start);
  }

  @Override
  public @Nullable V getAndPut(K key, V value) {
    requireOpen();
    long start = System.nanoTime();
    KeyBytes k = keyOf(key);
    byte[] valueBytes = encodeValue(value);
    long now = now();
    Envelope current = readLive(k, key, now);
    if (current == null) {
      statistics.miss();
    } else {
      statistics.hit();
    }
    writeThrough.write(key, value);
    V previous = write(k, key, value, valueBytes, current, now);
    statistics.getTime(start);
    statistics.putTime(start);
    return previous;
  }

  @Override
  public void putAll(Map<? extends K, ? extends V> entries) {
    requireOpen();
    requireNonNull(entries, "entries");
    long start = System.nanoTime();
    Map<K, byte[]> encoded = new LinkedHashMap<>();
    for (Map.Entry<? extends K, ? extends V> entry : entries.entrySet()) {
      K key = requireNonNull(entry.getKey(), "entries must not have a null key");
      V value = requireNonNull(entry.getValue(), "entries must not have a null value");
      checkKey(key);
      encoded.put(key, encodeValue(value));
    }
    WriteThrough.Unwritten unwritten = writeThrough.writeAll(entries);
    long now = now();
    for (Map.Entry<? extends K, ? extends V> entry : entries.entrySet()) {
      K key = entry.getKey();
      if (unwritten.contains(key)) {
        continue;
      }
      KeyBytes k = keyOf(key);
      write(k, key, entry.getValue(), encoded.get(key), readLive(k, key, now), now);
    }
    statistics.putTime(start);
    unwritten.throwFailure();
  }

  @Override
  public boolean putIfAbsent(K key, V value) {
    requireOpen();
    long start = System.nanoTime();
    KeyBytes k = keyOf(key);
    byte[] valueBytes = encodeValue(value);
    long now = now();
    if (readLive(k, key, now) != null) {
      statistics.hit();
      return false;
    }
    statistics.miss();
    writeThrough.write(key, value);
    long expireAt = expiry.onCreation(now);
    if (expireAt <= now) {
      return true; // expires on creation: never visible
    }
    if (!cas(k, null, Envelope.of(expireAt, valueBytes))) {
      return false; // another writer created it first
    }
    index.add(k);
    statistics.put();
    statistics.putTime(start);
    fire(EntryEvent.created(this, key, value));
    return true;
  }

  @Override
  public boolean remove(K key) {
    requireOpen();
    long start = System.nanoTime();
    KeyBytes k = keyOf(key);
    long now = now();
    Envelope current = readLive(k, key, now);
    writeThrough.delete(key);
    for (int attempt = 0; current != null; attempt++) {
      if (cas(k, current, null)) {
        removed(k, key, current, start);
        return true;
      }
      checkAttempts(attempt, key);
      current = readLive(k, key, now);
    }
    return false;
  }

  @Override
  public boolean remove(K key, V oldValue) {
    requireOpen();
    requireNonNull(oldValue, "oldValue");
    long start = System.nanoTime();
    KeyBytes k = keyOf(key);
    long now = now();
    Envelope current = readLive(k, key, now);
    if (current == null) {
      statistics.miss();
      return false;
    }
    statistics.hit();
    if (!decode(current).equals(oldValue)) {
      touch(k, current, now);
      return false;
    }
    writeThrough.delete(key);
    for (int attempt = 0; ; attempt++) {
      if (cas(k, current, null)) {
        removed(k, key, current, start);
        return true;
      }
      checkAttempts(attempt, key);
      current = readLive(k, key, now);
      if (current == null || !decode(current).equals(oldValue)) {
        return false;
      }
    }
  }

  @Override
  public @Nullable V getAndRemove(K key) {
    requireOpen();
    long start = System.nanoTime();
    KeyBytes k = keyOf(key);
    long now = now();
    Envelope current = readLive(k, key, now);
    writeThrough.delete(key);
    for (int attempt = 0; current != null; attempt++) {
      if (cas(k, current, null)) {
        statistics.hit();
        removed(k, key, current, start);
        statistics.getTime(start);
        return decode(current);
      }
      checkAttempts(attempt, key);
      current = readLive(k, key, now);
    }
    statistics.miss();
    return null;
  }

  @Override
  public boolean replace(K key, V oldValue, V newValue) {
    requireOpen();
    requireNonNull(oldValue, "oldValue");
    long start = System.nanoTime();
    KeyBytes k = keyOf(key);
    byte[] valueBytes = encodeValue(newValue);
    long now = now();
    Envelope current = readLive(k, key, now);
    if (current == null) {
      statistics.miss();
      return false;
    }
    statistics.hit();
    if (!decode(current).equals(oldValue)) {
      touch(k, current, now);
      return false;
    }
    writeThrough.write(key, newValue);
    for (int attempt = 0; ; attempt++) {
      if (update(k, key, newValue, valueBytes, current, now)) {
        statistics.putTime(start);
        return true;
      }
      checkAttempts(attempt, key);
      current = readLive(k, key, now);
      if (current == null || !decode(current).equals(oldValue)) {
        return false;
      }
    }
  }

  @Override
  public boolean replace(K key, V value) {
    return replaceExisting(key, value) != null;
  }

  @Override
  public @Nullable V getAndReplace(K key, V value) {
    return replaceExisting(key, value);
  }

  /** Replaces the value of a present key; returns the old value, or {@code null} if absent. */
  private @Nullable V replaceExisting(K key, V value) {
    requireOpen();
    long start = System.nanoTime();
    KeyBytes k = keyOf(key);
    byte[] valueBytes = encodeValue(value);
    long now = now();
    Envelope current = readLive(k, key, now);
    if (current == null) {
      statistics.miss();
      return null;
    }
    statistics.hit();
    writeThrough.write(key, value);
    for (int attempt = 0; current != null; attempt++) {
      if (update(k, key, value, valueBytes, current, now)) {
        statistics.putTime(start);
        return decode(current);
      }
      checkAttempts(attempt, key);
      current = readLive(k, key, now);
    }
    return null;
  }

  @Override
  public void removeAll(Set<? extends K> keys) {
    requireOpen();
    requireNonNull(keys, "keys");
    for (K key : keys) {
      checkKey(requireNonNull(key, "keys must not contain null"));
    }
    removeEntries(new ArrayList<>(keys));
  }

  @Override
  public void removeAll() {
    requireOpen();
    long now = now();
    List<K> live = new ArrayList<>();
    for (KeyBytes k : index.snapshot()) {
      K key = decodeKey(k);
      if (readLive(k, key, now) == null) {
        index.remove(k);
      } else {
        live.add(key);
      }
    }
    removeEntries(live);
    call(() -> {
      store.invalidateAll(); // entries this node cannot list, such as other nodes' writes
      return null;
    });
  }

  /**
   * Deletes {@code keys} through the writer, then removes those it deleted from the cache, with
   * events and statistics.
   *
   * @throws CacheWriterException if the writer failed for some keys (the others were removed)
   */
  private void removeEntries(List<K> keys) {
    WriteThrough.Unwritten unwritten = writeThrough.deleteAll(keys);
    long now = now();
    for (K key : keys) {
      if (unwritten.contains(key)) {
        continue;
      }
      long start = System.nanoTime();
      KeyBytes k = keyOf(key);
      Envelope current = readLive(k, key, now);
      for (int attempt = 0; current != null; attempt++) {
        if (cas(k, current, null)) {
          removed(k, key, current, start);
          break;
        }
        checkAttempts(attempt, key);
        current = readLive(k, key, now);
      }
    }
    unwritten.throwFailure();
  }

  @Override
  public void clear() {
    requireOpen();
    call(() -> {
      store.invalidateAll();
      return null;
    });
    index.clear();
  }

  // ---------------------------------------------------------------- entry processors

  @Override
  public <T> @Nullable T invoke(K key, EntryProcessor<K, V, T> entryProcessor, Object... arguments) {
    requireOpen();
    requireNonNull(entryProcessor, "entryProcessor");
    long start = System.nanoTime();
    KeyBytes k = keyOf(key);
    for (int attempt = 0; ; attempt++) {
      long now = now();
      Envelope current = readLive(k, key, now);
      V original = current == null ? null : decode(current);
      ProcessorEntry<K, V> entry =
          new ProcessorEntry<>(key, original, readThrough ? this::loadOne : null);
      T result;
      try {
        result = entryProcessor.process(entry, arguments);
      } catch (EntryProcessorException e) {
        throw e;
      } catch (VirtualMachineError e) {
        throw e;
      } catch (Exception | Error e) {
        throw new EntryProcessorException("entry processor failed on key " + key + ": " + e, e);
      }
      if (apply(k, key, current, original, entry, now, start)) {
        if (current == null) {
          statistics.miss();
        } else {
          statistics.hit();
        }
        return result;
      }
      checkAttempts(attempt, key);
    }
  }

  /**
   * Applies the net effect of an entry processor with one compare-and-set from {@code current}.
   * Returns false if the entry changed meanwhile, so the processor must run again.
   */
  private boolean apply(KeyBytes k, K key, @Nullable Envelope current, @Nullable V original,
      ProcessorEntry<K, V> entry, long now, long start) {
    V value = entry.value();
    switch (entry.operation()) {
      case NONE:
        return true;
      case ACCESS:
        touch(k, requireNonNull(current), now);
        return true;
      case LOAD: {
        long expireAt = expiry.onCreation(now);
        if (expireAt > now && cas(k, null, Envelope.of(expireAt, encodeValue(requireNonNull(value))))) {
          index.add(k);
          fire(EntryEvent.created(this, key, value));
        }
        return true;
      }
      case CREATE: {
        V created = requireNonNull(value);
        byte[] bytes = encodeValue(created);
        writeThrough.write(key, created);
        long expireAt = expiry.onCreation(now);
        if (expireAt <= now) {
          return true;
        }
        if (!cas(k, null, Envelope.of(expireAt, bytes))) {
          return false;
        }
        index.add(k);
        statistics.put();
        statistics.putTime(start);
        fire(EntryEvent.created(this, key, created));
        return true;
      }
      case UPDATE: {
        V updated = requireNonNull(value);
        byte[] bytes = encodeValue(updated);
        writeThrough.write(key, updated);
        if (current == null) {
          return false; // it vanished after the snapshot: run again as a create
        }
        return update(k, key, updated, bytes, current, now);
      }
      case REMOVE:
        writeThrough.delete(key);
        if (current == null) {
          return true;
        }
        if (!cas(k, current, null)) {
          return false;
        }
        removed(k, key, current, start);
        return true;
      default:
        throw new AssertionError(entry.operation());
    }
  }

  @Override
  public <T> Map<K, EntryProcessorResult<T>> invokeAll(Set<? extends K> keys,
      EntryProcessor<K, V, T> entryProcessor, Object... arguments) {
    requireOpen();
    requireNonNull(keys, "keys");
    requireNonNull(entryProcessor, "entryProcessor");
    for (K key : keys) {
      requireNonNull(key, "keys must not contain null");
    }
    Map<K, EntryProcessorResult<T>> results = new HashMap<>();
    for (K key : keys) {
      try {
        T result = invoke(key, entryProcessor, arguments);
        if (result != null) {
          results.put(key, () -> result);
        }
      } catch (RuntimeException e) {
        EntryProcessorException failure = e instanceof EntryProcessorException epe
            ? epe
            : new EntryProcessorException(e);
        results.put(key, () -> {
          throw failure;
        });
      }
    }
    return results;
  }

  // ---------------------------------------------------------------- iteration

  @Override
  public Iterator<Cache.Entry<K, V>> iterator() {
    requireOpen();
    List<KeyBytes> keys = index.snapshot();
    return new Iterator<>() {
      private int position;
      private @Nullable CacheEntry<K, V> next;
      private @Nullable CacheEntry<K, V> last;

      @Override
      public boolean hasNext() {
        while (next == null && position < keys.size()) {
          KeyBytes k = keys.get(position++);
          K key = decodeKey(k);
          long now = now();
          Envelope found = readLive(k, key, now);
          if (found == null) {
            index.remove(k);
            continue;
          }
          statistics.hit();
          touch(k, found, now);
          next = new CacheEntry<>(key, decode(found));
        }
        return next != null;
      }

      @Override
      public Cache.Entry<K, V> next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        last = next;
        next = null;
        return requireNonNull(last);
      }

      @Override
      public void remove() {
        CacheEntry<K, V> removing = last;
        if (removing == null) {
          throw new IllegalStateException("next() was not called, or remove() was already called");
        }
        last = null;
        ShardcacheCache.this.remove(removing.getKey());
      }
    };
  }

  // ---------------------------------------------------------------- listeners and configuration

  @Override
  public void registerCacheEntryListener(CacheEntryListenerConfiguration<K, V> listenerConfiguration) {
    requireOpen();
    requireNonNull(listenerConfiguration, "listenerConfiguration");
    synchronized (configuration) {
      for (CacheEntryListenerConfiguration<K, V> existing : configuration.getCacheEntryListenerConfigurations()) {
        if (existing.equals(listenerConfiguration)) {
          throw new IllegalArgumentException("this listener configuration is already registered");
        }
      }
      configuration.addCacheEntryListenerConfiguration(listenerConfiguration);
      events.register(listenerConfiguration);
    }
  }

  @Override
  public void deregisterCacheEntryListener(CacheEntryListenerConfiguration<K, V> listenerConfiguration) {
    requireNonNull(listenerConfiguration, "listenerConfiguration");
    requireOpen();
    synchronized (configuration) {
      configuration.removeCacheEntryListenerConfiguration(listenerConfiguration);
      events.deregister(listenerConfiguration);
    }
  }

  /**
   * Returns a copy of this cache's configuration, including the listeners registered since; changing
   * the copy does not change the cache. Any class the copy is an instance of may be asked for:
   * {@link Configuration}, {@link CompleteConfiguration} or {@link MutableConfiguration}.
   */
  @Override
  public <C extends Configuration<K, V>> C getConfiguration(Class<C> clazz) {
    MutableConfiguration<K, V> copy;
    synchronized (configuration) {
      copy = new MutableConfiguration<>(configuration);
    }
    if (clazz.isInstance(copy)) {
      return clazz.cast(copy);
    }
    throw new IllegalArgumentException("the configuration is a CompleteConfiguration, not a "
        + clazz.getName());
  }

  /** A copy of this cache's configuration, as {@link #getConfiguration} gives it. */
  CompleteConfiguration<K, V> completeConfiguration() {
    synchronized (configuration) {
      return new MutableConfiguration<>(configuration);
    }
  }

  void setStatisticsEnabled(boolean enabled) {
    synchronized (configuration) {
      configuration.setStatisticsEnabled(enabled);
      statistics.setEnabled(enabled);
    }
    ObjectName beanName = MBeans.name(MBeans.Kind.STATISTICS, manager.getURI(), name);
    if (enabled) {
      MBeans.register(statistics, beanName);
    } else {
      MBeans.unregister(beanName);
    }
  }

  void setManagementEnabled(boolean enabled) {
    synchronized (configuration) {
      configuration.setManagementEnabled(enabled);
    }
    ObjectName beanName = MBeans.name(MBeans.Kind.CONFIGURATION, manager.getURI(), name);
    if (enabled) {
      MBeans.register(configurationBean, beanName);
    } else {
      MBeans.unregister(beanName);
    }
  }

  /** This cache's statistics on this node, as its MXBean shows them (counted only while enabled). */
  public CacheStatisticsMXBean statistics() {
    return statistics;
  }

  @Override
  public String getName() {
    return name;
  }

  @Override
  public CacheManager getCacheManager() {
    return manager;
  }

  /**
   * Closes this cache on this node: it stops serving calls, unregisters its MXBeans and closes its
   * loader, writer, listeners and expiry policy if they are {@link java.io.Closeable}. The entries
   * stay in the cluster (use {@link CacheManager#destroyCache} to remove them). Idempotent.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    manager.release(this);
    MBeans.unregister(MBeans.name(MBeans.Kind.CONFIGURATION, manager.getURI(), name));
    MBeans.unregister(MBeans.name(MBeans.Kind.STATISTICS, manager.getURI(), name));
    events.close();
    ListenerRegistration.closeQuietly(loader);
    writeThrough.close();
    ListenerRegistration.closeQuietly(expiry.policy());
  }

  @Override
  public boolean isClosed() {
    return closed;
  }

  /** Returns this cache as {@code clazz} if it is one ({@link ShardcacheCache} or {@link Cache}). */
  @Override
  public <T> T unwrap(Class<T> clazz) {
    if (clazz.isInstance(this)) {
      return clazz.cast(this);
    }
    throw new IllegalArgumentException("a Shardcache JCache cache cannot be unwrapped to " + clazz.getName());
  }

  @Override
  public String toString() {
    return "ShardcacheCache{" + name + " on " + manager.getURI() + "}";
  }

  // ---------------------------------------------------------------- the machinery

  /**
   * Stores {@code value}, created if {@code current} is null and updated from it otherwise, and
   * returns the value it replaced. Retries from a fresh read if another writer changed the entry.
   * A creation whose expiry is zero stores nothing. Does not call the writer.
   */
  private @Nullable V write(KeyBytes k, K key, V value, byte[] valueBytes, @Nullable Envelope current,
      long now) {
    Envelope seen = current;
    for (int attempt = 0; ; attempt++) {
      if (seen == null) {
        long expireAt = expiry.onCreation(now);
        if (expireAt <= now) {
          return null;
        }
        if (cas(k, null, Envelope.of(expireAt, valueBytes))) {
          index.add(k);
          statistics.put();
          fire(EntryEvent.created(this, key, value));
          return null;
        }
      } else if (update(k, key, value, valueBytes, seen, now)) {
        return decode(seen);
      }
      checkAttempts(attempt, key);
      seen = readLive(k, key, now);
    }
  }

  /** Replaces {@code current} with {@code value}; false if the entry is no longer {@code current}. */
  private boolean update(KeyBytes k, K key, V value, byte[] valueBytes, Envelope current, long now) {
    Long expireAt = expiry.onUpdate(now);
    Envelope next = Envelope.of(expireAt == null ? current.expireAt() : expireAt, valueBytes);
    if (!cas(k, current, next)) {
      return false;
    }
    index.add(k);
    statistics.put();
    fire(EntryEvent.updated(this, key, value, decode(current)));
    return true;
  }

  /** Records a removal this node's compare-and-set made. */
  private void removed(KeyBytes k, K key, Envelope old, long start) {
    index.remove(k);
    statistics.removal();
    statistics.removeTime(start);
    fire(EntryEvent.removed(this, key, decode(old)));
  }

  /**
   * Loads {@code key} through the core's {@code get(key, loader)}: on the owner, concurrent misses
   * of the key share one load. The load stored by this call is recognised by identity (the core
   * returns the very array the loader returned), and only that call fires CREATED.
   */
  private @Nullable V loadThrough(KeyBytes k, K key) {
    for (int attempt = 0; ; attempt++) {
      Envelope[] mine = new Envelope[1];
      List<V> loaded = new ArrayList<>(1);
      byte[] raw;
      try {
        raw = store.get(k, ignored -> {
          V value = loadOne(key);
          if (value == null) {
            throw NothingLoaded.INSTANCE;
          }
          long now = now();
          Envelope envelope = Envelope.of(expiry.onCreation(now), encodeValue(value));
          mine[0] = envelope;
          loaded.add(value);
          return envelope.raw();
        });
      } catch (CacheLoadException e) {
        Throwable cause = e.getCause();
        if (cause instanceof NothingLoaded) {
          return null;
        }
        if (cause instanceof CacheLoaderException loaderFailure) {
          throw loaderFailure;
        }
        throw new CacheLoaderException(e.getMessage(), cause != null ? cause : e);
      } catch (ShardcacheException e) {
        throw new CacheException(e.getMessage(), e);
      }
      long now = now();
      if (mine[0] != null && raw == mine[0].raw()) {
        V value = loaded.get(0);
        if (mine[0].isExpiredAt(now)) {
          cas(k, mine[0], null); // a zero creation expiry: the caller gets the value, the cache keeps nothing
          return value;
        }
        index.add(k);
        fire(EntryEvent.created(this, key, value));
        return value;
      }
      Envelope theirs = Envelope.wrap(raw);
      if (!theirs.isExpiredAt(now)) {
        return decode(theirs);
      }
      expire(k, key, theirs); // the core still held an expired entry: drop it and load again
      checkAttempts(attempt, key);
    }
  }

  /** Stores a value the loader produced (no writer, no put statistic), replacing only if asked. */
  private void storeLoaded(KeyBytes k, K key, V value, boolean replace) {
    byte[] valueBytes = encodeValue(value);
    long now = now();
    Envelope current = readLive(k, key, now);
    if (current != null) {
      if (replace) {
        Long expireAt = expiry.onUpdate(now);
        Envelope next = Envelope.of(expireAt == null ? current.expireAt() : expireAt, valueBytes);
        if (cas(k, current, next)) {
          fire(EntryEvent.updated(this, key, value, decode(current)));
        }
      }
      return;
    }
    long expireAt = expiry.onCreation(now);
    if (expireAt > now && cas(k, null, Envelope.of(expireAt, valueBytes))) {
      index.add(k);
      fire(EntryEvent.created(this, key, value));
    }
  }

  /** Calls the loader for one key; its failures become {@link CacheLoaderException}. */
  private @Nullable V loadOne(K key) {
    CacheLoader<K, V> with = requireNonNull(loader);
    try {
      return with.load(key);
    } catch (CacheLoaderException e) {
      throw e;
    } catch (Exception e) {
      throw new CacheLoaderException("loader of cache '" + name + "' failed for key " + key + ": " + e, e);
    }
  }

  private Map<K, V> loadAllFromLoader(List<K> keys) {
    CacheLoader<K, V> with = requireNonNull(loader);
    try {
      Map<K, V> loaded = with.loadAll(keys);
      return loaded == null ? Map.of() : loaded;
    } catch (CacheLoaderException e) {
      throw e;
    } catch (Exception e) {
      throw new CacheLoaderException("loader of cache '" + name + "' failed loading " + keys.size()
          + " keys: " + e, e);
    }
  }

  /** The envelope of {@code k} on its owner, expired or not. */
  private @Nullable Envelope read(KeyBytes k) {
    byte[] raw = call(() -> store.getIfPresent(k));
    return raw == null ? null : Envelope.wrap(raw);
  }

  /** The live envelope of {@code k}; an expired one is removed (EXPIRED event) and reads as absent. */
  private @Nullable Envelope readLive(KeyBytes k, K key, long now) {
    Envelope found = read(k);
    if (found != null && found.isExpiredAt(now)) {
      expire(k, key, found);
      return null;
    }
    return found;
  }

  private void expire(KeyBytes k, K key, Envelope expired) {
    if (cas(k, expired, null)) {
      index.remove(k);
      fire(EntryEvent.expired(this, key, decode(expired)));
    }
  }

  /** Applies the access expiry to an entry just read; losing a race to a writer is fine. */
  private void touch(KeyBytes k, Envelope found, long now) {
    Long expireAt = expiry.onAccess(now);
    if (expireAt != null && expireAt != found.expireAt()) {
      cas(k, found, found.withExpireAt(expireAt));
    }
  }

  private boolean cas(KeyBytes k, @Nullable Envelope expected, @Nullable Envelope update) {
    return call(() -> store.compareAndSet(k, expected == null ? null : expected.raw(),
        update == null ? null : update.raw()));
  }

  private void fire(EntryEvent<K, V> event) {
    if (!events.isEmpty()) {
      events.fire(event);
    }
  }

  private KeyBytes keyOf(K key) {
    checkKey(requireNonNull(key, "key"));
    return new KeyBytes(codec.encode(key));
  }

  private void checkKey(K key) {
    if (!keyType.isInstance(key)) {
      throw new ClassCastException("key " + key + " is a " + key.getClass().getName()
          + ", but cache '" + name + "' is configured for keys of " + keyType.getName());
    }
  }

  private byte[] encodeValue(V value) {
    requireNonNull(value, "value");
    if (!valueType.isInstance(value)) {
      throw new ClassCastException("value " + value + " is a " + value.getClass().getName()
          + ", but cache '" + name + "' is configured for values of " + valueType.getName());
    }
    return codec.encode(value);
  }

  private Map<KeyBytes, K> encodeKeys(Set<? extends K> keys) {
    requireNonNull(keys, "keys");
    Map<KeyBytes, K> byBytes = new LinkedHashMap<>();
    for (K key : keys) {
      byBytes.put(keyOf(requireNonNull(key, "keys must not contain null")), key);
    }
    return byBytes;
  }

  @SuppressWarnings("unchecked")
  private V decode(Envelope envelope) {
    return (V) call(() -> codec.decode(envelope.value()));
  }

  @SuppressWarnings("unchecked")
  private K decodeKey(KeyBytes k) {
    return (K) call(() -> codec.decode(k.bytes()));
  }

  private <T> T call(Supplier<T> operation) {
    try {
      return operation.get();
    } catch (ShardcacheException e) {
      throw new CacheException("cache '" + name + "': " + e.getMessage(), e);
    }
  }

  private void checkAttempts(int attempt, K key) {
    if (attempt >= MAX_ATTEMPTS) {
      throw new CacheException("cache '" + name + "': key " + key + " changed under " + MAX_ATTEMPTS
          + " consecutive attempts to update it; giving up");
    }
  }

  private void requireOpen() {
    if (closed) {
      throw new IllegalStateException("cache '" + name + "' is closed");
    }
  }

  private static long now() {
    return System.currentTimeMillis();
  }

  /** Thrown inside the core's loader to say the JCache loader found nothing: no value, no error. */
  private static final class NothingLoaded extends RuntimeException {
    private static final long serialVersionUID = 1L;
    static final NothingLoaded INSTANCE = new NothingLoaded();

    private NothingLoaded() {
      super("the loader returned null", null, false, false);
    }
  }
}
