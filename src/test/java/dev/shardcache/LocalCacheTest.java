package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The behaviour of one cache on a single node, which owns every key. */
class LocalCacheTest {

  private ShardcacheNode node;
  private ExecutorService pool;

  private <V> DistributedCache<String, V> start(CacheConfig<String, V> config) throws IOException {
    node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    DistributedCache<String, V> cache = node.cache("c", config);
    node.start();
    return cache;
  }

  @AfterEach
  void tearDown() {
    if (pool != null) {
      pool.shutdownNow();
    }
    if (node != null) {
      node.close();
    }
  }

  @Test
  void getLoadsOnceAndThenHits() throws IOException {
    AtomicInteger loads = new AtomicInteger();
    DistributedCache<String, String> cache =
        start(
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .loader(k -> "v" + k + loads.incrementAndGet())
                .build());
    assertThat(cache.get("a")).isEqualTo("va1");
    assertThat(cache.get("a")).isEqualTo("va1");
    assertThat(cache.getIfPresent("a")).isEqualTo("va1");
    assertThat(cache.getIfPresent("b")).isNull();
    CacheStats stats = cache.stats();
    assertThat(stats.loadSuccessCount()).isEqualTo(1);
    assertThat(stats.hitCount()).isEqualTo(2);
    assertThat(stats.missCount()).isEqualTo(2);
    assertThat(stats.remoteCallCount()).isZero();
    assertThat(cache.localSize()).isEqualTo(1);
    assertThat(cache.ownerOf("a")).isEqualTo(node.address());
  }

  @Test
  void withoutALoaderGetReturnsNullForAbsentKeys() throws IOException {
    DistributedCache<String, String> cache =
        start(CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build());
    assertThat(cache.get("a")).isNull();
    assertThat(cache.getAsync("a").join()).isNull();
    assertThat(cache.getAll(List.of("a", "b"))).isEmpty();
    cache.put("a", "1");
    assertThat(cache.get("a")).isEqualTo("1");
    assertThat(cache.getAll(List.of("a", "b"))).containsExactly(Map.entry("a", "1"));
    cache.invalidate("a");
    assertThat(cache.get("a")).isNull();
  }

  @Test
  void concurrentMissesCallTheLoaderOnce() throws Exception {
    AtomicInteger loads = new AtomicInteger();
    CountDownLatch release = new CountDownLatch(1);
    DistributedCache<String, String> cache =
        start(
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .loader(
                    k -> {
                      loads.incrementAndGet();
                      release.await();
                      return "v";
                    })
                .build());
    pool = Executors.newFixedThreadPool(16);
    List<Future<String>> reads = new java.util.ArrayList<>();
    for (int i = 0; i < 16; i++) {
      reads.add(pool.submit(() -> cache.get("k")));
    }
    List<CompletableFuture<String>> asyncReads = List.of(cache.getAsync("k"), cache.getAsync("k"));
    Thread.sleep(200); // let every reader reach the flight
    release.countDown();
    for (Future<String> read : reads) {
      assertThat(read.get(10, TimeUnit.SECONDS)).isEqualTo("v");
    }
    for (CompletableFuture<String> read : asyncReads) {
      assertThat(read.get(10, TimeUnit.SECONDS)).isEqualTo("v");
    }
    assertThat(loads.get()).isEqualTo(1);
  }

  @Test
  void anInvalidationDuringALoadIsNotUndoneByIt() throws Exception {
    CountDownLatch loading = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger loads = new AtomicInteger();
    DistributedCache<String, String> cache =
        start(
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .loader(
                    k -> {
                      int n = loads.incrementAndGet();
                      if (n == 1) {
                        loading.countDown();
                        release.await();
                      }
                      return "load" + n;
                    })
                .build());
    pool = Executors.newSingleThreadExecutor();
    Future<String> read = pool.submit(() -> cache.get("k"));
    assertThat(loading.await(10, TimeUnit.SECONDS)).isTrue();
    cache.invalidate("k");
    release.countDown();
    assertThat(read.get(10, TimeUnit.SECONDS))
        .isEqualTo("load1"); // the reader still gets its value
    assertThat(cache.getIfPresent("k")).isNull(); // but it was not stored after the invalidation
    assertThat(cache.get("k")).isEqualTo("load2");
  }

  @Test
  void aPutDuringALoadWins() throws Exception {
    CountDownLatch loading = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    DistributedCache<String, String> cache =
        start(
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .loader(
                    k -> {
                      loading.countDown();
                      release.await();
                      return "stale";
                    })
                .build());
    pool = Executors.newSingleThreadExecutor();
    Future<String> read = pool.submit(() -> cache.get("k"));
    assertThat(loading.await(10, TimeUnit.SECONDS)).isTrue();
    cache.put("k", "fresh");
    release.countDown();
    read.get(10, TimeUnit.SECONDS);
    assertThat(cache.get("k")).isEqualTo("fresh");
  }

