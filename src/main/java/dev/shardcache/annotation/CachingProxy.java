package dev.shardcache.annotation;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;
import static java.util.Objects.requireNonNull;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codec;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.objects.ObjectCodecs;
import dev.shardcache.objects.StableKey;
import dev.shardcache.objects.StableKeyEncoder;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * Makes the JSR-107 caching annotations work on a plain Java interface, without a container: wraps
 * an implementation in a {@link Proxy} that caches on a {@link ShardcacheNode}'s distributed
 * caches.
 *
 * <pre>{@code
 * @CacheDefaults(cacheName = "books")
 * public interface BookService {
 *   @CacheResult Book find(String isbn);
 *   @CachePut void save(@CacheKey String isbn, @CacheValue Book book);
 *   @CacheRemove void delete(String isbn);
 *   @CacheRemoveAll void deleteAll();
 * }
 *
 * BookService books = CachingProxy.builder(node)
 *     .allowedValueClasses("com.example.books.*")
 *     .build()
 *     .wrap(BookService.class, new DatabaseBookService(db));
 * }</pre>
 *
 * <h2>Supported</h2>
 *
 * <ul>
 *   <li>{@code @CacheResult}: returns the cached value, else calls the method and caches a
 *       non-{@code null} result. Concurrent calls with one key on a node share one call of the
 *       method; on the key's owner, so do calls from every node. {@code skipGet} always calls the
 *       method and caches the result.
 *   <li>{@code @CachePut}: caches the {@code @CacheValue} argument under the key; a {@code null}
 *       value removes the key instead (a cache holds no {@code null}).
 *   <li>{@code @CacheRemove}, {@code @CacheRemoveAll}: remove the key, or every entry on every
 *       node.
 *   <li>{@code afterInvocation} (default true: after the method returned normally; false: before it
 *       is called), and when the method throws, {@code cacheFor}/{@code noCacheFor} and {@code
 *       evictFor}/{@code noEvictFor} as the reference implementation reads them (with both empty,
 *       an exception cancels the operation; see {@code ExceptionRule}).
 *   <li>Cache names: the annotation's {@code cacheName}, else the interface's
 *       {@code @CacheDefaults(cacheName)}, else the JSR-107 default {@code
 *       package.Interface.method(package.ParamType,...)}.
 *   <li>Keys: the {@code @CacheKey} arguments, or all arguments (but the {@code @CacheValue} one),
 *       encoded by value with a {@link StableKeyEncoder} (see it for the key types allowed). The
 *       key of a call is the key Spring's {@code SimpleKeyGenerator} makes for the same arguments,
 *       encoded the same way by {@code dev.shardcache.spring}.
 * </ul>
 *
 * <h2>Not supported</h2>
 *
 * Each fails when the proxy is made, with a message naming the method: {@code exceptionCacheName}
 * of {@code @CacheResult} (and so its {@code cachedExceptions}/{@code nonCachedExceptions}, which
 * only apply to it); a {@code cacheKeyGenerator} or {@code cacheResolverFactory}; more than one
 * caching annotation on a method; {@code @CachePut} without one {@code @CacheValue};
 * {@code @CacheResult} on a {@code void} method. Annotations are read on the interface only (as a
 * JDK proxy sees methods), not on the implementation class.
 *
 * <p>Caches are defined on the node when the first proxy using them is made; make the proxies on
 * every node before starting it, so a peer's request never finds a cache undefined. Values are
 * encoded with {@link ObjectCodecs#serializable} (allowing the {@linkplain
 * Builder#allowedValueClasses classes you name}) unless a {@linkplain Builder#valueCodec value
 * codec} is set.
 *
 * <p>Instances and the proxies they make are thread-safe. A proxied method blocks for what its
 * cache operation costs (at most one call to the key's owner, or one to every member for
 * {@code @CacheRemoveAll}) plus the method itself.
 */
public final class CachingProxy {
  private final ShardcacheNode node;
  private final Codec<Object> valueCodec;
  private final BiConsumer<String, CacheConfig.Builder<StableKey, Object>> configurer;
  private final StableKeyEncoder keys;

  private CachingProxy(Builder builder) {
    this.node = builder.node;
    List<String> allowed =
        builder.allowedValueClasses != null ? builder.allowedValueClasses : List.of();
    this.valueCodec =
        builder.valueCodec != null
            ? builder.valueCodec
            : ObjectCodecs.serializable(allowed.toArray(new String[0]));
    this.configurer = builder.configurer;
    this.keys = builder.keys.build();
  }

  /** Returns a builder of proxies caching on {@code node}. */
  public static Builder builder(ShardcacheNode node) {
    return new Builder(requireNonNull(node, "node"));
  }

