package dev.shardcache.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.CacheConfig;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.micrometer.ShardcacheMetrics;
import dev.shardcache.spring.ShardcacheCacheManager;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.cache.CacheManager;
import org.springframework.cache.annotation.Cacheable;
import org.springframework.cache.annotation.EnableCaching;
import org.springframework.cache.concurrent.ConcurrentMapCacheManager;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The Boot auto-configuration, with Spring Boot's own test runner and with two real contexts. */
class ShardcacheAutoConfigurationTest {
  private final ApplicationContextRunner runner =
      new ApplicationContextRunner()
          .withConfiguration(AutoConfigurations.of(ShardcacheAutoConfiguration.class))
          .withPropertyValues("shardcache.port=0");

  @Test
  void startsANodeFromPropertiesAndClosesItWithTheContext() {
    ShardcacheNode[] seen = new ShardcacheNode[1];
    runner
        .withPropertyValues(
            "shardcache.virtual-nodes=64",
            "shardcache.cache-defaults.maximum-size=2000",
            "shardcache.cache-defaults.allowed-value-classes=com.example.model.**",
            "shardcache.caches.books.maximum-size=500",
            "shardcache.caches.books.expire-after-write=10m",
            "shardcache.caches.books.near-cache.maximum-size=100",
            "shardcache.caches.books.near-cache.ttl=2s",
            "shardcache.caches.books.replication=2",
            "shardcache.caches.authors.remote-timeout=750ms",
            "shardcache.caches.authors.hot-keys=false")
        .run(
            context -> {
              assertThat(context).hasNotFailed();
              ShardcacheNode node = context.getBean(ShardcacheNode.class);
              seen[0] = node;
              assertThat(node.isRunning()).isTrue();
              assertThat(node.address()).startsWith("127.0.0.1:");
              assertThat(node.ring().virtualNodes()).isEqualTo(64);
              assertThat(context.getBean(CacheManager.class))
                  .isInstanceOf(ShardcacheCacheManager.class);
              assertThat(context.getBean(CacheManager.class).getCacheNames())
                  .containsExactlyInAnyOrder("books", "authors");

              CacheConfig<?, ?> books = cacheConfig(node, "books");
              assertThat(books.maximumSize()).isEqualTo(500);
              assertThat(books.expireAfterWrite()).contains(Duration.ofMinutes(10));
              assertThat(books.nearCacheMaximumSize()).isEqualTo(100);
              assertThat(books.nearCacheTtl()).isEqualTo(Duration.ofSeconds(2));
              assertThat(books.replicationFactor()).isEqualTo(2);
              assertThat(books.valueCodec().toString()).contains("com.example.model.**");
              CacheConfig<?, ?> authors = cacheConfig(node, "authors");
              assertThat(authors.maximumSize()).isEqualTo(2000);
              assertThat(authors.remoteTimeout()).isEqualTo(Duration.ofMillis(750));
              assertThat(authors.nearCacheEnabled()).isFalse();
              assertThat(authors.replicationFactor()).isEqualTo(1);
              assertThat(authors.hotKeys()).isFalse();
              assertThat(books.hotKeys()).as("on unless turned off").isTrue();
            });
    assertThat(seen[0].isRunning()).isFalse();
  }

  @Test
  void boundsByBytesAndIdleTimeFromProperties() {
    runner
        .withPropertyValues(
            "shardcache.cache-defaults.maximum-weight=64MB",
            "shardcache.cache-defaults.expire-after-access=30m",
            "shardcache.caches.covers.maximum-weight=1048576",
            "shardcache.caches.books.maximum-size=500")
        .run(
            context -> {
              assertThat(context).hasNotFailed();
              ShardcacheNode node = context.getBean(ShardcacheNode.class);
              CacheConfig<?, ?> covers = cacheConfig(node, "covers");
              assertThat(covers.maximumWeight()).hasValue(1L << 20);
              assertThat(covers.expireAfterAccess()).contains(Duration.ofMinutes(30));
              CacheConfig<?, ?> books = cacheConfig(node, "books");
              assertThat(books.maximumSize()).isEqualTo(500);
              assertThat(books.maximumWeight()).as("its own bound, not the default's").isEmpty();
              ShardcacheCacheManager manager = context.getBean(ShardcacheCacheManager.class);
              assertThat(cacheConfig(node, manager.defineCache("later").getName()).maximumWeight())
                  .hasValue(64L << 20);
            });
  }

