package dev.shardcache.jcache;

import static java.util.Objects.requireNonNull;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.io.IOException;
import java.lang.ref.WeakReference;
import java.net.URI;
import java.util.Collections;
import java.util.HashSet;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.cache.Cache;
import javax.cache.CacheException;
import javax.cache.CacheManager;
import javax.cache.configuration.CompleteConfiguration;
import javax.cache.configuration.Configuration;
import javax.cache.configuration.MutableConfiguration;
import javax.cache.spi.CachingProvider;
import org.jspecify.annotations.Nullable;

/**
 * A JSR-107 {@link CacheManager} whose caches live on a Shardcache node: one node per manager,
 * which the manager starts and closes, or a node the application started and keeps (see {@link
 * ShardcacheCachingProvider#getCacheManager(URI, ShardcacheNode)}).
 *
 * <p>With the default URI the node listens on 127.0.0.1 on a free port and has no peers: a cache
 * for this JVM alone. To share caches between JVMs, give each JVM's manager its own listen address
 * and the same member list, through the URI or the properties (see {@link ManagerSettings}):
 *
 * <pre>{@code
 * CacheManager manager = Caching.getCachingProvider().getCacheManager(
 *     URI.create("shardcache://10.0.0.1:7070?peers=10.0.0.1:7070,10.0.0.2:7070"), null);
 * Cache<String, String> users = manager.createCache("users", new MutableConfiguration<>());
 * }</pre>
 *
 * Every member must create each cache (same name, same settings) before any member uses it: a
 * member asked for a cache it does not define answers with an error. {@link #destroyCache} removes
 * the cache's entries on every member; the JCache caches of the other members stay open.
 *
 * <p>Thread-safe. {@link #close()} is idempotent; a closed manager cannot be reopened (ask the
 * provider for a new one).
 */
public final class ShardcacheCacheManager implements CacheManager {
  private final ShardcacheCachingProvider provider;
  private final URI uri;

  /** Weak, so that the provider's map keyed by class loader can let an unused loader go. */
  private final WeakReference<ClassLoader> classLoader;

  private final Properties properties;
  private final ShardcacheNode node;
  private final boolean ownsNode;
  private final ManagerSettings settings;
  private final ObjectCodec codec;

  /** Delivers asynchronous listener events: at most one task per registration at a time. */
  private final ExecutorService events;

  private final LoadAllPool loadAlls;
  private final Map<String, ShardcacheCache<?, ?>> caches = new ConcurrentHashMap<>();
  private final Map<String, DistributedCache<KeyBytes, byte[]>> stores = new ConcurrentHashMap<>();
  private volatile boolean closed;

  /**
   * Starts a node from the URI and properties, or uses {@code givenNode} (which must be running).
   *
   * @throws CacheException if the node cannot start (such as a port in use)
   * @throws IllegalArgumentException if a setting is malformed
   */
  ShardcacheCacheManager(
      ShardcacheCachingProvider provider,
      URI uri,
      ClassLoader classLoader,
      Properties properties,
      @Nullable ShardcacheNode givenNode) {
    this.provider = provider;
    this.uri = uri;
    this.classLoader = new WeakReference<>(classLoader);
    this.properties = properties;
    this.settings = ManagerSettings.from(uri, properties);
    this.codec = new ObjectCodec(settings.allowedClasses());
    this.ownsNode = givenNode == null;
    this.node = givenNode != null ? givenNode : startNode(settings);
    this.events =
        Executors.newCachedThreadPool(
            new ThreadFactoryBuilder()
                .setNameFormat("shardcache-jcache-events-%d")
                .setDaemon(true)
                .build());
    this.loadAlls = new LoadAllPool(settings.loadAllThreads());
  }

