package dev.shardcache.jcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shardcache.DistributedCache;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.cache.Cache;
import javax.cache.CacheManager;
import javax.cache.Caching;
import javax.cache.configuration.FactoryBuilder;
import javax.cache.configuration.MutableCacheEntryListenerConfiguration;
import javax.cache.configuration.MutableConfiguration;
import javax.cache.event.CacheEntryCreatedListener;
import javax.cache.event.CacheEntryEvent;
import javax.cache.event.CacheEntryExpiredListener;
import javax.cache.event.CacheEntryListenerException;
import javax.cache.event.CacheEntryRemovedListener;
import javax.cache.event.CacheEntryUpdatedListener;
import javax.cache.event.EventType;
import javax.cache.expiry.AccessedExpiryPolicy;
import javax.cache.expiry.CreatedExpiryPolicy;
import javax.cache.expiry.Duration;
import javax.cache.integration.CacheLoader;
import javax.cache.management.CacheStatisticsMXBean;
import javax.management.ObjectName;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The JCache provider on a single node: discovery, store-by-value, expiry, events, statistics. */
class JCacheProviderTest {
  private CacheManager manager;

  @BeforeEach
  void open() {
    manager = Caching.getCachingProvider().getCacheManager();
  }

  @AfterEach
  void close() {
    Caching.getCachingProvider().close();
  }

  @Test
  void theProviderIsFoundThroughServiceLoading() {
    assertThat(Caching.getCachingProvider()).isInstanceOf(ShardcacheCachingProvider.class);
    assertThat(manager.getURI().toString()).isEqualTo(ShardcacheCachingProvider.DEFAULT_URI);
    assertThat(manager.unwrap(ShardcacheCacheManager.class).node().isRunning()).isTrue();
  }

  @Test
  @SuppressWarnings("JavaUtilDate") // Date is the mutable value class whose copying is under test
  void valuesAreStoredByValue() {
    Cache<String, Date> cache =
        manager.createCache(
            "dates", new MutableConfiguration<String, Date>().setTypes(String.class, Date.class));
    Date date = new Date(1_000);
    cache.put("d", date);
    date.setTime(2_000);
    assertThat(cache.get("d")).isEqualTo(new Date(1_000));
    assertThat(cache.get("d")).isNotSameAs(cache.get("d"));
  }

  @Test
  void storeByReferenceIsRefused() {
    assertThatThrownBy(
            () -> manager.createCache("refs", new MutableConfiguration<>().setStoreByValue(false)))
        .isInstanceOf(UnsupportedOperationException.class);
  }

  @Test
  void valuesOfClassesNotAllowListedCannotBeRead() {
    Cache<String, Object> cache = manager.createCache("objects", new MutableConfiguration<>());
    cache.put("list", new ArrayList<>(List.of(1, 2)));
    assertThat(cache.get("list")).isEqualTo(List.of(1, 2));
    cache.put("odd", new NotAllowed(7));
    assertThatThrownBy(() -> cache.get("odd")).hasMessageContaining("refused to deserialize");
    assertThatThrownBy(() -> cache.put("x", new Object()))
        .isInstanceOf(IllegalArgumentException.class);
  }

  record NotAllowed(int n) implements java.io.Serializable {}

  @Test
  void entriesExpirePerEntryAndFireExpiredEvents() throws Exception {
    RecordingListener listener = new RecordingListener();
    Cache<String, String> cache =
        manager.createCache(
            "short",
            new MutableConfiguration<String, String>()
                .setExpiryPolicyFactory(
                    CreatedExpiryPolicy.factoryOf(new Duration(TimeUnit.MILLISECONDS, 300)))
                .addCacheEntryListenerConfiguration(
                    new MutableCacheEntryListenerConfiguration<>(
                        FactoryBuilder.factoryOf(listener), null, true, true)));
    cache.put("a", "1");
    assertThat(cache.get("a")).isEqualTo("1");
    Thread.sleep(400);
    assertThat(cache.get("a")).isNull();
    assertThat(listener.types).containsExactly(EventType.CREATED, EventType.EXPIRED);
  }

