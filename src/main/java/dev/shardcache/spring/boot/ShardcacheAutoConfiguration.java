package dev.shardcache.spring.boot;

import dev.shardcache.ShardcacheNode;
import dev.shardcache.micrometer.ShardcacheMetrics;
import dev.shardcache.spring.AnnotatedCacheRegistrar;
import dev.shardcache.spring.CacheSettings;
import dev.shardcache.spring.ShardcacheCacheManager;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.springframework.beans.factory.ListableBeanFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.cache.CacheManager;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.ContextRefreshedEvent;
import org.springframework.util.unit.DataSize;

/**
 * Spring Boot auto-configuration of a Shardcache node and a Spring {@link CacheManager} on it, from
 * {@link ShardcacheProperties} ({@code shardcache.*}).
 *
 * <ul>
 *   <li>{@link ShardcacheNode} {@code shardcacheNode}, unless the application defines one: built
 *       from {@code listen-host}, {@code port}, {@code advertise-host}, {@code peers}, {@code
 *       virtual-nodes} (with {@code client-only=true}: a client-only node, from {@code peers}
 *       alone); started by {@link ShardcacheNodeLifecycle} with the context and closed with it (and
 *       by its destroy method, {@code close}, whichever comes first);
 *   <li>{@link ShardcacheCacheManager} {@code cacheManager}, unless the application defines a
 *       {@link CacheManager}: every cache under {@code shardcache.caches.*} is defined at startup
 *       with its settings over {@code shardcache.cache-defaults.*};
 *   <li>{@link AnnotatedCacheRegistrar}: defines the caches the context's caching annotations name,
 *       before the node starts serving;
 *   <li>{@link ShardcacheMetrics}, when Micrometer is on the class path, bound to every {@link
 *       MeterRegistry} bean once the context is refreshed: the node's meters, and each cache's by
 *       Micrometer's cache conventions ({@code cache.gets}, ...);
 *   <li>with Spring Boot's cache metrics on the class path too ({@code spring-boot-cache}), a
 *       {@link ShardcacheCacheMeterBinderProvider} instead: Boot binds the Spring caches with the
 *       tags it gives every cache ({@code cache.manager}, {@code name}), so {@code
 *       /actuator/metrics/cache.gets} covers them, and {@link ShardcacheMetrics} keeps to the
 *       node's own meters; the caches the annotations name, defined after Boot's binding, are bound
 *       the same way once the context is refreshed ({@link SpringCacheMetricsBinding});
 *   <li>{@link ShardcacheHealthIndicator} {@code shardcacheHealthIndicator}, when Spring Boot's
 *       health support (the Actuator) is on the class path, unless {@code
 *       management.health.shardcache.enabled=false}.
 * </ul>
 *
 * Caching itself is switched on by the application, as usual, with {@code @EnableCaching}. Set
 * {@code shardcache.enabled=false} to turn all of this off.
 *
 * <p>It runs before Spring Boot's own cache auto-configuration, which then sees a {@code
 * CacheManager} and backs off.
 */
@AutoConfiguration(
    beforeName = {
      "org.springframework.boot.cache.autoconfigure.CacheAutoConfiguration",
      "org.springframework.boot.autoconfigure.cache.CacheAutoConfiguration"
    })
@ConditionalOnClass({ShardcacheNode.class, CacheManager.class})
@ConditionalOnProperty(prefix = "shardcache", name = "enabled", matchIfMissing = true)
@EnableConfigurationProperties(ShardcacheProperties.class)
public class ShardcacheAutoConfiguration {

