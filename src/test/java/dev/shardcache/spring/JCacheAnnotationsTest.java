package dev.shardcache.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.spring.boot.ShardcacheNodeLifecycle;
import dev.shardcache.testing.TestCluster;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import javax.cache.annotation.CacheDefaults;
import javax.cache.annotation.CacheKey;
import javax.cache.annotation.CachePut;
import javax.cache.annotation.CacheRemove;
import javax.cache.annotation.CacheRemoveAll;
import javax.cache.annotation.CacheResult;
import javax.cache.annotation.CacheValue;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.springframework.cache.annotation.EnableCaching;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The JSR-107 annotations, through Spring's own JCache support (spring-context-support), on a
 * {@link ShardcacheCacheManager} over a real two-node cluster on 127.0.0.1.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class JCacheAnnotationsTest {
  private TestCluster cluster;
  private final List<AnnotationConfigApplicationContext> contexts = new ArrayList<>();

  @BeforeAll
  void startCluster() {
    cluster = TestCluster.builder().size(2).started(false).build();
    for (int i = 0; i < 2; i++) {
      ShardcacheNode node = cluster.node(i);
      AnnotationConfigApplicationContext context = new AnnotationConfigApplicationContext();
      context.registerBean(ShardcacheNode.class, () -> node);
      context.register(JsrConfig.class);
      context.refresh();
      contexts.add(context);
    }
    cluster.joinAll();
  }

  @AfterAll
  void stopCluster() {
    contexts.forEach(AnnotationConfigApplicationContext::close);
    cluster.close();
  }

  @BeforeEach
  void reset() {
    ShardcacheCacheManager manager = contexts.get(0).getBean(ShardcacheCacheManager.class);
    manager.getCacheNames().forEach(name -> manager.getCache(name).clear());
    contexts.forEach(c -> c.getBean(AuthorService.class).resetCalls());
  }

  @Test
  void cachesNamedByTheAnnotationsAndTheirDefaultsAreDefinedOnEveryNode() {
    for (ShardcacheNode node : cluster.nodes()) {
      assertThat(node.caches().stream().map(DistributedCache::name).collect(Collectors.toSet()))
          .contains(
              "authors",
              "pairs",
              "dev.shardcache.spring.JCacheAnnotationsTest$NicknameService.nickname(java.lang.String)");
    }
  }

  @Test
  void cacheResultThroughOneNodeIsServedByTheOther() {
    for (int k = 0; k < 20; k++) {
      String first = service(k % 2).find("a" + k);
      assertThat(service((k + 1) % 2).find("a" + k)).isEqualTo(first);
    }
    assertThat(totalCalls("find")).isEqualTo(20);
  }

  @Test
  void cacheKeyChoosesTheKeyArguments() {
    String first = service(0).pair("x", 1, "ignored-1");
    assertThat(service(1).pair("x", 1, "ignored-2")).isEqualTo(first);
    assertThat(totalCalls("pair")).isEqualTo(1);
    service(1).pair("x", 2, "ignored-1");
    assertThat(totalCalls("pair")).isEqualTo(2);
  }

  @Test
  void defaultCacheNameIsTheMethodSignature() {
    NicknameService first = contexts.get(0).getBean(NicknameService.class);
    NicknameService second = contexts.get(1).getBean(NicknameService.class);
    String value = first.nickname("ursula");
    assertThat(second.nickname("ursula")).isEqualTo(value);
    assertThat(first.calls() + second.calls()).isEqualTo(1);
  }

  @Test
  void cachePutStoresTheCacheValueForTheOtherArguments() {
    service(1).save("a-put", "Ursula K. Le Guin");
    assertThat(service(0).find("a-put")).isEqualTo("Ursula K. Le Guin");
    assertThat(service(1).find("a-put")).isEqualTo("Ursula K. Le Guin");
    assertThat(totalCalls("find")).isZero();
  }

  @Test
  void cacheRemoveEvictsTheKeyOnItsOwner() {
    service(0).find("a-rm");
    service(1).delete("a-rm");
    service(0).find("a-rm");
    assertThat(totalCalls("find")).isEqualTo(2);
  }

  @Test
  void cacheRemoveAllClearsEveryNode() {
    for (int k = 0; k < 20; k++) {
      service(k % 2).find("all-" + k);
    }
    service(1).deleteAll();
    for (int k = 0; k < 20; k++) {
      service(k % 2).find("all-" + k);
    }
    assertThat(totalCalls("find")).isEqualTo(40);
  }

  private AuthorService service(int node) {
    return contexts.get(node).getBean(AuthorService.class);
  }

  private int totalCalls(String method) {
    return contexts.stream().mapToInt(c -> c.getBean(AuthorService.class).callsOf(method)).sum();
  }

  @Configuration(proxyBeanMethods = false)
  @EnableCaching
  static class JsrConfig {
    @Bean
    ShardcacheCacheManager cacheManager(ShardcacheNode node) {
      return ShardcacheCacheManager.builder(node).dynamic(false).build();
    }

    @Bean
    AnnotatedCacheRegistrar annotatedCacheRegistrar(ShardcacheCacheManager cacheManager) {
      return new AnnotatedCacheRegistrar(cacheManager);
    }

    @Bean
    ShardcacheNodeLifecycle shardcacheNodeLifecycle(ShardcacheNode node) {
      return new ShardcacheNodeLifecycle(node);
    }

    @Bean
    AuthorService authorService() {
      return new AuthorService();
    }

    @Bean
    NicknameService nicknameService() {
      return new NicknameService();
    }
  }

  /** No {@code @CacheDefaults}: the cache is named after the method's signature. */
  static class NicknameService {
    private final AtomicInteger calls = new AtomicInteger();

    public int calls() {
      return calls.get();
    }

    @CacheResult
    public String nickname(String id) {
      return "nick " + id + " #" + calls.incrementAndGet();
    }
  }

  /** JSR-107 annotations only; counts its calls per method. */
  @CacheDefaults(cacheName = "authors")
  static class AuthorService {
    private final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();

    public int callsOf(String method) {
      AtomicInteger count = calls.get(method);
      return count == null ? 0 : count.get();
    }

    public void resetCalls() {
      calls.clear();
    }

    private void called(String method) {
      calls.computeIfAbsent(method, m -> new AtomicInteger()).incrementAndGet();
    }

    @CacheResult
    public String find(String id) {
      called("find");
      return "author " + id + " #" + callsOf("find");
    }

    @CacheResult(cacheName = "pairs")
    public String pair(@CacheKey String a, @CacheKey int b, String notPartOfTheKey) {
      called("pair");
      return a + b + " #" + callsOf("pair");
    }

    @CachePut
    public void save(String id, @CacheValue String name) {
      called("save");
    }

    @CacheRemove
    public void delete(String id) {
      called("delete");
    }

    @CacheRemoveAll
    public void deleteAll() {
      called("deleteAll");
    }
  }
}
