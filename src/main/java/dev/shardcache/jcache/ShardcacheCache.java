package dev.shardcache.jcache;

import static java.util.Objects.requireNonNull;

import dev.shardcache.DistributedCache;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executor;
import javax.cache.Cache;
import javax.cache.CacheException;
import javax.cache.CacheManager;
import javax.cache.configuration.CacheEntryListenerConfiguration;
import javax.cache.configuration.CompleteConfiguration;
import javax.cache.configuration.Configuration;
import javax.cache.configuration.MutableConfiguration;
import javax.cache.integration.CompletionListener;
import javax.cache.management.CacheStatisticsMXBean;
import javax.cache.processor.EntryProcessor;
import javax.cache.processor.EntryProcessorException;
import javax.cache.processor.EntryProcessorResult;
import javax.management.ObjectName;
import org.jspecify.annotations.Nullable;

/**
 * A JSR-107 {@link Cache} backed by a Shardcache {@link DistributedCache}: every entry lives on the
 * node that owns its key, whichever node reads or writes it. Get one from a {@link
 * ShardcacheCacheManager}.
 *
 * <h2>How the operations map onto the core</h2>
 *
 * Keys and values are encoded (strings, longs and integers compactly, anything else with
 * allow-listed Java serialization), so the cache stores by value. Each value is stored in an {@link
 * Envelope} with its expiry time. Every read is a {@code getIfPresent} on the owner; every change
 * is a {@link DistributedCache#compareAndSet} on the owner from the envelope this node just read to
 * the new one, retried from a fresh read if another writer got there first. So {@code putIfAbsent},
 * {@code replace}, conditional removes, {@code getAndPut} and {@code invoke} are atomic on the
 * owner, and the event or statistic for a change is recorded only by the node whose compare-and-set
 * won. A read-through {@code get} loads through the core's {@link DistributedCache#get(Object,
 * dev.shardcache.CacheLoader)}, so on the owner concurrent misses of a key share one load.
 *
 * <h2>How it is built</h2>
 *
 * This class is the facade: it checks its arguments and that the cache is open, and hands each
 * operation to the part that owns its concern. {@link EntryStore} makes the single steps (read,
 * compare-and-set) and records what a won step changed; {@link AtomicUpdate} is the one retry loop
 * that every conditional change goes through; {@link EntryWrites} builds the changing operations
 * from the two, {@link EntryReads} the reading ones; {@link ReadThrough} and {@link WriteThrough}
 * hold the loader and the writer; {@link ProcessorInvoker} runs entry processors; {@link
 * EntryIterator} iterates over the core's scan.
 *
 * <h2>Costs and limits</h2>
 *
 * <ul>
 *   <li>A write is a read plus a compare-and-set: two calls to a remote owner. A read of a cache
 *       whose expiry policy changes expiry on access adds a compare-and-set.
 *   <li>{@code putAll} and {@code removeAll(keys)} cost one call per holder for the whole batch
 *       when no listener is registered (and, for {@code putAll}, the expiry policy is eternal,
 *       modified or touched; for {@code removeAll}, statistics are off); otherwise two calls per
 *       entry, as single writes. A read-through {@code getAll} or {@code loadAll} calls the
 *       loader's {@code loadAll} once, on this node, for the keys no owner holds, then stores each
 *       value with one compare-and-set on its owner.
 *   <li>An entry processor runs on the calling node against a snapshot, and runs again if the entry
 *       changed before its result could be applied; a processor (and, with write-through, the
 *       writer) may therefore be called more than once under contention.
 *   <li>Listeners hear of changes made through this node only; see {@link EventDispatcher}.
 *   <li>The iterator and {@link #removeAll()} see every entry of the cluster: they read the core's
 *       {@link DistributedCache#scan() scan}, each member answering the entries it owns in pages,
 *       one member after another ({@link EntryIterator}). {@link #removeAll()} then clears the
 *       cache on every member, so no entry survives it; an entry written while it scans may be
 *       removed without its event or writer call.
 * </ul>
 *
 * <p>Thread-safe. Methods block on calls to the owner (bounded by the core's remote timeout), on
 * the loader, the writer and synchronous listeners. A failure of the core (an unreachable owner, a
 * member that does not define the cache) surfaces as {@link CacheException}; it is not retried.
 *
 * @param <K> the key type
 * @param <V> the value type
 */