  /**
   * Wraps {@code target} with default settings, allowing values of {@code allowedValueClasses} (see
   * {@link Builder#allowedValueClasses}). Shorthand for {@code
   * builder(node).allowedValueClasses(...).build().wrap(iface, target)}.
   */
  public static <I> I wrap(
      Class<I> iface, I target, ShardcacheNode node, String... allowedValueClasses) {
    return builder(node).allowedValueClasses(allowedValueClasses).build().wrap(iface, target);
  }

  /**
   * Returns a proxy of {@code iface} that calls {@code target} and honours the JSR-107 caching
   * annotations of the interface's methods. Defines the caches they name on the node.
   *
   * @throws IllegalArgumentException if {@code iface} is not an interface, or one of its methods
   *     uses the annotations in an unsupported way (the message names it)
   * @throws IllegalStateException if the node is closed, or defines a cache of the same name with
   *     another configuration
   */
  public <I> I wrap(Class<I> iface, I target) {
    requireNonNull(iface, "iface");
    requireNonNull(target, "target");
    checkArgument(
        iface.isInterface(),
        "%s is not an interface; CachingProxy wraps interfaces",
        iface.getName());
    Map<String, DistributedCache<StableKey, Object>> caches = new HashMap<>();
    OperationParser parser = new OperationParser(name -> caches.computeIfAbsent(name, this::cache));
    Map<Method, CacheOperation> operations = new HashMap<>();
    for (Method method : iface.getMethods()) {
      if (Modifier.isStatic(method.getModifiers())) {
        continue;
      }
      CacheOperation operation = parser.parse(iface, method);
      if (operation != null) {
        operations.put(method, operation);
      }
    }
    Object proxy =
        Proxy.newProxyInstance(
            iface.getClassLoader(),
            new Class<?>[] {iface},
            new CachingHandler(target, operations, keys));
    return iface.cast(proxy);
  }

  private DistributedCache<StableKey, Object> cache(String name) {
    CacheConfig.Builder<StableKey, Object> config =
        CacheConfig.builder(StableKey.codec(), valueCodec);
    configurer.accept(name, config);
    return node.cache(name, config.build());
  }

  @Override
  public String toString() {
    return "CachingProxy{" + node + ", values=" + valueCodec + ", keys=" + keys + "}";
  }

  /** Builds a {@link CachingProxy}. Each setting may be set once. Not thread-safe. */
  public static final class Builder {
    private final ShardcacheNode node;
    private @Nullable List<String> allowedValueClasses;
    private @Nullable Codec<Object> valueCodec;
    private @Nullable BiConsumer<String, CacheConfig.Builder<StableKey, Object>> configurerSet;
    private BiConsumer<String, CacheConfig.Builder<StableKey, Object>> configurer =
        (name, config) -> {};
    private final StableKeyEncoder.Builder keys = StableKeyEncoder.builder();

    private Builder(ShardcacheNode node) {
      this.node = node;
    }

    /**
     * Allows values of these classes or packages ({@code com.example.Book}, {@code com.example.*},
     * {@code com.example.**}) to be decoded, besides the JDK value and collection classes.
     */
    public Builder allowedValueClasses(String... patterns) {
      requireNonNull(patterns, "patterns");
      checkState(
          allowedValueClasses == null,
          "allowedValueClasses were already set to %s",
          allowedValueClasses);
      ObjectCodecs.serializable(patterns); // fail now on a pattern that allows everything
      this.allowedValueClasses = List.of(patterns);
      return this;
    }

    /** Replaces the Java-serialization value codec, such as with a JSON codec. */
    public Builder valueCodec(Codec<Object> codec) {
      requireNonNull(codec, "codec");
      checkState(valueCodec == null, "valueCodec was already set to %s", valueCodec);
      this.valueCodec = codec;
      return this;
    }

    /**
     * Configures each cache as it is defined, given its name: size, TTL, near cache, timeouts. Must
     * set the same things for a name on every node.
     */
    public Builder configure(
        BiConsumer<String, CacheConfig.Builder<StableKey, Object>> configurer) {
      requireNonNull(configurer, "configurer");
      checkState(configurerSet == null, "configure was already set to %s", configurerSet);
      this.configurerSet = configurer;
      this.configurer = configurer;
      return this;
    }

    /**
     * Teaches the key encoder an application key type (see {@link
     * StableKeyEncoder.Builder#composite}).
     */
    public <T> Builder keyType(
        Class<T> type, String name, Function<? super T, ? extends List<?>> parts) {
      keys.composite(type, name, parts);
      return this;
    }

    public CachingProxy build() {
      return new CachingProxy(this);
    }
  }
}