  @Test
  void bothBoundsOnOneCacheFailAtStartNamingTheProperties() {
    runner
        .withPropertyValues(
            "shardcache.caches.books.maximum-size=500",
            "shardcache.caches.books.maximum-weight=64MB")
        .run(
            context ->
                assertThat(context)
                    .hasFailed()
                    .getFailure()
                    .rootCause()
                    .hasMessageContaining("shardcache.caches.books.maximum-size (500)")
                    .hasMessageContaining("shardcache.caches.books.maximum-weight (67108864B)")
                    .hasMessageContaining("remove one"));
    runner
        .withPropertyValues(
            "shardcache.caches.books.expire-after-access=5m",
            "shardcache.caches.books.replication=2")
        .run(
            context ->
                assertThat(context)
                    .hasFailed()
                    .getFailure()
                    .rootCause()
                    .hasMessageContaining("use expireAfterWrite with replication"));
  }

  @Test
  void maxNoncesFromPropertiesReachesTheNode() {
    runner
        .withPropertyValues("shardcache.max-nonces=999")
        .run(
            context ->
                assertThat(context)
                    .hasFailed()
                    .getFailure()
                    .rootCause()
                    .hasMessageContaining("maxNonces must be in [1000, 50000000], got 999"));
    runner
        .withPropertyValues("shardcache.max-nonces=1000")
        .run(context -> assertThat(context).hasNotFailed());
  }

  @Test
  void definesTheCachesTheAnnotationsNameBeforeTheNodeServes() {
    runner
        .withUserConfiguration(AnnotatedService.class)
        .run(
            context -> {
              ShardcacheNode node = context.getBean(ShardcacheNode.class);
              assertThat(node.caches()).extracting(DistributedCache::name).contains("quotes");
              AnnotatedService service = context.getBean(AnnotatedService.class);
              assertThat(service.quote("a")).isEqualTo(service.quote("a"));
              assertThat(service.calls()).isEqualTo(1);
            });
  }

  @Test
  void backsOffWhenTheApplicationHasACacheManager() {
    runner
        .withUserConfiguration(OwnCacheManager.class)
        .run(
            context -> {
              assertThat(context).hasSingleBean(CacheManager.class);
              assertThat(context.getBean(CacheManager.class))
                  .isInstanceOf(ConcurrentMapCacheManager.class);
            });
  }

  @Test
  void doesNothingWhenDisabled() {
    runner
        .withPropertyValues("shardcache.enabled=false")
        .run(
            context -> {
              assertThat(context).doesNotHaveBean(ShardcacheNode.class);
              assertThat(context).doesNotHaveBean(CacheManager.class);
            });
  }

  @Test
  void bindsMetricsToAMeterRegistryBean() {
    runner
        .withPropertyValues("shardcache.caches.books.maximum-size=10")
        .withBean(SimpleMeterRegistry.class, SimpleMeterRegistry::new)
        .run(
            context -> {
              assertThat(context).hasSingleBean(ShardcacheMetrics.class);
              MeterRegistry registry = context.getBean(MeterRegistry.class);
              assertThat(registry.get("shardcache.ring.members").gauge().value()).isEqualTo(1.0);
              assertThat(registry.get("cache.size").tag("cache", "books").gauge().value()).isZero();
            });
  }

