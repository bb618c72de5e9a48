package dev.shardcache.annotation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.objects.StableKey;
import dev.shardcache.objects.StableKeyEncoder;
import dev.shardcache.testing.TestCluster;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.cache.annotation.CacheDefaults;
import javax.cache.annotation.CacheKey;
import javax.cache.annotation.CacheKeyGenerator;
import javax.cache.annotation.CacheKeyInvocationContext;
import javax.cache.annotation.CachePut;
import javax.cache.annotation.CacheRemove;
import javax.cache.annotation.CacheRemoveAll;
import javax.cache.annotation.CacheResult;
import javax.cache.annotation.CacheValue;
import javax.cache.annotation.GeneratedCacheKey;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The plain-Java proxy on a real two-node cluster on 127.0.0.1, one proxy per node. */
class CachingProxyTest {

  public record Book(String isbn, String title) implements Serializable {}

  public static class NotFound extends Exception {
    private static final long serialVersionUID = 1L;

    NotFound(String message) {
      super(message);
    }
  }

  @CacheDefaults(cacheName = "books")
  public interface Books {
    @CacheResult
    Book find(String isbn) throws NotFound;

    @CacheResult(cacheName = "editions")
    String edition(@CacheKey String isbn, @CacheKey int year, String notPartOfTheKey);

    @CacheResult(skipGet = true)
    Book refresh(String isbn);

    @CachePut
    void save(String isbn, @CacheValue Book book);

    @CachePut(afterInvocation = false)
    void saveFirst(String isbn, @CacheValue Book book) throws IOException;

    @CachePut(cacheFor = IllegalStateException.class)
    void saveEvenIfRejected(String isbn, @CacheValue Book book);

    @CacheRemove
    void delete(String isbn) throws IOException;

    @CacheRemove(noEvictFor = IllegalArgumentException.class)
    void deleteUnlessInvalid(String isbn);

    @CacheRemoveAll
    void deleteAll();

    @CacheResult
    Book maybe(String isbn);

    int count(); // not annotated: always called
  }

  /** No @CacheDefaults: the cache is named after the method. */
  public interface Prices {
    @CacheResult
    long price(String sku, int quantity);
  }

  static final class Library implements Books, Prices {
    final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    final String node;
    volatile RuntimeException failure;

    Library(String node) {
      this.node = node;
    }

    int calls(String method) {
      AtomicInteger count = calls.get(method);
      return count == null ? 0 : count.get();
    }

    private void called(String method) {
      calls.computeIfAbsent(method, m -> new AtomicInteger()).incrementAndGet();
      if (failure != null) {
        throw failure;
      }
    }

    @Override
    public Book find(String isbn) throws NotFound {
      called("find");
      if (isbn.startsWith("missing")) {
        throw new NotFound(isbn);
      }
      sleepQuietly(isbn.startsWith("slow") ? 300 : 0);
      return new Book(isbn, "found by " + node);
    }

    @Override
    public String edition(String isbn, int year, String notPartOfTheKey) {
      called("edition");
      return isbn + "/" + year + " by " + node;
    }

    @Override
    public Book refresh(String isbn) {
      called("refresh");
      return new Book(isbn, "refreshed by " + node + " #" + calls("refresh"));
    }

    @Override
    public void save(String isbn, Book book) {
      called("save");
    }

    @Override
    public void saveFirst(String isbn, Book book) throws IOException {
      called("saveFirst");
      throw new IOException("disk full");
    }

    @Override
    public void saveEvenIfRejected(String isbn, Book book) {
      called("saveEvenIfRejected");
    }

    @Override
    public void delete(String isbn) throws IOException {
      called("delete");
    }

    @Override
    public void deleteUnlessInvalid(String isbn) {
      called("deleteUnlessInvalid");
    }

    @Override
    public void deleteAll() {
      called("deleteAll");
    }

    @Override
    public Book maybe(String isbn) {
      called("maybe");
      return null;
    }

    @Override
    public int count() {
      called("count");
      return calls.size();
    }

