package dev.shardcache.spring;

import static com.google.common.base.Preconditions.checkState;
import static java.util.Objects.requireNonNull;

import dev.shardcache.CacheConfig;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.objects.StableKey;
import dev.shardcache.objects.StableKeyEncoder;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;
import org.springframework.cache.CacheManager;

/**
 * A Spring {@link CacheManager} whose caches are {@link ShardcacheCache}s: named {@link
 * DistributedCache}s on one {@link ShardcacheNode}, shared by every application instance in the
 * cluster. With it, Spring's {@code @Cacheable}, {@code @CachePut}, {@code @CacheEvict} (including
 * {@code allEntries}), {@code @Caching} and {@code @Cacheable(sync = true)}, and the JSR-107
 * annotations through Spring's JCache support, work across the cluster.
 *
 * <pre>{@code
 * @Bean(destroyMethod = "close")
 * ShardcacheNode shardcacheNode() {
 *   return ShardcacheNode.builder().listen("10.0.0.1", 7070).peers(peers).build();
 * }
 *
 * @Bean
 * ShardcacheCacheManager cacheManager(ShardcacheNode node) {
 *   return ShardcacheCacheManager.builder(node)
 *       .defaults(CacheSettings.builder().allowedValueClasses("com.example.model.**").build())
 *       .cache("books", CacheSettings.builder().expireAfterWrite(Duration.ofMinutes(10)).build())
 *       .build();
 * }
 * }</pre>
 *
 * With Spring Boot, {@code dev.shardcache.spring.boot.ShardcacheAutoConfiguration} builds both from
 * {@code shardcache.*} properties and starts the node with the context.
 *
 * <h2>Define every cache on every node before it serves</h2>
 *
 * A node answers a peer's request for a cache it has not defined with an error, so each cache
 * should exist on every node before the node starts serving. {@link Builder#build} defines the
 * caches named on the builder; {@link AnnotatedCacheRegistrar} defines those that the context's
 * caching annotations name. A name seen only at run time ({@code getCache} of an unknown name) is
 * defined then on this node, with the defaults and a warning, unless {@link Builder#dynamic
 * dynamic} is off, in which case {@code getCache} returns {@code null} and Spring reports the
 * unknown cache.
 *
 * <p>This class is thread-safe. {@link #getCache} does not block.
 */
public final class ShardcacheCacheManager implements CacheManager {
  private static final Logger logger = Logger.getLogger(ShardcacheCacheManager.class.getName());

  private final ShardcacheNode node;
  private final CacheSettings defaults;
  private final Map<String, CacheSettings> settings;
  private final boolean allowNullValues;
  private final boolean dynamic;
  private final StableKeyEncoder keys;
  private final Map<String, ShardcacheCache> caches = new ConcurrentHashMap<>();

  private ShardcacheCacheManager(Builder builder) {
    this.node = builder.node;
    this.defaults = builder.defaults;
    this.settings = Map.copyOf(builder.settings);
    this.allowNullValues = builder.allowNullValues;
    this.dynamic = builder.dynamic;
    this.keys = builder.keys.build();
    builder.settings.keySet().forEach(this::defineCache);
  }

  /** Returns a builder of a manager whose caches live on {@code node}. */
  public static Builder builder(ShardcacheNode node) {
    return new Builder(requireNonNull(node, "node"));
  }

  /** The node the caches live on. */
  public ShardcacheNode node() {
    return node;
  }

  /** Whether {@code null} results are cached (as a marker) rather than refused. */
  public boolean isAllowNullValues() {
    return allowNullValues;
  }

  /**
   * Returns the cache named {@code name}, defining it on this node first if needed, with its
   * settings from the builder or else the defaults. Idempotent.
   *
   * @throws IllegalStateException if the node is closed, or already defines a cache of this name
   *     with another configuration (such as one defined outside this manager)
   * @throws IllegalArgumentException if the name is blank or longer than 256 characters
   */
  public ShardcacheCache defineCache(String name) {
    requireNonNull(name, "name");
    return caches.computeIfAbsent(name, this::create);
  }

  private ShardcacheCache create(String name) {
    CacheConfig<StableKey, Object> config =
        settings.getOrDefault(name, CacheSettings.empty()).withDefaults(defaults).toConfig();
    DistributedCache<StableKey, Object> cache = node.cache(name, config);
    return new ShardcacheCache(cache, keys, allowNullValues);
  }

  /** Defines each of {@code names} (see {@link #defineCache}). */
  public void defineCaches(Collection<String> names) {
    names.forEach(this::defineCache);
  }