public final class ShardcacheCache<K, V> implements Cache<K, V> {
  private final ShardcacheCacheManager manager;
  private final String name;
  private final MutableConfiguration<K, V> configuration; // guarded by itself
  private final ExpiryTimes expiry;
  private final EventDispatcher<K, V> events;
  private final JCacheStatistics statistics;
  private final EntryStore<K, V> entries;
  private final ReadThrough<K, V> readThrough;
  private final WriteThrough<K, V> writeThrough;
  private final EntryReads<K, V> reads;
  private final EntryWrites<K, V> writes;
  private final ProcessorInvoker<K, V> processors;
  private final ConfigurationBean configurationBean;
  private volatile boolean closed;

  ShardcacheCache(
      ShardcacheCacheManager manager,
      String name,
      CompleteConfiguration<K, V> config,
      DistributedCache<KeyBytes, byte[]> store,
      ObjectCodec codec,
      Executor eventThreads,
      LoadAllPool loadAlls) {
    this.manager = manager;
    this.name = name;
    this.configuration = new MutableConfiguration<>(config);
    // Building the parts calls the user's factories, which may have side effects: keep their order
    // (expiry policy, loader, writer, listeners) stable.
    this.expiry = new ExpiryTimes(config.getExpiryPolicyFactory().create());
    this.events = new EventDispatcher<>(eventThreads);
    this.statistics = new JCacheStatistics(() -> store.stats().evictionCount());
    this.entries =
        new EntryStore<>(
            this,
            name,
            store,
            codec,
            config.getKeyType(),
            config.getValueType(),
            expiry,
            events,
            statistics);
    AtomicUpdate<K, V> atomic = new AtomicUpdate<>(entries);
    this.readThrough = new ReadThrough<>(config, entries, atomic, loadAlls);
    this.writeThrough = new WriteThrough<>(config);
    for (CacheEntryListenerConfiguration<K, V> listener :
        config.getCacheEntryListenerConfigurations()) {
      events.register(listener);
    }
    this.reads = new EntryReads<>(entries, readThrough, statistics);
    this.writes = new EntryWrites<>(entries, atomic, writeThrough, statistics);
    this.processors =
        new ProcessorInvoker<>(entries, atomic, readThrough, writeThrough, statistics);
    this.configurationBean = new ConfigurationBean(this);
    setStatisticsEnabled(config.isStatisticsEnabled());
    setManagementEnabled(config.isManagementEnabled());
  }

  // ---------------------------------------------------------------- reads

  @Override
  public @Nullable V get(K key) {
    requireOpen();
    return reads.get(key);
  }

  @Override
  public Map<K, V> getAll(Set<? extends K> keys) {
    requireOpen();
    return reads.getAll(keys);
  }

  @Override
  public boolean containsKey(K key) {
    requireOpen();
    return reads.containsKey(key);
  }

  @Override
  public void loadAll(
      Set<? extends K> keys,
      boolean replaceExistingValues,
      @Nullable CompletionListener completionListener) {
    requireOpen();
    requireNonNull(keys, "keys");
    for (K key : keys) {
      requireNonNull(key, "keys must not contain null");
    }
    readThrough.loadAll(List.copyOf(keys), replaceExistingValues, completionListener);
  }

  // ---------------------------------------------------------------- writes

  @Override
  public void put(K key, V value) {
    requireOpen();
    writes.put(key, value, false);
  }

  @Override
  public @Nullable V getAndPut(K key, V value) {
    requireOpen();
    return writes.put(key, value, true);
  }

  @Override
  public void putAll(Map<? extends K, ? extends V> map) {
    requireOpen();
    writes.putAll(requireNonNull(map, "entries"));
  }

  @Override
  public boolean putIfAbsent(K key, V value) {
    requireOpen();
    return writes.putIfAbsent(key, value);
  }

  @Override
  public boolean remove(K key) {
    requireOpen();
    return writes.remove(key);
  }

  @Override
  public boolean remove(K key, V oldValue) {
    requireOpen();
    return writes.remove(key, requireNonNull(oldValue, "oldValue"));
  }

