package dev.shardcache.spring;

import static java.util.Objects.requireNonNull;

import java.lang.reflect.Method;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;
import org.springframework.aop.framework.AopProxyUtils;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.BeanFactoryAware;
import org.springframework.beans.factory.ListableBeanFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.cache.interceptor.CacheOperation;
import org.springframework.cache.interceptor.CacheOperationSource;
import org.springframework.util.ClassUtils;
import org.springframework.util.ReflectionUtils;

/**
 * Defines on a {@link ShardcacheCacheManager}, once every singleton of the context exists, each
 * cache that the context's caching annotations name: Spring's {@code @Cacheable},
 * {@code @CachePut}, {@code @CacheEvict}, {@code @Caching} (with {@code @CacheConfig} defaults),
 * and, when Spring's JCache support is on the class path, the JSR-107 annotations (including their
 * default cache names and {@code exceptionCacheName}).
 *
 * <p>Why: a node answers a peer's request for a cache it has not defined with an error, and Spring
 * asks for a cache only when an annotated method first runs. Defining them all up front, before the
 * node starts serving (Spring starts lifecycle beans after this callback), means a request from a
 * peer finds the cache even if no method using it has run here yet.
 *
 * <p>It reads the {@link CacheOperationSource} beans that {@code @EnableCaching} registers, so it
 * sees exactly what Spring's interceptors will see; it finds nothing if caching is not enabled.
 * Cache names resolved at run time by a custom {@code CacheResolver} are not found; name those
 * caches on the manager's builder.
 *
 * <p>Register it as a bean next to the manager (the Spring Boot auto-configuration does). Its
 * callback runs once, on the thread refreshing the context.
 */
public final class AnnotatedCacheRegistrar implements SmartInitializingSingleton, BeanFactoryAware {
  private static final Logger logger = Logger.getLogger(AnnotatedCacheRegistrar.class.getName());

  private static final String JCACHE_OPERATION_SOURCE =
      "org.springframework.cache.jcache.interceptor.JCacheOperationSource";

  private final Supplier<@Nullable ShardcacheCacheManager> manager;
  private @Nullable ListableBeanFactory beanFactory;

  /** Defines the annotated caches on {@code manager}. */
  public AnnotatedCacheRegistrar(ShardcacheCacheManager manager) {
    requireNonNull(manager, "manager");
    this.manager = () -> manager;
  }

  /**
   * Defines the annotated caches on the one manager {@code managers} provides, if it provides
   * exactly one (such as when the application replaced it with another kind of cache manager).
   */
  public AnnotatedCacheRegistrar(ObjectProvider<ShardcacheCacheManager> managers) {
    requireNonNull(managers, "managers");
    this.manager = managers::getIfUnique;
  }

  @Override
  public void setBeanFactory(BeanFactory beanFactory) {
    if (beanFactory instanceof ListableBeanFactory listable) {
      this.beanFactory = listable;
    }
  }

  @Override
  public void afterSingletonsInstantiated() {
    ListableBeanFactory factory = beanFactory;
    ShardcacheCacheManager target = manager.get();
    if (factory == null || target == null) {
      return;
    }
    Set<String> names = cacheNames(factory);
    target.defineCaches(names);
    logger.log(Level.FINE, "Defined the annotated caches {0}", names);
  }

  /** Returns the cache names that the caching annotations of {@code factory}'s beans name. */
  static Set<String> cacheNames(ListableBeanFactory factory) {
    List<CacheOperationSource> springSources =
        factory.getBeanProvider(CacheOperationSource.class).orderedStream().toList();
    @Nullable JCacheNames jcache =
        ClassUtils.isPresent(
                JCACHE_OPERATION_SOURCE, AnnotatedCacheRegistrar.class.getClassLoader())
            ? JCacheNames.of(factory)
            : null;
    Set<String> names = new TreeSet<>();
    if (springSources.isEmpty() && (jcache == null || jcache.isEmpty())) {
      return names;
    }
    for (String beanName : factory.getBeanDefinitionNames()) {
      Class<?> type = targetType(factory, beanName);
      if (type == null || type.getName().startsWith("org.springframework.")) {
        continue;
      }
      for (Method method :
          ReflectionUtils.getUniqueDeclaredMethods(type, ReflectionUtils.USER_DECLARED_METHODS)) {
        for (CacheOperationSource source : springSources) {
          Collection<CacheOperation> operations = source.getCacheOperations(method, type);
          if (operations != null) {
            operations.forEach(operation -> names.addAll(operation.getCacheNames()));
          }
        }
        if (jcache != null) {
          jcache.addNames(method, type, names);
        }
      }
    }
    return names;
  }

  private static @Nullable Class<?> targetType(ListableBeanFactory factory, String beanName) {
    Class<?> type;
    try {
      type = factory.getType(beanName, false);
    } catch (RuntimeException e) {
      return null; // a bean whose type cannot be predicted holds no annotations we could read
    }
    if (type == null) {
      return null;
    }
    if (java.lang.reflect.Proxy.isProxyClass(type) && factory.isSingleton(beanName)) {
      // A JDK proxy's methods carry no annotations; ask the proxy for its target's class.
      try {
        return AopProxyUtils.ultimateTargetClass(factory.getBean(beanName));
      } catch (RuntimeException e) {
        return null;
      }
    }
    return ClassUtils.getUserClass(type);
  }

  /**
   * The JSR-107 side, in its own class so that it is loaded only when JCache support is present.
   */
  private static final class JCacheNames {
    private final List<org.springframework.cache.jcache.interceptor.JCacheOperationSource> sources;

    private JCacheNames(
        List<org.springframework.cache.jcache.interceptor.JCacheOperationSource> sources) {
      this.sources = sources;
    }

    static JCacheNames of(ListableBeanFactory factory) {
      return new JCacheNames(
          factory
              .getBeanProvider(
                  org.springframework.cache.jcache.interceptor.JCacheOperationSource.class)
              .orderedStream()
              .toList());
    }

    boolean isEmpty() {
      return sources.isEmpty();
    }

    void addNames(Method method, Class<?> type, Set<String> names) {
      for (var source : sources) {
        var operation = source.getCacheOperation(method, type);
        if (operation == null) {
          continue;
        }
        names.add(operation.getCacheName());
        if (operation.getCacheAnnotation() instanceof javax.cache.annotation.CacheResult result
            && !result.exceptionCacheName().isEmpty()) {
          names.add(result.exceptionCacheName());
        }
      }
    }
  }
}