  @Test
  void accessExpiryIsExtendedByReads() throws Exception {
    Cache<String, String> cache =
        manager.createCache(
            "touched",
            new MutableConfiguration<String, String>()
                .setExpiryPolicyFactory(
                    AccessedExpiryPolicy.factoryOf(new Duration(TimeUnit.MILLISECONDS, 600))));
    cache.put("a", "1");
    for (int i = 0; i < 4; i++) { // 800 ms in all: alive only because each read extended it
      Thread.sleep(200);
      assertThat(cache.get("a")).as("read %s", i).isEqualTo("1");
    }
    Thread.sleep(900);
    assertThat(cache.containsKey("a")).isFalse();
  }

  @Test
  void readThroughLoadsOnceAndFiresCreated() {
    RecordingListener listener = new RecordingListener();
    CountingLoader loader = new CountingLoader();
    Cache<String, String> cache =
        manager.createCache(
            "loaded",
            new MutableConfiguration<String, String>()
                .setReadThrough(true)
                .setCacheLoaderFactory(FactoryBuilder.factoryOf(loader))
                .addCacheEntryListenerConfiguration(
                    new MutableCacheEntryListenerConfiguration<>(
                        FactoryBuilder.factoryOf(listener), null, true, true)));
    assertThat(cache.get("x")).isEqualTo("value-x");
    assertThat(cache.get("x")).isEqualTo("value-x");
    assertThat(cache.get("none")).isNull();
    assertThat(loader.loads).isEqualTo(2);
    assertThat(listener.types).containsExactly(EventType.CREATED);
    assertThat(cache.getAll(Set.of("x", "y"))).isEqualTo(Map.of("x", "value-x", "y", "value-y"));
  }

  @Test
  void statisticsFollowTheSpecAndAreExposedAsMxBeans() throws Exception {
    Cache<String, String> cache =
        manager.createCache(
            "counted",
            new MutableConfiguration<String, String>()
                .setStatisticsEnabled(true)
                .setManagementEnabled(true));
    cache.put("a", "1");
    cache.get("a");
    cache.get("b");
    cache.putIfAbsent("a", "2");
    cache.remove("a");
    CacheStatisticsMXBean stats = cache.unwrap(ShardcacheCache.class).statistics();
    assertThat(stats.getCachePuts()).isEqualTo(1);
    assertThat(stats.getCacheHits()).isEqualTo(2);
    assertThat(stats.getCacheMisses()).isEqualTo(1);
    assertThat(stats.getCacheRemovals()).isEqualTo(1);
    ObjectName name =
        new ObjectName(
            "javax.cache:type=CacheStatistics,CacheManager=shardcache.default,Cache=counted");
    assertThat(ManagementFactory.getPlatformMBeanServer().getAttribute(name, "CacheHits"))
        .isEqualTo(2L);
    manager.destroyCache("counted");
    assertThat(ManagementFactory.getPlatformMBeanServer().isRegistered(name)).isFalse();
  }

  @Test
  void iterationSeesTheEntriesWrittenThroughThisNode() {
    Cache<Long, String> cache = manager.createCache("iterated", new MutableConfiguration<>());
    for (long i = 0; i < 10; i++) {
      cache.put(i, "v" + i);
    }
    cache.remove(3L);
    List<Long> keys = new ArrayList<>();
    cache.forEach(entry -> keys.add(entry.getKey()));
    assertThat(keys).containsExactlyInAnyOrder(0L, 1L, 2L, 4L, 5L, 6L, 7L, 8L, 9L);
    cache.removeAll();
    assertThat(cache.iterator().hasNext()).isFalse();
  }