  @Override
  public @Nullable V getAndRemove(K key) {
    requireOpen();
    return writes.getAndRemove(key);
  }

  @Override
  public boolean replace(K key, V oldValue, V newValue) {
    requireOpen();
    return writes.replace(key, requireNonNull(oldValue, "oldValue"), newValue);
  }

  @Override
  public boolean replace(K key, V value) {
    requireOpen();
    return writes.replace(key, value) != null;
  }

  @Override
  public @Nullable V getAndReplace(K key, V value) {
    requireOpen();
    return writes.replace(key, value);
  }

  @Override
  public void removeAll(Set<? extends K> keys) {
    requireOpen();
    requireNonNull(keys, "keys");
    for (K key : keys) {
      entries.checkKey(requireNonNull(key, "keys must not contain null"));
    }
    writes.removeAll(new ArrayList<>(keys));
  }

  @Override
  public void removeAll() {
    requireOpen();
    writes.removeAllEntries();
  }

  @Override
  public void clear() {
    requireOpen();
    entries.invalidateAll();
  }

  // ---------------------------------------------------------------- entry processors

  @Override
  public <T> @Nullable T invoke(
      K key, EntryProcessor<K, V, T> entryProcessor, Object... arguments) {
    requireOpen();
    requireNonNull(entryProcessor, "entryProcessor");
    return processors.invoke(key, entryProcessor, arguments);
  }

  @Override
  public <T> Map<K, EntryProcessorResult<T>> invokeAll(
      Set<? extends K> keys, EntryProcessor<K, V, T> entryProcessor, Object... arguments) {
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
        EntryProcessorException failure =
            e instanceof EntryProcessorException epe ? epe : new EntryProcessorException(e);
        results.put(
            key,
            () -> {
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
    return new EntryIterator<>(entries, statistics, this::remove);
  }

  // ---------------------------------------------------------------- listeners and configuration

  @Override
  public void registerCacheEntryListener(
      CacheEntryListenerConfiguration<K, V> listenerConfiguration) {
    requireOpen();
    requireNonNull(listenerConfiguration, "listenerConfiguration");
    synchronized (configuration) {
      for (CacheEntryListenerConfiguration<K, V> existing :
          configuration.getCacheEntryListenerConfigurations()) {
        if (existing.equals(listenerConfiguration)) {
          throw new IllegalArgumentException("this listener configuration is already registered");
        }
      }
      configuration.addCacheEntryListenerConfiguration(listenerConfiguration);
      events.register(listenerConfiguration);
    }
  }

  @Override
  public void deregisterCacheEntryListener(
      CacheEntryListenerConfiguration<K, V> listenerConfiguration) {
    requireNonNull(listenerConfiguration, "listenerConfiguration");
    requireOpen();
    synchronized (configuration) {
      configuration.removeCacheEntryListenerConfiguration(listenerConfiguration);
      events.deregister(listenerConfiguration);
    }
  }

  /**
   * Returns a copy of this cache's configuration, including the listeners registered since;
   * changing the copy does not change the cache. Any class the copy is an instance of may be asked
   * for: {@link Configuration}, {@link CompleteConfiguration} or {@link MutableConfiguration}.
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
    throw new IllegalArgumentException(
        "the configuration is a CompleteConfiguration, not a " + clazz.getName());
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

  /**
   * This cache's statistics on this node, as its MXBean shows them (counted only while enabled).
   */
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
    readThrough.close();
    writeThrough.close();
    ListenerRegistration.closeQuietly(expiry.policy());
  }

  @Override
  public boolean isClosed() {
    return closed;
  }

  /**
   * Returns this cache as {@code clazz} if it is one ({@link ShardcacheCache} or {@link Cache}).
   */
  @Override
  public <T> T unwrap(Class<T> clazz) {
    if (clazz.isInstance(this)) {
      return clazz.cast(this);
    }
    throw new IllegalArgumentException(
        "a Shardcache JCache cache cannot be unwrapped to " + clazz.getName());
  }

  @Override
  public String toString() {
    return "ShardcacheCache{" + name + " on " + manager.getURI() + "}";
  }

  private void requireOpen() {
    if (closed) {
      throw new IllegalStateException("cache '" + name + "' is closed");
    }
  }
}