  @Test
  void aFailingLoaderIsReportedAndNothingIsCached() throws IOException {
    AtomicInteger loads = new AtomicInteger();
    DistributedCache<String, String> cache =
        start(
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .loader(
                    k -> {
                      if (loads.incrementAndGet() == 1) {
                        throw new java.sql.SQLException("connection refused");
                      }
                      return "ok";
                    })
                .build());
    assertThatThrownBy(() -> cache.get("k"))
        .isInstanceOf(CacheLoadException.class)
        .hasMessageContaining("loader of cache 'c' failed for key 'k'")
        .hasRootCauseInstanceOf(java.sql.SQLException.class);
    assertThat(cache.getIfPresent("k")).isNull();
    assertThat(cache.get("k")).isEqualTo("ok");
    assertThat(cache.stats().loadFailureCount()).isEqualTo(1);
    assertThat(cache.stats().loadSuccessCount()).isEqualTo(1);
  }

  @Test
  void aLoaderReturningNullIsAClearError() throws IOException {
    DistributedCache<String, String> cache =
        start(CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).loader(k -> null).build());
    assertThatThrownBy(() -> cache.get("k"))
        .isInstanceOf(CacheLoadException.class)
        .hasMessageContaining("returned null for key 'k'")
        .hasMessageContaining("must return a value or throw");
    assertThatThrownBy(() -> cache.getAsync("k").join())
        .hasCauseInstanceOf(CacheLoadException.class);
  }

  @Test
  void oversizedKeysAndValuesAreRejectedAndOtherEntriesAreUntouched() throws IOException {
    DistributedCache<String, String> cache =
        start(
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .maxKeyBytes(8)
                .maxValueBytes(16)
                .loader(k -> "x".repeat(k.length() * 5))
                .build());
    cache.put("ok", "fine");
    assertThatThrownBy(() -> cache.put("much-too-long-key", "v"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("17 bytes encoded, over maxKeyBytes 8");
    assertThatThrownBy(() -> cache.put("k", "a value longer than sixteen bytes"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("over maxValueBytes 16");
    assertThatThrownBy(() -> cache.get("1234"))
        .isInstanceOf(CacheLoadException.class)
        .hasMessageContaining("20 bytes encoded, over maxValueBytes 16");
    assertThat(cache.getIfPresent("1234")).isNull();
    assertThat(cache.get("ok")).isEqualTo("fine");
    assertThat(cache.localSize()).isEqualTo(1);
  }

  @Test
  void aFailingKeyCodecIsACodecException() throws IOException {
    Codec<String> broken =
        new Codec<>() {
          @Override
          public byte[] encode(String value) {
            throw new UnsupportedOperationException("cannot encode " + value);
          }

          @Override
          public String decode(byte[] bytes) {
            return "";
          }
        };
    DistributedCache<String, String> cache =
        start(CacheConfig.builder(broken, Codecs.utf8()).build());
    assertThatThrownBy(() -> cache.get("k"))
        .isInstanceOf(CodecException.class)
        .hasMessageContaining("cannot encode k");
    assertThatThrownBy(() -> cache.getAsync("k").join()).hasCauseInstanceOf(CodecException.class);
  }

  @Test
  void entriesExpireAfterWrite() throws Exception {
    AtomicInteger loads = new AtomicInteger();
    DistributedCache<String, String> cache =
        start(
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .expireAfterWrite(Duration.ofMillis(100))
                .loader(k -> "v" + loads.incrementAndGet())
                .build());
    assertThat(cache.get("k")).isEqualTo("v1");
    Thread.sleep(250);
    assertThat(cache.get("k")).isEqualTo("v2");
  }

  @Test
  void theShardIsBoundedByMaximumSize() throws IOException {
    DistributedCache<String, String> cache =
        start(
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .maximumSize(100)
                .loader(k -> k)
                .build());
    for (int i = 0; i < 1_000; i++) {
      cache.get("k" + i);
    }
    node.cache("c", cache.config()); // same config, same cache
    await(() -> cache.localSize() <= 100);
    assertThat(cache.stats().evictionCount()).isGreaterThanOrEqualTo(900);
  }

  @Test
  void nullArgumentsAreRejected() throws IOException {
    DistributedCache<String, String> cache =
        start(CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build());
    assertThatThrownBy(() -> cache.get(null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> cache.put("k", null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> cache.getAll(java.util.Arrays.asList("a", null)))
        .isInstanceOf(NullPointerException.class);
  }

  private static void await(java.util.function.BooleanSupplier condition) {
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(condition::getAsBoolean);
  }
}