  /**
   * Returns the cache named {@code name}. An unknown name is defined now on this node if the
   * manager is dynamic (with a warning: peers that have not defined it yet answer this node's
   * requests for it with errors), else this returns {@code null}.
   */
  @Override
  public @Nullable ShardcacheCache getCache(String name) {
    ShardcacheCache cache = caches.get(name);
    if (cache != null || !dynamic) {
      return cache;
    }
    ShardcacheCache[] created = {null};
    cache = caches.computeIfAbsent(name, n -> created[0] = create(n));
    if (created[0] != null) {
      logger.log(
          Level.WARNING,
          "Spring cache ''{0}'' was defined on first use on {1}; define it"
              + " up front on every node (CacheSettings on the manager, shardcache.caches.{0}.* with"
              + " Spring Boot, or an AnnotatedCacheRegistrar bean), or peers that have not used it"
              + " yet fail this node''s requests for it",
          new Object[] {name, node});
    }
    return cache;
  }

  /** Returns the names of the caches defined so far, in no particular order. */
  @Override
  public Collection<String> getCacheNames() {
    return Set.copyOf(caches.keySet());
  }

  @Override
  public String toString() {
    return "ShardcacheCacheManager{" + node + ", caches=" + caches.keySet() + "}";
  }

  /**
   * Builds a {@link ShardcacheCacheManager}. Each setting may be set once, except {@link #cache},
   * once per name. Not thread-safe.
   */
  public static final class Builder {
    private final ShardcacheNode node;
    private CacheSettings defaults = CacheSettings.empty();
    private boolean defaultsSet;
    private final Map<String, CacheSettings> settings = new LinkedHashMap<>();
    private @Nullable Boolean allowNullValuesSet;
    private boolean allowNullValues = true;
    private @Nullable Boolean dynamicSet;
    private boolean dynamic = true;
    private final StableKeyEncoder.Builder keys = SpringKeys.encoderBuilder();

    private Builder(ShardcacheNode node) {
      this.node = node;
    }

    /** Sets the settings of every cache that does not set its own. */
    public Builder defaults(CacheSettings defaults) {
      requireNonNull(defaults, "defaults");
      checkState(!defaultsSet, "defaults were already set to %s", this.defaults);
      defaultsSet = true;
      this.defaults = defaults;
      return this;
    }

    /**
     * Defines the cache {@code name} with {@code settings} (unset values come from the defaults).
     */
    public Builder cache(String name, CacheSettings settings) {
      requireNonNull(name, "name");
      requireNonNull(settings, "settings");
      checkState(
          !this.settings.containsKey(name),
          "cache '%s' was already set to %s",
          name,
          this.settings.get(name));
      this.settings.put(name, settings);
      return this;
    }

    /** Defines each cache in {@code names} with the defaults. */
    public Builder cacheNames(String... names) {
      for (String name : names) {
        cache(name, CacheSettings.empty());
      }
      return this;
    }

    /**
     * Whether a method's {@code null} result is cached (as Spring's {@code NullValue} marker) or
     * refused with {@link IllegalArgumentException} (default: cached, as in Spring's own managers).
     * Use {@code unless = "#result == null"} to skip caching {@code null} per method instead.
     */
    public Builder allowNullValues(boolean allowNullValues) {
      checkState(
          allowNullValuesSet == null, "allowNullValues was already set to %s", allowNullValuesSet);
      this.allowNullValuesSet = allowNullValues;
      this.allowNullValues = allowNullValues;
      return this;
    }

    /**
     * Whether {@code getCache} of an unknown name defines the cache then (default: true, with a
     * warning), or returns {@code null}.
     */
    public Builder dynamic(boolean dynamic) {
      checkState(dynamicSet == null, "dynamic was already set to %s", dynamicSet);
      this.dynamicSet = dynamic;
      this.dynamic = dynamic;
      return this;
    }

    /**
     * Teaches the key encoder an application key type, encoded as a named composite of {@code
     * parts} (see {@link StableKeyEncoder.Builder#composite}). Every node must register the same
     * types with the same names.
     */
    public <T> Builder keyType(
        Class<T> type, String name, Function<? super T, ? extends List<?>> parts) {
      keys.composite(type, name, parts);
      return this;
    }

    /**
     * Returns the manager, having defined on the node every cache named with {@link #cache} or
     * {@link #cacheNames}.
     *
     * @throws IllegalStateException if the node is closed or a cache conflicts with one the node
     *     already defines
     */
    public ShardcacheCacheManager build() {
      return new ShardcacheCacheManager(this);
    }
  }
}