  /**
   * Iteration and {@code removeAll()} read the cluster's entries, not a per-node memory of keys:
   * more entries than one batch of {@code removeAll()} are all seen, and each is removed with its
   * own removal counted.
   *
   * <p>Defect: iteration reached only the keys a bounded index on this node remembered (at most
   * {@code shardcache.keyIndex.maximumSize}), so it missed entries written long ago or through
   * other nodes.
   */
  @Test
  void iterationAndRemoveAllReachEveryEntry() {
    int count = EntryWrites.REMOVE_ALL_BATCH + 500;
    Cache<Long, String> cache =
        manager.createCache(
            "everything", new MutableConfiguration<Long, String>().setStatisticsEnabled(true));
    Map<Long, String> written = new HashMap<>();
    for (long i = 0; i < count; i++) {
      written.put(i, "v" + i);
    }
    cache.putAll(written);
    Map<Long, String> seen = new HashMap<>();
    cache.forEach(entry -> assertThat(seen.put(entry.getKey(), entry.getValue())).isNull());
    assertThat(seen).isEqualTo(written);

    cache.removeAll();

    assertThat(cache.iterator().hasNext()).isFalse();
    assertThat(cache.get(0L)).isNull();
    assertThat(cache.unwrap(ShardcacheCache.class).statistics().getCacheRemovals())
        .isEqualTo(count);
  }

  @Test
  void aManagerBoundsItsCachesByBytesWhenItsPropertiesSaySo() {
    Properties properties = new Properties();
    properties.setProperty("shardcache.maximumWeight", String.valueOf(1 << 20));
    CacheManager weighed =
        Caching.getCachingProvider()
            .getCacheManager(
                URI.create("shardcache://127.0.0.1:0"), getClass().getClassLoader(), properties);
    Cache<String, String> covers =
        weighed.createCache(
            "covers",
            new MutableConfiguration<String, String>().setTypes(String.class, String.class));
    covers.put("k", "v");
    DistributedCache<?, ?> store =
        weighed.unwrap(ShardcacheCacheManager.class).node().caches().stream()
            .filter(c -> c.name().equals("covers"))
            .findFirst()
            .orElseThrow();
    assertThat(store.config().maximumWeight()).hasValue(1 << 20);
    assertThat(store.localWeight()).isPresent();
    assertThat(covers.get("k")).isEqualTo("v");
  }

  @Test
  void aClosedCacheRefusesCalls() {
    Cache<String, String> cache = manager.createCache("closing", new MutableConfiguration<>());
    cache.close();
    assertThat(cache.isClosed()).isTrue();
    assertThatThrownBy(() -> cache.get("a")).isInstanceOf(IllegalStateException.class);
    assertThat(manager.getCache("closing")).isNull();
  }

  /** Records the types of the events it hears. */
  static final class RecordingListener
      implements java.io.Serializable,
          CacheEntryCreatedListener<String, String>,
          CacheEntryUpdatedListener<String, String>,
          CacheEntryRemovedListener<String, String>,
          CacheEntryExpiredListener<String, String> {
    private static final long serialVersionUID = 1L;
    final List<EventType> types = new ArrayList<>();

    private void record(Iterable<CacheEntryEvent<? extends String, ? extends String>> events) {
      events.forEach(e -> types.add(e.getEventType()));
    }

    @Override
    public void onCreated(Iterable<CacheEntryEvent<? extends String, ? extends String>> events)
        throws CacheEntryListenerException {
      record(events);
    }

    @Override
    public void onUpdated(Iterable<CacheEntryEvent<? extends String, ? extends String>> events) {
      record(events);
    }

    @Override
    public void onRemoved(Iterable<CacheEntryEvent<? extends String, ? extends String>> events) {
      record(events);
    }

    @Override
    public void onExpired(Iterable<CacheEntryEvent<? extends String, ? extends String>> events) {
      record(events);
    }
  }

  /** Loads "value-" + key, or nothing for "none"; counts its calls. */
  static final class CountingLoader implements CacheLoader<String, String>, java.io.Serializable {
    private static final long serialVersionUID = 1L;
    int loads;

    @Override
    public String load(String key) {
      loads++;
      return key.equals("none") ? null : "value-" + key;
    }

    @Override
    public Map<String, String> loadAll(Iterable<? extends String> keys) {
      Map<String, String> values = new java.util.HashMap<>();
      keys.forEach(k -> values.put(k, load(k)));
      return values;
    }
  }
}