  @Test
  void twoApplicationsConfiguredByPropertiesShareTheirCache() throws IOException {
    int portA = freePort();
    int portB = freePort();
    String peers = "shardcache.peers=127.0.0.1:" + portA + ",127.0.0.1:" + portB;
    ApplicationContextRunner app =
        new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(ShardcacheAutoConfiguration.class))
            .withUserConfiguration(AnnotatedService.class)
            .withPropertyValues(peers);
    app.withPropertyValues("shardcache.port=" + portA)
        .run(
            a ->
                app.withPropertyValues("shardcache.port=" + portB)
                    .run(
                        b -> {
                          AnnotatedService serviceA = a.getBean(AnnotatedService.class);
                          AnnotatedService serviceB = b.getBean(AnnotatedService.class);
                          for (int k = 0; k < 20; k++) {
                            String throughA = serviceA.quote("q" + k);
                            assertThat(serviceB.quote("q" + k)).isEqualTo(throughA);
                          }
                          assertThat(serviceA.calls() + serviceB.calls()).isEqualTo(20);
                          assertThat(serviceA.calls())
                              .isEqualTo(20); // B found every one of them cached
                          ShardcacheNode nodeB = b.getBean(ShardcacheNode.class);
                          assertThat(nodeB.ring().size()).isEqualTo(2);
                          assertThat(((ConfigurableApplicationContext) b).isRunning()).isTrue();
                        }));
  }

  @Test
  void aClusterSecretFromPropertiesLetsMembersTalkAndKeepsOthersOut() throws IOException {
    int portA = freePort();
    int portB = freePort();
    String peers = "shardcache.peers=127.0.0.1:" + portA + ",127.0.0.1:" + portB;
    ApplicationContextRunner app =
        new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(ShardcacheAutoConfiguration.class))
            .withUserConfiguration(AnnotatedService.class)
            .withPropertyValues(peers);
    app.withPropertyValues(
            "shardcache.port=" + portA, "shardcache.cluster-secret=correct horse battery staple")
        .run(
            a ->
                app.withPropertyValues(
                        "shardcache.port=" + portB,
                        "shardcache.cluster-secret=correct horse battery staple")
                    .run(
                        b -> {
                          for (int k = 0; k < 10; k++) {
                            assertThat(b.getBean(AnnotatedService.class).quote("s" + k))
                                .isEqualTo(a.getBean(AnnotatedService.class).quote("s" + k));
                          }
                          assertThat(
                                  a.getBean(AnnotatedService.class).calls()
                                      + b.getBean(AnnotatedService.class).calls())
                              .isEqualTo(10);
                        }));
  }

  @Test
  void aClientOnlyApplicationSharesTheMembersCacheWithoutAPortOrARingPlace() throws IOException {
    int port = freePort();
    String member = "127.0.0.1:" + port;
    ApplicationContextRunner app =
        new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(ShardcacheAutoConfiguration.class))
            .withUserConfiguration(AnnotatedService.class)
            .withPropertyValues("shardcache.peers=" + member);
    app.withPropertyValues("shardcache.port=" + port)
        .run(
            a ->
                app.withPropertyValues("shardcache.client-only=true")
                    .run(
                        client -> {
                          assertThat(client).hasNotFailed();
                          ShardcacheNode node = client.getBean(ShardcacheNode.class);
                          assertThat(node.isClientOnly()).isTrue();
                          assertThat(node.address()).startsWith("client-");
                          assertThat(node.ring().nodes()).containsExactly(member);
                          for (int k = 0; k < 10; k++) {
                            assertThat(client.getBean(AnnotatedService.class).quote("c" + k))
                                .isEqualTo(a.getBean(AnnotatedService.class).quote("c" + k));
                          }
                          assertThat(
                                  a.getBean(AnnotatedService.class).calls()
                                      + client.getBean(AnnotatedService.class).calls())
                              .as("each quote computed once, through the client or the member")
                              .isEqualTo(10);
                          assertThat(a.getBean(ShardcacheNode.class).ring().nodes())
                              .containsExactly(member);
                          assertThat(new ShardcacheHealthIndicator(node).health().getDetails())
                              .containsEntry("clientOnly", true);
                        }));
  }

  @Test
  void aClientOnlyNodeRefusesWhatOnlyAMemberUsesAndNeedsPeers() {
    ApplicationContextRunner client =
        new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(ShardcacheAutoConfiguration.class))
            .withPropertyValues("shardcache.client-only=true");
    client
        .withPropertyValues("shardcache.peers=127.0.0.1:1", "shardcache.port=7070")
        .run(
            context ->
                assertThat(context)
                    .hasFailed()
                    .getFailure()
                    .rootCause()
                    .hasMessage(
                        "shardcache.client-only=true makes a node that binds no port and serves no"
                            + " client, so shardcache.port must be unset: remove it, or set"
                            + " shardcache.client-only=false for a member that holds a shard"));
    client
        .withPropertyValues(
            "shardcache.peers=127.0.0.1:1",
            "shardcache.listen-host=0.0.0.0",
            "shardcache.advertise-host=node-a",
            "shardcache.max-subscribed-clients=5")
        .run(
            context ->
                assertThat(context)
                    .hasFailed()
                    .getFailure()
                    .rootCause()
                    .hasMessageContaining(
                        "shardcache.listen-host, shardcache.advertise-host,"
                            + " shardcache.max-subscribed-clients must all be unset"));
    client.run(
        context ->
            assertThat(context)
                .hasFailed()
                .getFailure()
                .rootCause()
                .hasMessage(
                    "shardcache.client-only=true needs shardcache.peers: the members' host:port,"
                        + " to which it sends every read and write"));
  }

  @Test
  void incompleteTlsPropertiesFailAtStartWithAMessage() {
    runner
        .withPropertyValues("shardcache.tls.certificate-chain=/nonexistent/node.crt")
        .run(
            context ->
                assertThat(context)
                    .hasFailed()
                    .getFailure()
                    .rootCause()
                    .hasMessageContaining("shardcache.tls.private-key"));
  }

  private static CacheConfig<?, ?> cacheConfig(ShardcacheNode node, String name) {
    return node.caches().stream()
        .filter(c -> c.name().equals(name))
        .findFirst()
        .orElseThrow()
        .config();
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  @Configuration(proxyBeanMethods = false)
  @EnableCaching
  static class AnnotatedService {
    private final AtomicInteger calls = new AtomicInteger();

    @Cacheable("quotes")
    public String quote(String id) {
      calls.incrementAndGet();
      return "quote " + id;
    }

    public int calls() {
      return calls.get();
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class OwnCacheManager {
    @Bean
    CacheManager cacheManager() {
      return new ConcurrentMapCacheManager();
    }
  }
}
