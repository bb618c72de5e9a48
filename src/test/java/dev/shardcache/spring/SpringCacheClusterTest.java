package dev.shardcache.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.objects.StableKey;
import dev.shardcache.spring.boot.ShardcacheNodeLifecycle;
import dev.shardcache.testing.TestCluster;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.springframework.cache.annotation.CacheConfig;
import org.springframework.cache.annotation.CacheEvict;
import org.springframework.cache.annotation.CachePut;
import org.springframework.cache.annotation.Cacheable;
import org.springframework.cache.annotation.Caching;
import org.springframework.cache.annotation.EnableCaching;
import org.springframework.cache.interceptor.SimpleKey;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Spring's caching annotations on a real three-node cluster on 127.0.0.1: one Spring context per
 * node, each with its own {@link ShardcacheCacheManager} and its own instance of the annotated
 * service. Every assertion about "the method was not called again" counts the calls of all three
 * instances.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SpringCacheClusterTest {
  private static final int NODES = 3;

  private TestCluster cluster;
  private final List<AnnotationConfigApplicationContext> contexts = new ArrayList<>();
  private ExecutorService pool;

  @BeforeAll
  void startCluster() {
    cluster = TestCluster.builder().size(NODES).started(false).build();
    for (int i = 0; i < NODES; i++) {
      ShardcacheNode node = cluster.node(i);
      AnnotationConfigApplicationContext context = new AnnotationConfigApplicationContext();
      context.registerBean(ShardcacheNode.class, () -> node);
      String name = "node" + i;
      context.registerBean("nodeName", String.class, () -> name);
      context.register(NodeConfig.class);
      contexts.add(context);
      context.refresh(); // defines the annotated caches, then starts the node (lifecycle bean)
    }
    cluster.joinAll();
    pool = Executors.newFixedThreadPool(48);
  }

  @AfterAll
  void stopCluster() {
    if (pool != null) {
      pool.shutdownNow();
    }
    contexts.forEach(AnnotationConfigApplicationContext::close);
    cluster.close();
  }

  @BeforeEach
  void emptyCaches() {
    ShardcacheCacheManager manager = manager(0);
    manager.getCacheNames().forEach(name -> manager.getCache(name).clear());
    contexts.forEach(c -> c.getBean(BookService.class).resetCalls());
  }

  @Test
  void everyNodeDefinesTheAnnotatedCachesBeforeServing() {
    for (int i = 0; i < NODES; i++) {
      Set<String> defined =
          cluster.node(i).caches().stream().map(DistributedCache::name).collect(Collectors.toSet());
      assertThat(defined).containsExactlyInAnyOrder("books", "shelves", "slow", "maybe", "search");
      assertThat(cluster.node(i).isRunning()).isTrue();
    }
  }

  @Test
  void cacheableValueCachedThroughOneNodeIsServedByTheOthers() {
    for (int k = 0; k < 30; k++) {
      String isbn = "isbn-" + k;
      String first = service(k % NODES).find(isbn);
      for (int i = 0; i < NODES; i++) {
        assertThat(service(i).find(isbn)).isEqualTo(first);
      }
    }
    assertThat(totalCalls("find")).isEqualTo(30);
    // The keys spread over all three owners, so most reads crossed the network.
    long held = 0;
    for (int i = 0; i < NODES; i++) {
      long size = manager(i).getCache("books").getNativeCache().localSize();
      assertThat(size).as("node %s holds some keys", i).isPositive();
      held += size;
    }
    assertThat(held).isEqualTo(30);
  }

  @Test
  void multiArgumentKeysAreEqualOnEveryNodeAndFindOneOwner() {
    for (int row = 0; row < 20; row++) {
      StableKey key = cache(0, "shelves").stableKey(new SimpleKey("hall", row));
      for (int i = 1; i < NODES; i++) {
        ShardcacheCache other = cache(i, "shelves");
        assertThat(other.stableKey(new SimpleKey("hall", row))).isEqualTo(key);
        assertThat(other.getNativeCache().ownerOf(key))
            .isEqualTo(cache(0, "shelves").getNativeCache().ownerOf(key));
      }
      String first = service(row % NODES).shelf("hall", row);
      assertThat(service((row + 1) % NODES).shelf("hall", row)).isEqualTo(first);
      assertThat(service((row + 2) % NODES).shelf("hall", row)).isEqualTo(first);
    }
    assertThat(totalCalls("shelf")).isEqualTo(20);
  }

  @Test
  void mapKeysBuiltInDifferentOrdersOnDifferentNodesAreOneKey() {
    Map<String, String> filter = new HashMap<>();
    filter.put("author", "Le Guin");
    filter.put("year", "1969");
    filter.put("lang", "en");
    Map<String, String> reversed = new LinkedHashMap<>();
    new TreeMap<>(filter).descendingMap().forEach(reversed::put);

    List<String> first = service(0).search(filter);
    assertThat(service(1).search(reversed)).isEqualTo(first);
    assertThat(service(2).search(new TreeMap<>(filter))).isEqualTo(first);
    assertThat(totalCalls("search")).isEqualTo(1);
  }

  @Test
  void cachePutThroughOneNodeIsReadByTheOthers() {
    service(0).find("isbn-p");
    service(1).update("isbn-p", "The Dispossessed");
    for (int i = 0; i < NODES; i++) {
      assertThat(service(i).find("isbn-p")).isEqualTo("The Dispossessed");
    }
    assertThat(totalCalls("find")).isEqualTo(1);
  }

  @Test
  void cacheEvictThroughOneNodeIsSeenByTheOthers() {
    String before = service(0).find("isbn-e");
    service(2).remove("isbn-e");
    assertThat(service(1).find("isbn-e")).isEqualTo(before.replace("node0", "node1"));
    assertThat(totalCalls("find")).isEqualTo(2);
    assertThat(service(0).find("isbn-e")).isEqualTo(service(1).find("isbn-e"));
    assertThat(totalCalls("find")).isEqualTo(2);
  }

  @Test
  void evictAllEntriesClearsEveryNode() {
    for (int k = 0; k < 30; k++) {
      service(k % NODES).find("isbn-" + k);
    }
    service(1).clear();
    for (int i = 0; i < NODES; i++) {
      assertThat(manager(i).getCache("books").getNativeCache().localSize()).isZero();
    }
    for (int k = 0; k < 30; k++) {
      service(2).find("isbn-" + k);
    }
    assertThat(totalCalls("find")).isEqualTo(60);
  }

  @Test
  void cachingCombinesAnEvictionOfOneCacheWithAPutInAnother() {
    service(0).shelf("hall", 1);
    service(0).find("isbn-c");
    String restocked = service(1).restock("isbn-c");
    assertThat(service(2).find("isbn-c")).isEqualTo(restocked);
    service(2).shelf("hall", 1);
    assertThat(totalCalls("shelf")).isEqualTo(2); // the shelves were evicted everywhere
    assertThat(totalCalls("find")).isEqualTo(1);
  }

  @Test
  void nullResultsAreCachedAndServedByOtherNodes() {
    assertThat(service(0).maybe("nothing")).isNull();
    assertThat(service(1).maybe("nothing")).isNull();
    assertThat(service(2).maybe("nothing")).isNull();
    assertThat(totalCalls("maybe")).isEqualTo(1);
  }

  @Test
  void syncCallsOnOneNodeRunTheMethodOnce() throws Exception {
    for (int node = 0; node < NODES; node++) {
      String key = "hot-" + node;
      List<String> values = concurrently(List.of(node), 16, key);
      assertThat(Set.copyOf(values)).hasSize(1);
      assertThat(totalCalls("slow:" + key)).as("calls through node %s", node).isEqualTo(1);
    }
  }

  @Test
  void syncCallsOnEveryNodeRunTheMethodAtMostOncePerNodeAndAgreeOnTheValue() throws Exception {
    List<String> values = concurrently(List.of(0, 1, 2), 8, "hot");
    assertThat(Set.copyOf(values)).hasSize(1);
    assertThat(totalCalls("slow:hot")).isBetween(1, NODES);
    // and once cached, no node calls it again
    for (int i = 0; i < NODES; i++) {
      assertThat(service(i).slow("hot")).isEqualTo(values.get(0));
    }
    assertThat(totalCalls("slow:hot")).isBetween(1, NODES);
  }

  private List<String> concurrently(List<Integer> nodes, int threadsPerNode, String key)
      throws Exception {
    CountDownLatch start = new CountDownLatch(1);
    List<Future<String>> futures = new ArrayList<>();
    for (int node : nodes) {
      for (int t = 0; t < threadsPerNode; t++) {
        futures.add(
            pool.submit(
                () -> {
                  start.await();
                  return service(node).slow(key);
                }));
      }
    }
    start.countDown();
    List<String> values = new ArrayList<>();
    for (Future<String> f : futures) {
      values.add(f.get(10, TimeUnit.SECONDS));
    }
    return values;
  }

  private BookService service(int node) {
    return contexts.get(node).getBean(BookService.class);
  }

  private ShardcacheCacheManager manager(int node) {
    return contexts.get(node).getBean(ShardcacheCacheManager.class);
  }

  private ShardcacheCache cache(int node, String name) {
    return manager(node).getCache(name);
  }

  private int totalCalls(String method) {
    return contexts.stream().mapToInt(c -> c.getBean(BookService.class).callsOf(method)).sum();
  }

  @Configuration(proxyBeanMethods = false)
  @EnableCaching
  static class NodeConfig {
    @Bean
    ShardcacheCacheManager cacheManager(ShardcacheNode node) {
      // not dynamic: every cache must have been defined by the registrar
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
    BookService bookService(String nodeName) {
      return new BookService(nodeName);
    }
  }

  /**
   * The annotated service; each node's instance counts its own calls per method (read through
   * methods: the bean is a CGLIB proxy, whose own fields are not the target's).
   */
  @CacheConfig(cacheNames = "books")
  static class BookService {
    private final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    private final String node;

    BookService(String node) {
      this.node = node;
    }

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

    @Cacheable
    public String find(String isbn) {
      called("find");
      return "book " + isbn + " loaded by " + node;
    }

    @Cacheable(cacheNames = "shelves")
    public String shelf(String room, int row) {
      called("shelf");
      return room + "/" + row + " listed by " + node;
    }

    @Cacheable(cacheNames = "search")
    public List<String> search(Map<String, String> filter) {
      called("search");
      return List.of("result for " + new TreeMap<>(filter), node);
    }

    // #p0 rather than #isbn: the build does not compile with -parameters
    @CachePut(key = "#p0")
    public String update(String isbn, String title) {
      called("update");
      return title;
    }

    @CacheEvict
    public void remove(String isbn) {
      called("remove");
    }

    @CacheEvict(allEntries = true)
    public void clear() {
      called("clear");
    }

    @Caching(
        evict = @CacheEvict(cacheNames = "shelves", allEntries = true),
        put = @CachePut(key = "#p0"))
    public String restock(String isbn) {
      called("restock");
      return "restocked " + isbn + " by " + node;
    }

    @Cacheable(cacheNames = "slow", sync = true)
    public String slow(String key) throws InterruptedException {
      called("slow:" + key);
      Thread.sleep(300);
      return key + " computed by " + node;
    }

    @Cacheable(cacheNames = "maybe")
    public String maybe(String key) {
      called("maybe");
      return null;
    }
  }
}
