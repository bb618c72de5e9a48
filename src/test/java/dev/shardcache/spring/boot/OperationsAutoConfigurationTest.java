package dev.shardcache.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.ShardcacheNode;
import dev.shardcache.micrometer.ShardcacheMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.cache.autoconfigure.metrics.CacheMetricsAutoConfiguration;
import org.springframework.boot.cache.metrics.CacheMeterBinderProvider;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.micrometer.metrics.actuate.endpoint.MetricsEndpoint;
import org.springframework.boot.micrometer.metrics.autoconfigure.CompositeMeterRegistryAutoConfiguration;
import org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration;
import org.springframework.boot.micrometer.metrics.autoconfigure.export.simple.SimpleMetricsExportAutoConfiguration;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.cache.Cache;
import org.springframework.cache.CacheManager;
import org.springframework.cache.annotation.Cacheable;
import org.springframework.cache.annotation.EnableCaching;
import org.springframework.context.annotation.Configuration;

/**
 * What an operator of a Boot application gets with no code: the Actuator health indicator, and the
 * caches' meters by Micrometer's cache names, bound by Spring Boot's own cache metrics (so {@code
 * /actuator/metrics/cache.gets} answers, read here through the endpoint class that serves it), or
 * by {@link ShardcacheMetrics} when Boot's cache metrics are not on the class path.
 */
class OperationsAutoConfigurationTest {
  private final ApplicationContextRunner runner =
      new ApplicationContextRunner()
          .withConfiguration(AutoConfigurations.of(ShardcacheAutoConfiguration.class))
          .withPropertyValues("shardcache.port=0", "shardcache.caches.books.maximum-size=100");

  @Test
  void theHealthIndicatorReportsMembersSuspectsAndBacklog() {
    HealthIndicator[] kept = new HealthIndicator[1];
    runner.run(
        context -> {
          assertThat(context).hasBean("shardcacheHealthIndicator");
          HealthIndicator indicator = context.getBean(ShardcacheHealthIndicator.class);
          kept[0] = indicator;
          ShardcacheNode node = context.getBean(ShardcacheNode.class);
          Health health = indicator.health();
          assertThat(health.getStatus()).isEqualTo(Status.UP);
          assertThat(health.getDetails())
              .containsEntry("address", node.address())
              .containsEntry("members", List.of(node.address()))
              .containsEntry("peers", 0)
              .containsEntry("suspectedPeers", List.of())
              .containsEntry("replicationBacklog", 0L)
              .containsEntry("caches", List.of("books"));
        });
    Health afterClose = kept[0].health();
    assertThat(afterClose.getStatus()).isEqualTo(Status.DOWN);
    assertThat(afterClose.getDetails()).containsKey("reason");
  }

  @Test
  void theHealthIndicatorNeedsTheActuatorAndCanBeTurnedOff() {
    runner
        .withClassLoader(new FilteredClassLoader(HealthIndicator.class))
        .run(
            context -> {
              assertThat(context).hasNotFailed();
              assertThat(context).doesNotHaveBean("shardcacheHealthIndicator");
            });
    runner
        .withPropertyValues("management.health.shardcache.enabled=false")
        .run(context -> assertThat(context).doesNotHaveBean("shardcacheHealthIndicator"));
  }

  @Test
  void springBootsCacheMetricsBindEveryCacheSoTheMetricsEndpointAnswers() {
    runner
        .withConfiguration(
            AutoConfigurations.of(
                MetricsAutoConfiguration.class,
                CompositeMeterRegistryAutoConfiguration.class,
                SimpleMetricsExportAutoConfiguration.class,
                CacheMetricsAutoConfiguration.class))
        .withUserConfiguration(QuoteService.class)
        .run(
            context -> {
              assertThat(context).hasNotFailed();
              assertThat(context).hasSingleBean(ShardcacheCacheMeterBinderProvider.class);
              QuoteService service = context.getBean(QuoteService.class);
              service.quote("a");
              service.quote("a");
              service.quote("b");
              MeterRegistry registry = context.getBean(MeterRegistry.class);
              MetricsEndpoint endpoint = new MetricsEndpoint(registry);

              // "quotes" is named only by the annotation, so it is defined after Boot's binding.
              assertThat(value(endpoint, "cache.gets", "cache:quotes", "result:hit")).isEqualTo(1);
              assertThat(value(endpoint, "cache.gets", "cache:quotes", "result:miss")).isEqualTo(2);
              assertThat(value(endpoint, "cache.puts", "cache:quotes")).isEqualTo(2);
              assertThat(value(endpoint, "cache.size", "cache:quotes")).isEqualTo(2);
              assertThat(value(endpoint, "cache.size", "cache:books")).isZero();
              assertThat(value(endpoint, "shardcache.cache.remote.calls", "cache:quotes")).isZero();
              assertThat(value(endpoint, "shardcache.ring.members")).isEqualTo(1);
              assertThat(tags(endpoint, "cache.gets"))
                  .containsEntry("cache.manager", List.of("cacheManager"))
                  .containsKey("name");
              assertThat(registry.find("cache.gets").tag("cache", "quotes").meters())
                  .as("hit and miss, each registered once")
                  .hasSize(2);
            });
  }

  @Test
  void withoutBootsCacheMetricsShardcacheMetricsBindsTheCaches() {
    runner
        .withClassLoader(new FilteredClassLoader(CacheMeterBinderProvider.class))
        .withBean(SimpleMeterRegistry.class, SimpleMeterRegistry::new)
        .run(
            context -> {
              assertThat(context).hasNotFailed();
              assertThat(context).doesNotHaveBean(ShardcacheCacheMeterBinderProvider.class);
              // The Spring cache as @Cacheable uses it (with a filtering class loader, Spring
              // cannot proxy a test's annotated class).
              Cache books = context.getBean(CacheManager.class).getCache("books");
              assertThat(books.get("a")).isNull();
              books.put("a", "A");
              MeterRegistry registry = context.getBean(MeterRegistry.class);
              assertThat(
                      registry
                          .get("cache.gets")
                          .tags("cache", "books", "result", "miss")
                          .functionCounter()
                          .count())
                  .isEqualTo(1);
              assertThat(registry.get("cache.size").tag("cache", "books").gauge().value())
                  .isEqualTo(1);
              assertThat(registry.get("cache.gets").meter().getId().getTag("cache.manager"))
                  .isNull();
            });
  }

  private static double value(MetricsEndpoint endpoint, String name, String... tags) {
    MetricsEndpoint.MetricDescriptor metric = endpoint.metric(name, List.of(tags));
    assertThat(metric).as("%s %s", name, List.of(tags)).isNotNull();
    return metric.getMeasurements().get(0).getValue();
  }

  private static Map<String, List<String>> tags(MetricsEndpoint endpoint, String name) {
    return endpoint.metric(name, null).getAvailableTags().stream()
        .collect(
            java.util.stream.Collectors.toMap(
                MetricsEndpoint.AvailableTag::getTag, t -> List.copyOf(t.getValues())));
  }

  @Configuration(proxyBeanMethods = false)
  @EnableCaching
  static class QuoteService {
    private final AtomicInteger calls = new AtomicInteger();

    @Cacheable("quotes")
    public String quote(String id) {
      calls.incrementAndGet();
      return "quote " + id;
    }
  }
}
