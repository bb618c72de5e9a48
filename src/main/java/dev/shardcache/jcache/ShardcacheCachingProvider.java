package dev.shardcache.jcache;

import static java.util.Objects.requireNonNull;

import dev.shardcache.ShardcacheNode;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.WeakHashMap;
import javax.cache.CacheManager;
import javax.cache.configuration.OptionalFeature;
import javax.cache.spi.CachingProvider;
import org.jspecify.annotations.Nullable;

/**
 * The JSR-107 {@link CachingProvider} of Shardcache, found by {@code Caching.getCachingProvider()}
 * through {@code META-INF/services}. It keeps one {@link ShardcacheCacheManager} per class loader
 * and URI until that manager is closed.
 *
 * <p>The default URI, {@value #DEFAULT_URI}, gives a manager whose node runs alone on 127.0.0.1 (a
 * free port). A URI {@code shardcache://host:port?peers=...} or the manager properties give a node
 * that joins a cluster; {@link ManagerSettings} lists the settings.
 *
 * <p>Optional features: store-by-reference is not supported. Thread-safe.
 */
public final class ShardcacheCachingProvider implements CachingProvider {
  /** The URI of the default manager: a node alone on 127.0.0.1. */
  public static final String DEFAULT_URI = "shardcache:default";

  private final Map<ClassLoader, Map<URI, ShardcacheCacheManager>> managers = new WeakHashMap<>();

  /**
   * Returns the manager of {@code uri} for {@code classLoader}, starting it (and its node) if it
   * does not exist or was closed. {@code null} arguments mean the defaults.
   *
   * @throws javax.cache.CacheException if the node cannot start
   * @throws IllegalArgumentException if the URI or a property is malformed
   */
  @Override
  public synchronized CacheManager getCacheManager(
      @Nullable URI uri, @Nullable ClassLoader classLoader, @Nullable Properties properties) {
    URI managerUri = uri == null ? getDefaultURI() : uri;
    ClassLoader loader = classLoader == null ? getDefaultClassLoader() : classLoader;
    Map<URI, ShardcacheCacheManager> byUri = managers.computeIfAbsent(loader, l -> new HashMap<>());
    ShardcacheCacheManager manager = byUri.get(managerUri);
    if (manager == null || manager.isClosed()) {
      Properties copy = new Properties();
      if (properties != null) {
        copy.putAll(properties);
      }
      manager = new ShardcacheCacheManager(this, managerUri, loader, copy, null);
      byUri.put(managerUri, manager);
    }
    return manager;
  }

  /**
   * Returns a manager whose caches live on {@code node}, a node the application built, started and
   * will close itself (closing the manager leaves it running). The manager is registered under
   * {@code uri} and the default class loader, so {@code getCacheManager(uri, null)} finds it.
   *
   * @throws IllegalStateException if another open manager has that URI, or the node is not running
   */
  public synchronized CacheManager getCacheManager(URI uri, ShardcacheNode node) {
    requireNonNull(uri, "uri");
    requireNonNull(node, "node");
    if (!node.isRunning()) {
      throw new IllegalStateException("start the node before giving it to a CacheManager");
    }
    Map<URI, ShardcacheCacheManager> byUri =
        managers.computeIfAbsent(getDefaultClassLoader(), l -> new HashMap<>());
    ShardcacheCacheManager existing = byUri.get(uri);
    if (existing != null && !existing.isClosed()) {
      if (existing.node() == node) {
        return existing;
      }
      throw new IllegalStateException(
          "a CacheManager of URI "
              + uri
              + " is already open on "
              + existing.node()
              + "; close it first or use another URI");
    }
    ShardcacheCacheManager manager =
        new ShardcacheCacheManager(this, uri, getDefaultClassLoader(), new Properties(), node);
    byUri.put(uri, manager);
    return manager;
  }

  @Override
  public CacheManager getCacheManager(@Nullable URI uri, @Nullable ClassLoader classLoader) {
    return getCacheManager(uri, classLoader, null);
  }

  @Override
  public CacheManager getCacheManager() {
    return getCacheManager(null, null, null);
  }

  @Override
  public ClassLoader getDefaultClassLoader() {
    return ShardcacheCachingProvider.class.getClassLoader();
  }

  @Override
  public URI getDefaultURI() {
    return URI.create(DEFAULT_URI);
  }

  /** Empty: every setting has a default (see {@link ManagerSettings}). */
  @Override
  public Properties getDefaultProperties() {
    return new Properties();
  }

  /** Closes every manager of this provider. */
  @Override
  public void close() {
    List<ShardcacheCacheManager> closing = new ArrayList<>();
    synchronized (this) {
      managers.values().forEach(byUri -> closing.addAll(byUri.values()));
      managers.clear();
    }
    closing.forEach(ShardcacheCacheManager::close);
  }

  @Override
  public void close(ClassLoader classLoader) {
    List<ShardcacheCacheManager> closing = new ArrayList<>();
    synchronized (this) {
      Map<URI, ShardcacheCacheManager> byUri = managers.remove(classLoader);
      if (byUri != null) {
        closing.addAll(byUri.values());
      }
    }
    closing.forEach(ShardcacheCacheManager::close);
  }

  @Override
  public void close(URI uri, ClassLoader classLoader) {
    ShardcacheCacheManager closing = null;
    synchronized (this) {
      Map<URI, ShardcacheCacheManager> byUri = managers.get(classLoader);
      if (byUri != null) {
        closing = byUri.remove(uri);
      }
    }
    if (closing != null) {
      closing.close();
    }
  }

  /** Forgets a manager that closed itself, if it is still the one registered. */
  synchronized void release(ShardcacheCacheManager manager) {
    ClassLoader loader = manager.getClassLoader();
    if (loader == null) {
      return; // collected: the weak map dropped its managers already
    }
    Map<URI, ShardcacheCacheManager> byUri = managers.get(loader);
    if (byUri != null) {
      byUri.remove(manager.getURI(), manager);
    }
  }

  @Override
  public boolean isSupported(OptionalFeature optionalFeature) {
    requireNonNull(optionalFeature, "optionalFeature");
    return false; // STORE_BY_REFERENCE is the only optional feature, and it is not supported
  }
}
