package dev.shardcache.spring.boot;

import static java.util.Objects.requireNonNull;

import dev.shardcache.spring.ShardcacheCache;
import dev.shardcache.spring.ShardcacheCacheManager;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.springframework.beans.factory.ListableBeanFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.cache.metrics.CacheMeterBinderProvider;
import org.springframework.boot.cache.metrics.CacheMetricsRegistrar;
import org.springframework.context.ApplicationListener;
import org.springframework.context.event.ContextRefreshedEvent;

/**
 * Binds every cache of every {@link ShardcacheCacheManager} bean to every {@link MeterRegistry}
 * bean through Spring Boot's {@link CacheMetricsRegistrar}, once the context is refreshed.
 *
 * <p>Why, when Boot's cache metrics bind the caches of every cache manager themselves: they do so
 * when their configuration is created, before the caches that the context's annotations name are
 * defined ({@code AnnotatedCacheRegistrar} runs once every singleton exists). Binding again here,
 * with Boot's own registrar, the same provider and the same {@code cache.manager} tag, adds those
 * caches and registers nothing twice (a registry returns the meter it has for a name and tags).
 * Caches a dynamic manager defines later, at run time, are bound by the application through Boot's
 * {@code CacheMetricsRegistrar} bean, as with any cache manager.
 *
 * <p>Runs on the thread that refreshes the context; not thread-safe otherwise, nor needs to be.
 */
final class SpringCacheMetricsBinding implements ApplicationListener<ContextRefreshedEvent> {
  private static final String CACHE_MANAGER_SUFFIX = "cachemanager";

  private final CacheMeterBinderProvider<ShardcacheCache> provider;
  private final ObjectProvider<MeterRegistry> registries;
  private final ListableBeanFactory beans;

  SpringCacheMetricsBinding(
      CacheMeterBinderProvider<ShardcacheCache> provider,
      ObjectProvider<MeterRegistry> registries,
      ListableBeanFactory beans) {
    this.provider = requireNonNull(provider, "provider");
    this.registries = requireNonNull(registries, "registries");
    this.beans = requireNonNull(beans, "beans");
  }

  @Override
  public void onApplicationEvent(ContextRefreshedEvent event) {
    Map<String, ShardcacheCacheManager> managers =
        beans.getBeansOfType(ShardcacheCacheManager.class);
    registries
        .orderedStream()
        .forEach(
            registry -> {
              CacheMetricsRegistrar registrar =
                  new CacheMetricsRegistrar(
                      registry, List.<CacheMeterBinderProvider<?>>of(provider));
              managers.forEach(
                  (bean, manager) -> {
                    Tag managerTag = Tag.of("cache.manager", managerName(bean));
                    for (String name : manager.getCacheNames()) {
                      ShardcacheCache cache = manager.getCache(name);
                      if (cache != null) {
                        registrar.bindCacheToRegistry(cache, managerTag);
                      }
                    }
                  });
            });
  }

  /**
   * The {@code cache.manager} tag of a manager bean, as Spring Boot's cache metrics derive it (the
   * bean name less a trailing "cacheManager", unless that is all of it), so that both bindings
   * produce the same meters.
   */
  static String managerName(String beanName) {
    if (beanName.length() > CACHE_MANAGER_SUFFIX.length()
        && beanName.toLowerCase(Locale.ROOT).endsWith(CACHE_MANAGER_SUFFIX)) {
      return beanName.substring(0, beanName.length() - CACHE_MANAGER_SUFFIX.length());
    }
    return beanName;
  }
}
