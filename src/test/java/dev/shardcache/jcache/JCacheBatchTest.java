package dev.shardcache.jcache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.CacheStats;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import javax.cache.Cache;
import javax.cache.CacheManager;
import javax.cache.Caching;
import javax.cache.configuration.FactoryBuilder;
import javax.cache.configuration.MutableCacheEntryListenerConfiguration;
import javax.cache.configuration.MutableConfiguration;
import javax.cache.event.CacheEntryCreatedListener;
import javax.cache.event.CacheEntryEvent;
import javax.cache.event.CacheEntryUpdatedListener;
import javax.cache.integration.CacheLoader;
import javax.cache.integration.CompletionListenerFuture;
import javax.cache.management.CacheStatisticsMXBean;
import javax.cache.spi.CachingProvider;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The JSR-107 batch operations on the core's batches, over two members: {@code putAll} and {@code
 * removeAll(keys)} cost one call per holder when no listener or statistic needs each entry's old
 * state, and read-through {@code getAll} and {@code loadAll} call the loader's {@code loadAll}
 * once, storing on the owners.
 */
class JCacheBatchTest {
  private static final String CACHE = "orders";

  private final CachingProvider provider = Caching.getCachingProvider();
  private CacheManager a;
  private CacheManager b;

  @BeforeEach
  void startTwoMembers() {
    a = manager("shardcache:batch-a");
    b = manager("shardcache:batch-b");
    List<String> members = List.of(node(a).address(), node(b).address());
    node(a).setPeers(members);
    node(b).setPeers(members);
  }

  private CacheManager manager(String uri) {
    Properties properties = new Properties();
    properties.setProperty("shardcache.listen", "127.0.0.1:0");
    return provider.getCacheManager(URI.create(uri), provider.getDefaultClassLoader(), properties);
  }

  private static ShardcacheNode node(CacheManager manager) {
    return manager.unwrap(ShardcacheNode.class);
  }

  private static DistributedCache<?, ?> core(CacheManager manager) {
    for (DistributedCache<?, ?> cache : node(manager).caches()) {
      if (cache.name().equals(CACHE)) {
        return cache;
      }
    }
    throw new AssertionError("no core cache " + CACHE);
  }

  private static long callsSince(CacheManager manager, CacheStats before) {
    return core(manager).stats().minus(before).remoteCallCount();
  }

  @AfterEach
  void close() {
    if (a != null) {
      a.close();
    }
    if (b != null) {
      b.close();
    }
  }

  private void createOnBoth(MutableConfiguration<String, Long> config) {
    a.createCache(CACHE, config);
    b.createCache(CACHE, config);
  }

  private static Map<String, Long> entries(String prefix, int count) {
    Map<String, Long> entries = new LinkedHashMap<>();
    IntStream.range(0, count).forEach(i -> entries.put(prefix + i, (long) i));
    return entries;
  }

  @Test
  void putAllAndRemoveAllWithoutListenersAreOneCallToTheOtherMember() {
    createOnBoth(new MutableConfiguration<String, Long>().setTypes(String.class, Long.class));
    Cache<String, Long> cacheA = a.getCache(CACHE, String.class, Long.class);
    Cache<String, Long> cacheB = b.getCache(CACHE, String.class, Long.class);
    Map<String, Long> entries = entries("order-", 40);

    CacheStats before = core(a).stats();
    cacheA.putAll(entries);

    assertThat(callsSince(a, before)).as("calls from a for putAll").isEqualTo(1);
    assertThat(cacheB.getAll(entries.keySet())).isEqualTo(entries);
    assertThat(core(a).localSize()).isPositive();
    assertThat(core(b).localSize()).isPositive();
    List<String> iterated = new ArrayList<>();
    cacheA.forEach(entry -> iterated.add(entry.getKey()));
    assertThat(iterated).containsExactlyInAnyOrderElementsOf(entries.keySet());

    before = core(b).stats();
    cacheB.removeAll(entries.keySet());

    assertThat(callsSince(b, before)).as("calls from b for removeAll").isEqualTo(1);
    for (String key : entries.keySet()) {
      assertThat(cacheA.containsKey(key)).isFalse();
    }
  }

  @Test
  void withAListenerPutAllStillTellsCreatedFromUpdated() {
    List<String> heard = new CopyOnWriteArrayList<>();
    MutableConfiguration<String, Long> config =
        new MutableConfiguration<String, Long>()
            .setTypes(String.class, Long.class)
            .addCacheEntryListenerConfiguration(
                new MutableCacheEntryListenerConfiguration<>(
                    new FactoryBuilder.SingletonFactory<>(new Recorder(heard)), null, false, true));
    createOnBoth(config);
    Cache<String, Long> cacheA = a.getCache(CACHE, String.class, Long.class);
    cacheA.put("order-1", 100L);
    heard.clear();

    cacheA.putAll(entries("order-", 3));

    assertThat(heard)
        .containsExactlyInAnyOrder("CREATED order-0", "UPDATED order-1", "CREATED order-2");
  }

