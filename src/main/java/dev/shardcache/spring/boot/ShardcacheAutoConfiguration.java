package dev.shardcache.spring.boot;

import dev.shardcache.ShardcacheNode;
import dev.shardcache.micrometer.ShardcacheMetrics;
import dev.shardcache.spring.AnnotatedCacheRegistrar;
import dev.shardcache.spring.CacheSettings;
import dev.shardcache.spring.ShardcacheCacheManager;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Map;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.cache.CacheManager;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Spring Boot auto-configuration of a Shardcache node and a Spring {@link CacheManager} on it, from
 * {@link ShardcacheProperties} ({@code shardcache.*}).
 *
 * <ul>
 *   <li>{@link ShardcacheNode} {@code shardcacheNode}, unless the application defines one: built
 *       from {@code listen-host}, {@code port}, {@code advertise-host}, {@code peers}, {@code
 *       virtual-nodes}; started by {@link ShardcacheNodeLifecycle} with the context and closed with
 *       it (and by its destroy method, {@code close}, whichever comes first);
 *   <li>{@link ShardcacheCacheManager} {@code cacheManager}, unless the application defines a
 *       {@link CacheManager}: every cache under {@code shardcache.caches.*} is defined at startup
 *       with its settings over {@code shardcache.cache-defaults.*};
 *   <li>{@link AnnotatedCacheRegistrar}: defines the caches the context's caching annotations name,
 *       before the node starts serving;
 *   <li>{@link ShardcacheMetrics}, when Micrometer is on the class path, bound to every {@link
 *       MeterRegistry} bean once the context's singletons exist.
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
    ShardcacheNode.Builder builder =
        ShardcacheNode.builder().listen(properties.getListenHost(), properties.getPort());
    if (properties.getAdvertiseHost() != null && !properties.getAdvertiseHost().isBlank()) {
      builder.advertiseHost(properties.getAdvertiseHost());
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
    return builder.build();
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
            .defaults(settings(properties.getCacheDefaults()))
            .allowNullValues(properties.isAllowNullValues())
            .dynamic(properties.isDynamicCaches());
    for (Map.Entry<String, ShardcacheProperties.Cache> cache : properties.getCaches().entrySet()) {
      builder.cache(cache.getKey(), settings(cache.getValue()));
    }
    return builder.build();
  }

  @Bean
  @ConditionalOnMissingBean
  public AnnotatedCacheRegistrar annotatedCacheRegistrar(
      ObjectProvider<ShardcacheCacheManager> cacheManager) {
    return new AnnotatedCacheRegistrar(cacheManager);
  }

  /** Maps the properties of one cache onto its settings. */
  static CacheSettings settings(ShardcacheProperties.Cache properties) {
    CacheSettings.Builder settings = CacheSettings.builder();
    if (properties.getMaximumSize() != null) {
      settings.maximumSize(properties.getMaximumSize());
    }
    if (properties.getExpireAfterWrite() != null) {
      settings.expireAfterWrite(properties.getExpireAfterWrite());
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
    if (!properties.getAllowedValueClasses().isEmpty()) {
      settings.allowedValueClasses(properties.getAllowedValueClasses().toArray(new String[0]));
    }
    ShardcacheProperties.NearCache near = properties.getNearCache();
    if (near.getMaximumSize() != null) {
      settings.nearCache(near.getMaximumSize(), near.getTtl());
    }
    return settings.build();
  }

  /** Micrometer, when it is on the class path. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(MeterRegistry.class)
  static class MetricsConfiguration {

    @Bean
    @ConditionalOnMissingBean
    ShardcacheMetrics shardcacheMetrics(ShardcacheNode shardcacheNode) {
      return new ShardcacheMetrics(shardcacheNode);
    }

    /**
     * Binds the metrics to every registry once all singletons exist: the caches are defined by
     * then, and so is any registry, whichever configuration declared it. Spring Boot's own metrics
     * support may bind the same binder too; binding twice registers nothing twice.
     */
    @Bean
    static SmartInitializingSingleton shardcacheMetricsBinding(
        ObjectProvider<ShardcacheMetrics> metrics, ObjectProvider<MeterRegistry> registries) {
      return () ->
          metrics.ifAvailable(binder -> registries.orderedStream().forEach(binder::bindTo));
    }
  }
}