    @Override
    public long price(String sku, int quantity) {
      called("price");
      return sku.length() * 100L * quantity;
    }

    private static void sleepQuietly(long millis) {
      try {
        Thread.sleep(millis);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private TestCluster cluster;
  private final List<Library> libraries = new ArrayList<>();
  private final List<Books> books = new ArrayList<>();
  private final List<Prices> prices = new ArrayList<>();

  @BeforeEach
  void startCluster() {
    cluster = TestCluster.builder().size(2).started(false).build();
    for (int i = 0; i < 2; i++) {
      Library library = new Library("node" + i);
      CachingProxy proxies =
          CachingProxy.builder(cluster.node(i))
              .allowedValueClasses(Book.class.getName())
              .configure((name, config) -> config.maximumSize(1_000))
              .build();
      libraries.add(library);
      books.add(proxies.wrap(Books.class, library));
      prices.add(proxies.wrap(Prices.class, library));
    }
    cluster.startAndJoin();
  }

  @AfterEach
  void stopCluster() {
    cluster.close();
  }

  private int calls(String method) {
    return libraries.stream().mapToInt(l -> l.calls(method)).sum();
  }

  private DistributedCache<?, ?> cache(int node, String name) {
    return cluster.node(node).caches().stream()
        .filter(c -> c.name().equals(name))
        .findFirst()
        .orElseThrow();
  }

  @Test
  void cacheResultThroughOneNodeIsServedByTheOther() throws Exception {
    for (int k = 0; k < 20; k++) {
      Book first = books.get(k % 2).find("isbn-" + k);
      assertThat(books.get((k + 1) % 2).find("isbn-" + k)).isEqualTo(first);
    }
    assertThat(calls("find")).isEqualTo(20);
    assertThat(cache(0, "books").localSize() + cache(1, "books").localSize()).isEqualTo(20);
    assertThat(cache(0, "books").localSize()).isPositive();
    assertThat(cache(1, "books").localSize()).isPositive();
  }

  @Test
  void cacheKeyArgumentsFormTheKeyAndDefaultNamesAreTheSignature() {
    String first = books.get(0).edition("isbn-e", 1969, "a");
    assertThat(books.get(1).edition("isbn-e", 1969, "b")).isEqualTo(first);
    books.get(1).edition("isbn-e", 1970, "a");
    assertThat(calls("edition")).isEqualTo(2);

    assertThat(prices.get(0).price("sku", 3)).isEqualTo(900);
    assertThat(prices.get(1).price("sku", 3)).isEqualTo(900);
    assertThat(calls("price")).isEqualTo(1);
    assertThat(cluster.node(1).caches())
        .extracting(DistributedCache::name)
        .contains(CachingProxyTest.class.getName() + "$Prices.price(java.lang.String,int)");
  }

  @Test
  void keysAreTheOnesSpringsSimpleKeyGeneratorMakes() {
    @SuppressWarnings("unchecked")
    DistributedCache<StableKey, Object> editions =
        (DistributedCache<StableKey, Object>) cache(0, "editions");
    books.get(1).edition("isbn-k", 2001, "x");
    StableKey key = StableKeyEncoder.standard().encodeArguments("isbn-k", 2001);
    assertThat(editions.getIfPresent(key)).isEqualTo("isbn-k/2001 by node1");
  }

  @Test
  void skipGetAlwaysCallsAndCachesTheResult() throws Exception {
    books.get(0).refresh("isbn-s");
    Book second = books.get(1).refresh("isbn-s");
    assertThat(calls("refresh")).isEqualTo(2);
    assertThat(books.get(0).find("isbn-s")).isEqualTo(second); // the refreshed value is cached
    assertThat(calls("find")).isZero();
  }

  @Test
  void cachePutStoresTheValueAfterTheCallOnlyIfItReturned() throws Exception {
    Book book = new Book("isbn-p", "put");
    books.get(0).save("isbn-p", book);
    assertThat(books.get(1).find("isbn-p")).isEqualTo(book);
    assertThat(calls("find")).isZero();

    libraries.forEach(l -> l.failure = new IllegalArgumentException("rejected"));
    assertThatThrownBy(() -> books.get(1).save("isbn-p", new Book("isbn-p", "never")))
        .isInstanceOf(IllegalArgumentException.class);
    libraries.forEach(l -> l.failure = null);
    assertThat(books.get(0).find("isbn-p")).isEqualTo(book);
  }

  @Test
  void cacheForListsTheExceptionsAfterWhichTheValueIsStillPut() throws Exception {
    libraries.forEach(l -> l.failure = new IllegalStateException("late"));
    Book book = new Book("isbn-f", "stored anyway");
    assertThatThrownBy(() -> books.get(0).saveEvenIfRejected("isbn-f", book))
        .isInstanceOf(IllegalStateException.class);
    libraries.forEach(l -> l.failure = null);
    assertThat(books.get(1).find("isbn-f")).isEqualTo(book);
    assertThat(calls("find")).isZero();
  }

  @Test
  void putBeforeInvocationHappensEvenIfTheMethodFails() throws Exception {
    Book book = new Book("isbn-b", "early");
    assertThatThrownBy(() -> books.get(1).saveFirst("isbn-b", book))
        .isInstanceOf(IOException.class);
    assertThat(books.get(0).find("isbn-b")).isEqualTo(book);
  }

  @Test
  void cacheRemoveAndRemoveAllAreSeenByEveryNode() throws Exception {
    books.get(0).find("isbn-r");
    books.get(1).delete("isbn-r");
    books.get(0).find("isbn-r");
    assertThat(calls("find")).isEqualTo(2);

    for (int k = 0; k < 10; k++) {
      books.get(k % 2).find("all-" + k);
    }
    books.get(0).deleteAll();
    assertThat(cache(0, "books").localSize() + cache(1, "books").localSize()).isZero();
  }

  @Test
  void noEvictForKeepsTheEntryWhenTheMethodThrowsThatException() throws Exception {
    Book cached = books.get(0).find("isbn-n");
    libraries.forEach(l -> l.failure = new IllegalArgumentException("invalid"));
    assertThatThrownBy(() -> books.get(1).deleteUnlessInvalid("isbn-n"))
        .isInstanceOf(IllegalArgumentException.class);
    libraries.forEach(l -> l.failure = new UnsupportedOperationException("other"));
    assertThatThrownBy(() -> books.get(1).deleteUnlessInvalid("isbn-x"))
        .isInstanceOf(UnsupportedOperationException.class);
    libraries.forEach(l -> l.failure = null);
    assertThat(books.get(1).find("isbn-n")).isEqualTo(cached);
    assertThat(calls("find")).isEqualTo(1);
  }

  @Test
  void exceptionsAndNullResultsReachTheCallerAndAreNotCached() throws Exception {
    assertThatThrownBy(() -> books.get(0).find("missing-1")).isInstanceOf(NotFound.class);
    assertThatThrownBy(() -> books.get(1).find("missing-1")).isInstanceOf(NotFound.class);
    assertThat(calls("find")).isEqualTo(2);
    assertThat(books.get(0).maybe("m")).isNull();
    assertThat(books.get(1).maybe("m")).isNull();
    assertThat(calls("maybe")).isEqualTo(2);
    assertThat(books.get(0).count()).isPositive();
    assertThat(books.get(0).count()).isPositive();
    assertThat(calls("count")).isEqualTo(2);
  }

  @Test
  void concurrentCallsOfOneKeyOnANodeCallTheMethodOnce() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(16);
    try {
      CountDownLatch start = new CountDownLatch(1);
      List<Future<Book>> futures = new ArrayList<>();
      for (int t = 0; t < 16; t++) {
        futures.add(
            pool.submit(
                () -> {
                  start.await();
                  return books.get(1).find("slow-1");
                }));
      }
      start.countDown();
      Set<Book> seen = new HashSet<>();
      for (Future<Book> f : futures) {
        seen.add(f.get(10, TimeUnit.SECONDS));
      }
      assertThat(seen).hasSize(1);
      assertThat(calls("find")).isEqualTo(1);
    } finally {
      pool.shutdownNow();
    }
  }

  interface TwoAnnotations {
    @CacheResult
    @CacheRemove
    String both(String key);
  }

  interface NoValue {
    @CachePut(cacheName = "x")
    void put(String key, String value);
  }

  interface ExceptionCache {
    @CacheResult(cacheName = "x", exceptionCacheName = "errors")
    String find(String key);
  }

  interface CustomKeys {
    @CacheResult(cacheName = "x", cacheKeyGenerator = MyKeys.class)
    String find(String key);
  }

  interface VoidResult {
    @CacheResult(cacheName = "x")
    void nothing(String key);
  }

  static final class MyKeys implements CacheKeyGenerator {
    @Override
    public GeneratedCacheKey generateCacheKey(
        CacheKeyInvocationContext<? extends java.lang.annotation.Annotation> context) {
      throw new UnsupportedOperationException();
    }
  }

  @Test
  void unsupportedUsesFailWhenTheProxyIsMadeNamingTheMethod() {
    ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    try {
      CachingProxy proxies = CachingProxy.builder(node).build();
      assertThatThrownBy(() -> proxies.wrap(TwoAnnotations.class, key -> key))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("both");
      assertThatThrownBy(() -> proxies.wrap(NoValue.class, (k, v) -> {}))
          .hasMessageContaining("no @CacheValue");
      assertThatThrownBy(() -> proxies.wrap(ExceptionCache.class, key -> key))
          .hasMessageContaining("exceptionCacheName");
      assertThatThrownBy(() -> proxies.wrap(CustomKeys.class, key -> key))
          .hasMessageContaining("cacheKeyGenerator");
      assertThatThrownBy(() -> proxies.wrap(VoidResult.class, key -> {}))
          .hasMessageContaining("void");
      assertThatThrownBy(() -> CachingProxy.builder(node).allowedValueClasses("**"))
          .isInstanceOf(IllegalArgumentException.class);
    } finally {
      node.close();
    }
  }

  @Test
  void valuesOfClassesNotAllowedAreRefusedWhenReadFromAPeer() throws Exception {
    ShardcacheNode a = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    ShardcacheNode b = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    try {
      Books strictA = CachingProxy.wrap(Books.class, new Library("a"), a); // Book not allowed
      Books strictB = CachingProxy.wrap(Books.class, new Library("b"), b);
      a.start();
      b.start();
      a.setPeers(List.of(a.address(), b.address()));
      b.setPeers(List.of(a.address(), b.address()));
      // some key is owned by b: reading its value through a must decode it, and refuse to
      String remoteKey = null;
      for (int k = 0; remoteKey == null; k++) {
        StableKey key = StableKeyEncoder.standard().encode("k" + k);
        if (ownerOf(a, key).equals(b.address())) {
          remoteKey = "k" + k;
        }
      }
      strictB.find(remoteKey);
      String finalKey = remoteKey;
      assertThatThrownBy(() -> strictA.find(finalKey))
          .isInstanceOf(dev.shardcache.CodecException.class)
          .hasMessageContaining("refused to deserialize");
    } finally {
      a.close();
      b.close();
    }
  }

  @SuppressWarnings("unchecked")
  private static String ownerOf(ShardcacheNode node, StableKey key) {
    DistributedCache<StableKey, Object> books =
        (DistributedCache<StableKey, Object>)
            node.caches().stream().filter(c -> c.name().equals("books")).findFirst().orElseThrow();
    return books.ownerOf(key);
  }

  @Test
  void perCacheConfigurationIsApplied() {
    assertThat(cache(0, "books").config().maximumSize()).isEqualTo(1_000);
    assertThat(cache(1, "editions").config().maximumSize()).isEqualTo(1_000);
  }
}