  @Test
  void withStatisticsRemoveAllCountsOnlyTheEntriesItRemoved() {
    createOnBoth(
        new MutableConfiguration<String, Long>()
            .setTypes(String.class, Long.class)
            .setStatisticsEnabled(true));
    Cache<String, Long> cacheA = a.getCache(CACHE, String.class, Long.class);
    cacheA.putAll(entries("order-", 2));

    cacheA.removeAll(Set.of("order-0", "order-1", "order-2"));

    assertThat(statistics(cacheA).getCacheRemovals()).isEqualTo(2);
    assertThat(statistics(cacheA).getCachePuts()).isEqualTo(2);
  }

  private static CacheStatisticsMXBean statistics(Cache<String, Long> cache) {
    return cache.unwrap(ShardcacheCache.class).statistics();
  }

  @Test
  void readThroughGetAllAndLoadAllCallTheLoadersLoadAllOnceAndStoreOnTheOwners() throws Exception {
    RecordingLoader loader = new RecordingLoader();
    createOnBoth(
        new MutableConfiguration<String, Long>()
            .setTypes(String.class, Long.class)
            .setReadThrough(true)
            .setCacheLoaderFactory(new FactoryBuilder.SingletonFactory<>(loader)));
    Cache<String, Long> cacheA = a.getCache(CACHE, String.class, Long.class);
    Cache<String, Long> cacheB = b.getCache(CACHE, String.class, Long.class);
    Map<String, Long> cold = new HashMap<>();
    IntStream.range(0, 30).forEach(i -> cold.put("k" + i, (long) ("k" + i).length()));

    assertThat(cacheA.getAll(cold.keySet())).isEqualTo(cold);

    assertThat(loader.loadAlls).containsExactly(cold.keySet());
    assertThat(loader.loads).isEmpty();
    assertThat(core(b).localSize()).as("entries stored on b, their owner").isPositive();
    assertThat(cacheB.getAll(cold.keySet())).isEqualTo(cold);
    assertThat(loader.loadAlls).hasSize(1);

    Set<String> more = Set.of("k1", "k2", "more-1", "more-2");
    CompletionListenerFuture done = new CompletionListenerFuture();
    cacheB.loadAll(more, false, done);
    done.get(30, TimeUnit.SECONDS);
    assertThat(loader.loadAlls).hasSize(2);
    assertThat(loader.loadAlls.get(1)).containsExactlyInAnyOrder("more-1", "more-2");
    assertThat(cacheA.get("more-2")).isEqualTo(6L);
    assertThat(loader.loads).isEmpty();
  }

  @Test
  void aGetWhileAGetAllLoadsTheKeyWaitsForThatLoad() throws Exception {
    RecordingLoader loader = new RecordingLoader().slow(500);
    createOnBoth(
        new MutableConfiguration<String, Long>()
            .setTypes(String.class, Long.class)
            .setReadThrough(true)
            .setCacheLoaderFactory(new FactoryBuilder.SingletonFactory<>(loader)));
    Cache<String, Long> cacheA = a.getCache(CACHE, String.class, Long.class);
    Set<String> keys = Set.of("x1", "x2", "x3", "x4");

    CompletableFuture<Map<String, Long>> batch =
        CompletableFuture.supplyAsync(() -> cacheA.getAll(keys));
    while (loader.loadAlls.isEmpty()) {
      Thread.sleep(10);
    }
    Long single = cacheA.get("x3");

    assertThat(single).isEqualTo(2L);
    assertThat(batch.get(30, TimeUnit.SECONDS)).hasSize(4);
    assertThat(loader.loads).isEmpty();
    assertThat(loader.loadAlls).hasSize(1);
  }

  /** A JCache loader answering a key's length, recording its calls. */
  static final class RecordingLoader implements CacheLoader<String, Long> {
    final List<String> loads = new CopyOnWriteArrayList<>();
    final List<Set<String>> loadAlls = new CopyOnWriteArrayList<>();
    private volatile long delayMillis;

    RecordingLoader slow(long millis) {
      this.delayMillis = millis;
      return this;
    }

    @Override
    public Long load(String key) {
      loads.add(key);
      return (long) key.length();
    }

    @Override
    public Map<String, Long> loadAll(Iterable<? extends String> keys) {
      Map<String, Long> values = new HashMap<>();
      keys.forEach(key -> values.put(key, (long) key.length()));
      loadAlls.add(Set.copyOf(values.keySet()));
      if (delayMillis > 0) {
        try {
          Thread.sleep(delayMillis);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return values;
    }
  }

  /** Records CREATED and UPDATED events as "TYPE key". */
  static final class Recorder
      implements CacheEntryCreatedListener<String, Long>, CacheEntryUpdatedListener<String, Long> {
    private final List<String> heard;

    Recorder(List<String> heard) {
      this.heard = heard;
    }

    private void record(Iterable<CacheEntryEvent<? extends String, ? extends Long>> events) {
      for (CacheEntryEvent<? extends String, ? extends Long> event : events) {
        heard.add(event.getEventType() + " " + event.getKey());
      }
    }

    @Override
    public void onCreated(Iterable<CacheEntryEvent<? extends String, ? extends Long>> events) {
      record(events);
    }

    @Override
    public void onUpdated(Iterable<CacheEntryEvent<? extends String, ? extends Long>> events) {
      record(events);
    }
  }
}