  @Bean(destroyMethod = "close")
  @ConditionalOnMissingBean
  public ShardcacheNode shardcacheNode(ShardcacheProperties properties) {
    ShardcacheNode.Builder builder = ShardcacheNode.builder();
    if (properties.isClientOnly()) {
      clientOnly(builder, properties);
    } else {
      builder.listen(properties.getListenHost(), properties.getPort());
      if (properties.getAdvertiseHost() != null && !properties.getAdvertiseHost().isBlank()) {
        builder.advertiseHost(properties.getAdvertiseHost());
      }
      if (properties.getMaxSubscribedClients() != null) {
        builder.maxSubscribedClients(properties.getMaxSubscribedClients());
      }
    }
    if (!properties.getPeers().isEmpty()) {
      builder.peers(properties.getPeers());
    }
    if (properties.getVirtualNodes() != null) {
      builder.virtualNodes(properties.getVirtualNodes());
    }
    ShardcacheProperties.Tls tls = properties.getTls();
    if (tls.getCertificateChain() != null && !tls.getCertificateChain().isBlank()) {
      if (tls.getPrivateKey() == null || tls.getTrustedCertificates() == null) {
        throw new IllegalStateException(
            "shardcache.tls.certificate-chain is set, so"
                + " shardcache.tls.private-key and shardcache.tls.trusted-certificates must be set too");
      }
      builder.tls(
          dev.shardcache.PeerTls.fromPemFiles(
                  java.nio.file.Path.of(tls.getCertificateChain()),
                  java.nio.file.Path.of(tls.getPrivateKey()),
                  java.nio.file.Path.of(tls.getTrustedCertificates()))
              .withClientCertificates(tls.isRequireClientCertificates())
              .withReloadInterval(tls.getReloadInterval()));
    }
    if (properties.getClusterSecret() != null && !properties.getClusterSecret().isEmpty()) {
      builder.clusterSecret(
          properties.getClusterSecret().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    if (properties.getMaxConcurrentCallsPerPeer() != null) {
      builder.maxConcurrentCallsPerPeer(properties.getMaxConcurrentCallsPerPeer());
    }
    if (properties.getMaxNonces() != null) {
      builder.maxNonces(properties.getMaxNonces());
    }
    return builder.build();
  }

  /**
   * Makes {@code builder} client-only, refusing the properties only a member uses, each by name.
   *
   * @throws IllegalStateException if a listen property or {@code max-subscribed-clients} is set, or
   *     {@code peers} is not
   */
  private static void clientOnly(ShardcacheNode.Builder builder, ShardcacheProperties properties) {
    List<String> refused = new ArrayList<>(properties.listenPropertiesSet());
    if (properties.getMaxSubscribedClients() != null) {
      refused.add("shardcache.max-subscribed-clients");
    }
    if (!refused.isEmpty()) {
      throw new IllegalStateException(
          "shardcache.client-only=true makes a node that binds no port and serves no client, so "
              + String.join(", ", refused)
              + (refused.size() == 1 ? " must" : " must all")
              + " be unset: remove "
              + (refused.size() == 1 ? "it" : "them")
              + ", or set shardcache.client-only=false for a member that holds a shard");
    }
    if (properties.getPeers().isEmpty()) {
      throw new IllegalStateException(
          "shardcache.client-only=true needs shardcache.peers: the members' host:port, to which it"
              + " sends every read and write");
    }
    builder.clientOnly();
  }

  @Bean
  @ConditionalOnMissingBean
  public ShardcacheNodeLifecycle shardcacheNodeLifecycle(ShardcacheNode shardcacheNode) {
    return new ShardcacheNodeLifecycle(shardcacheNode);
  }

  @Bean
  @ConditionalOnMissingBean(CacheManager.class)
  public ShardcacheCacheManager cacheManager(
      ShardcacheNode shardcacheNode, ShardcacheProperties properties) {
    ShardcacheCacheManager.Builder builder =
        ShardcacheCacheManager.builder(shardcacheNode)
            .defaults(settings("shardcache.cache-defaults", properties.getCacheDefaults()))
            .allowNullValues(properties.isAllowNullValues())
            .dynamic(properties.isDynamicCaches());
    for (Map.Entry<String, ShardcacheProperties.Cache> cache : properties.getCaches().entrySet()) {
      builder.cache(
          cache.getKey(), settings("shardcache.caches." + cache.getKey(), cache.getValue()));
    }
    return builder.build();
  }

  @Bean
  @ConditionalOnMissingBean
  public AnnotatedCacheRegistrar annotatedCacheRegistrar(
      ObjectProvider<ShardcacheCacheManager> cacheManager) {
    return new AnnotatedCacheRegistrar(cacheManager);
  }

  /**
   * Maps the properties of one cache (under {@code prefix}) onto its settings.
   *
   * @throws IllegalStateException if both bounds are set
   */
  static CacheSettings settings(String prefix, ShardcacheProperties.Cache properties) {
    CacheSettings.Builder settings = CacheSettings.builder();
    Long maximumSize = properties.getMaximumSize();
    DataSize maximumWeight = properties.getMaximumWeight();
    if (maximumSize != null && maximumWeight != null) {
      throw new IllegalStateException(
          prefix
              + ".maximum-size ("
              + maximumSize
              + ") and "
              + prefix
              + ".maximum-weight ("
              + maximumWeight
              + ") are both set; a shard is bounded by entries or by bytes, so remove one");
    }
    if (maximumSize != null) {
      settings.maximumSize(maximumSize);
    }
    if (maximumWeight != null) {
      settings.maximumWeight(maximumWeight.toBytes());
    }
    if (properties.getExpireAfterWrite() != null) {
      settings.expireAfterWrite(properties.getExpireAfterWrite());
    }
    if (properties.getExpireAfterAccess() != null) {
      settings.expireAfterAccess(properties.getExpireAfterAccess());
    }
    if (properties.getRefreshAfterWrite() != null) {
      settings.refreshAfterWrite(properties.getRefreshAfterWrite());
    }
    if (properties.getRemoteTimeout() != null) {
      settings.remoteTimeout(properties.getRemoteTimeout());
    }
    if (properties.getReplication() != null) {
      settings.replicationFactor(properties.getReplication());
    }
    if (properties.getHotKeys() != null) {
      settings.hotKeys(properties.getHotKeys());
    }
    if (!properties.getAllowedValueClasses().isEmpty()) {
      settings.allowedValueClasses(properties.getAllowedValueClasses().toArray(new String[0]));
    }
    ShardcacheProperties.NearCache near = properties.getNearCache();
    if (near.getMaximumSize() != null) {
      settings.nearCache(near.getMaximumSize(), near.getTtl());
    }
    return settings.build();
  }

  private static final String BOOT_CACHE_METRICS =
      "org.springframework.boot.cache.metrics.CacheMeterBinderProvider";

  /** Micrometer, when it is on the class path. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(MeterRegistry.class)
  static class MetricsConfiguration {

    /** Without Boot's cache metrics, the node's meters and every cache's. */
    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnMissingClass(BOOT_CACHE_METRICS)
    ShardcacheMetrics shardcacheMetrics(ShardcacheNode shardcacheNode) {
      return new ShardcacheMetrics(shardcacheNode);
    }

    /**
     * Binds the metrics to every registry once the context is refreshed: every cache is defined by
     * then (those the annotations name too), and so is any registry, whichever configuration
     * declared it. Spring Boot's own metrics support may bind the same binder earlier; binding
     * again adds the caches defined since and registers nothing twice.
     */
    @Bean
    static ApplicationListener<ContextRefreshedEvent> shardcacheMetricsBinding(
        ObjectProvider<ShardcacheMetrics> metrics, ObjectProvider<MeterRegistry> registries) {
      return new NodeMetricsBinding(metrics, registries);
    }
  }

  /** Spring Boot's cache metrics, with Micrometer: they bind the Spring caches. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = {"io.micrometer.core.instrument.MeterRegistry", BOOT_CACHE_METRICS})
  static class CacheMetricsConfiguration {

    @Bean
    @ConditionalOnMissingBean
    ShardcacheCacheMeterBinderProvider shardcacheCacheMeterBinderProvider() {
      return new ShardcacheCacheMeterBinderProvider();
    }

    /** The node's own meters: Boot binds the caches' ({@link SpringCacheMetricsBinding}). */
    @Bean
    @ConditionalOnMissingBean
    ShardcacheMetrics shardcacheMetrics(ShardcacheNode shardcacheNode) {
      return new ShardcacheMetrics(shardcacheNode).withoutCacheMeters();
    }

    @Bean
    SpringCacheMetricsBinding shardcacheCacheMetricsBinding(
        ShardcacheCacheMeterBinderProvider provider,
        ObjectProvider<MeterRegistry> registries,
        ListableBeanFactory beans) {
      return new SpringCacheMetricsBinding(provider, registries, beans);
    }
  }

  /** The Actuator's health support, when it is on the class path. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "org.springframework.boot.health.contributor.HealthIndicator")
  static class HealthConfiguration {

    @Bean
    @ConditionalOnMissingBean(name = "shardcacheHealthIndicator")
    @ConditionalOnEnabledHealthIndicator("shardcache")
    ShardcacheHealthIndicator shardcacheHealthIndicator(ShardcacheNode shardcacheNode) {
      return new ShardcacheHealthIndicator(shardcacheNode);
    }
  }

  /** Binds every {@link ShardcacheMetrics} bean to every registry when the context is refreshed. */
  private static final class NodeMetricsBinding
      implements ApplicationListener<ContextRefreshedEvent> {
    private final ObjectProvider<ShardcacheMetrics> metrics;
    private final ObjectProvider<MeterRegistry> registries;

    NodeMetricsBinding(
        ObjectProvider<ShardcacheMetrics> metrics, ObjectProvider<MeterRegistry> registries) {
      this.metrics = metrics;
      this.registries = registries;
    }

    @Override
    public void onApplicationEvent(ContextRefreshedEvent event) {
      metrics.orderedStream().forEach(binder -> registries.orderedStream().forEach(binder::bindTo));
    }
  }
}