  private static ShardcacheNode startNode(ManagerSettings settings) {
    ShardcacheNode.Builder builder = ShardcacheNode.builder();
    if (settings.clientOnly()) {
      builder.clientOnly();
    } else {
      builder.listen(settings.listenHost(), settings.listenPort());
    }
    if (settings.advertiseHost() != null) {
      builder.advertiseHost(settings.advertiseHost());
    }
    if (!settings.peers().isEmpty()) {
      builder.peers(settings.peers());
    }
    ShardcacheNode started = builder.build();
    try {
      return started.start();
    } catch (IOException | RuntimeException e) {
      started.close();
      throw new CacheException(
          "cannot start the Shardcache node of a JCache CacheManager: " + e.getMessage(), e);
    }
  }

  /** The node this manager's caches live on. */
  public ShardcacheNode node() {
    return node;
  }

  @Override
  public CachingProvider getCachingProvider() {
    return provider;
  }

  @Override
  public URI getURI() {
    return uri;
  }

  /** The class loader this manager was asked for, or {@code null} once it has been collected. */
  @Override
  public @Nullable ClassLoader getClassLoader() {
    return classLoader.get();
  }

  @Override
  public Properties getProperties() {
    return properties;
  }

  /**
   * Creates the cache {@code cacheName} on this node. Store-by-reference is not supported: a
   * configuration asking for it is refused with {@link UnsupportedOperationException}.
   *
   * @throws CacheException if a cache of that name exists in this manager, or the node has a
   *     non-JCache cache of that name
   */
  @Override
  public <K, V, C extends Configuration<K, V>> Cache<K, V> createCache(
      String cacheName, C configuration) {
    requireOpen();
    requireNonNull(cacheName, "cacheName");
    requireNonNull(configuration, "configuration");
    CompleteConfiguration<K, V> complete = complete(configuration);
    if (!complete.isStoreByValue()) {
      throw new UnsupportedOperationException(
          "Shardcache stores by value only: entries live on the"
              + " node that owns their key, so there is no reference to keep; leave storeByValue true");
    }
    synchronized (caches) {
      if (caches.containsKey(cacheName)) {
        throw new CacheException("a cache named '" + cacheName + "' already exists in " + uri);
      }
      ShardcacheCache<K, V> cache =
          new ShardcacheCache<>(
              this, cacheName, complete, store(cacheName), codec, events, loadAlls);
      caches.put(cacheName, cache);
      return cache;
    }
  }

  private static <K, V> CompleteConfiguration<K, V> complete(Configuration<K, V> configuration) {
    if (configuration instanceof CompleteConfiguration<K, V> complete) {
      return complete;
    }
    return new MutableConfiguration<K, V>()
        .setTypes(configuration.getKeyType(), configuration.getValueType())
        .setStoreByValue(configuration.isStoreByValue());
  }

  private DistributedCache<KeyBytes, byte[]> store(String cacheName) {
    return stores.computeIfAbsent(
        cacheName,
        n -> {
          CacheConfig.Builder<KeyBytes, byte[]> builder =
              CacheConfig.builder(KeyBytes.CODEC, Codecs.bytes())
                  .maxValueBytes(settings.maxValueBytes())
                  .hotKeys(settings.hotKeys());
          Long maximumWeight = settings.maximumWeight();
          if (maximumWeight != null) {
            builder.maximumWeight(maximumWeight);
          } else {
            builder.maximumSize(settings.maximumSize());
          }
          CacheConfig<KeyBytes, byte[]> config = builder.build();
          try {
            return node.cache(n, config);
          } catch (IllegalStateException | IllegalArgumentException e) {
            throw new CacheException(
                "cannot define cache '" + n + "' on node " + node + ": " + e.getMessage(), e);
          }
        });
  }

  @Override
  public <K, V> @Nullable Cache<K, V> getCache(
      String cacheName, Class<K> keyType, Class<V> valueType) {
    requireOpen();
    requireNonNull(cacheName, "cacheName");
    requireNonNull(keyType, "keyType");
    requireNonNull(valueType, "valueType");
    ShardcacheCache<?, ?> cache = caches.get(cacheName);
    if (cache == null) {
      return null;
    }
    CompleteConfiguration<?, ?> config = cache.completeConfiguration();
    if (!config.getKeyType().equals(keyType) || !config.getValueType().equals(valueType)) {
      throw new ClassCastException(
          "cache '"
              + cacheName
              + "' holds "
              + config.getKeyType().getName()
              + " -> "
              + config.getValueType().getName()
              + ", not "
              + keyType.getName()
              + " -> "
              + valueType.getName());
    }
    @SuppressWarnings("unchecked")
    Cache<K, V> typed = (Cache<K, V>) cache;
    return typed;
  }

  @Override
  public <K, V> @Nullable Cache<K, V> getCache(String cacheName) {
    requireOpen();
    requireNonNull(cacheName, "cacheName");
    @SuppressWarnings("unchecked")
    Cache<K, V> cache = (Cache<K, V>) caches.get(cacheName);
    return cache;
  }

  /** A snapshot of the names of this manager's open caches; it does not change afterwards. */
  @Override
  public Iterable<String> getCacheNames() {
    requireOpen();
    return Collections.unmodifiableSet(new HashSet<>(caches.keySet()));
  }

  /**
   * Closes the cache here and removes its entries from every member (other members' JCache caches
   * of that name stay open, and empty).
   *
   * @throws CacheException if a member could not be reached to clear it
   */
  @Override
  public void destroyCache(String cacheName) {
    requireOpen();
    requireNonNull(cacheName, "cacheName");
    ShardcacheCache<?, ?> cache = caches.get(cacheName);
    if (cache != null) {
      cache.close();
    }
    DistributedCache<KeyBytes, byte[]> store = stores.get(cacheName);
    if (store != null) {
      try {
        store.invalidateAll();
      } catch (RuntimeException e) {
        throw new CacheException(
            "cache '" + cacheName + "' was closed but not cleared everywhere: " + e.getMessage(),
            e);
      }
    }
  }

  @Override
  public void enableManagement(String cacheName, boolean enabled) {
    requireOpen();
    requireNonNull(cacheName, "cacheName");
    ShardcacheCache<?, ?> cache = caches.get(cacheName);
    if (cache != null) {
      cache.setManagementEnabled(enabled);
    }
  }

  @Override
  public void enableStatistics(String cacheName, boolean enabled) {
    requireOpen();
    requireNonNull(cacheName, "cacheName");
    ShardcacheCache<?, ?> cache = caches.get(cacheName);
    if (cache != null) {
      cache.setStatisticsEnabled(enabled);
    }
  }

  /** Forgets a cache that closed itself. */
  void release(ShardcacheCache<?, ?> cache) {
    caches.remove(cache.getName(), cache);
  }

  /**
   * Closes every cache of this manager and, if the manager started its node, the node (its entries
   * on this JVM are gone; other members keep theirs). Idempotent.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    provider.release(this);
    for (ShardcacheCache<?, ?> cache : caches.values()) {
      cache.close();
    }
    caches.clear();
    events.shutdown();
    loadAlls.shutdown();
    if (ownsNode) {
      node.close();
    }
  }

  @Override
  public boolean isClosed() {
    return closed;
  }

  /**
   * Returns this manager as {@code clazz} if it is one, or its node for {@link ShardcacheNode}.
   *
   * @throws IllegalArgumentException for any other class
   */
  @Override
  public <T> T unwrap(Class<T> clazz) {
    if (clazz.isInstance(this)) {
      return clazz.cast(this);
    }
    if (clazz == ShardcacheNode.class) {
      return clazz.cast(node);
    }
    throw new IllegalArgumentException(
        "a Shardcache CacheManager cannot be unwrapped to " + clazz.getName());
  }

  private void requireOpen() {
    if (closed) {
      throw new IllegalStateException("CacheManager " + uri + " is closed");
    }
  }

  @Override
  public String toString() {
    return "ShardcacheCacheManager{" + uri + ", " + node + "}";
  }
}
