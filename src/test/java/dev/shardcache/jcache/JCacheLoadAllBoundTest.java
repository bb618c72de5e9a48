package dev.shardcache.jcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.cache.Cache;
import javax.cache.CacheException;
import javax.cache.CacheManager;
import javax.cache.Caching;
import javax.cache.configuration.FactoryBuilder;
import javax.cache.configuration.MutableConfiguration;
import javax.cache.integration.CacheLoader;
import javax.cache.integration.CompletionListenerFuture;
import javax.cache.spi.CachingProvider;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A JCache manager runs at most {@code shardcache.loadAll.threads} {@code loadAll} calls at once
 * and queues 16 times as many; a further {@code loadAll} fails through its {@code
 * CompletionListener} with a {@link CacheException} naming the property, loads nothing, and takes
 * no thread.
 *
 * <p>With the property at {@value #THREADS}, a loader that waits on a gate holds the one thread;
 * {@value #QUEUED} more {@code loadAll} calls wait; the next one is refused. Once the gate opens,
 * the held and queued calls all complete, and a later {@code loadAll} is accepted again.
 *
 * <p>Defect: the manager ran each {@code loadAll} on a thread of a cached pool, one thread per call
 * in progress, without bound.
 */
class JCacheLoadAllBoundTest {
  private static final int THREADS = 1;
  private static final int QUEUED = THREADS * LoadAllPool.WAITING_PER_THREAD;

  private final CachingProvider provider = Caching.getCachingProvider();
  private CacheManager manager;

  @AfterEach
  void close() {
    GatedLoader.open.countDown();
    if (manager != null) {
      manager.close();
    }
  }

  @Test
  void aLoadAllPastTheBoundFailsThroughItsListenerNamingTheProperty() throws Exception {
    Properties properties = new Properties();
    properties.setProperty("shardcache.listen", "127.0.0.1:0");
    properties.setProperty(ManagerSettings.LOAD_ALL_THREADS, String.valueOf(THREADS));
    manager =
        provider.getCacheManager(
            URI.create("shardcache:loadall-bound"), provider.getDefaultClassLoader(), properties);
    Cache<String, String> cache =
        manager.createCache(
            "loaded",
            new MutableConfiguration<String, String>()
                .setTypes(String.class, String.class)
                .setReadThrough(true)
                .setCacheLoaderFactory(new FactoryBuilder.SingletonFactory<>(new GatedLoader())));

    List<CompletionListenerFuture> accepted = new ArrayList<>();
    for (int i = 0; i <= QUEUED; i++) {
      CompletionListenerFuture done = new CompletionListenerFuture();
      cache.loadAll(Set.of("key-" + i), false, done);
      accepted.add(done);
      if (i == 0) {
        assertThat(GatedLoader.entered.tryAcquire(30, TimeUnit.SECONDS))
            .as("the first loadAll holding the thread")
            .isTrue();
      }
    }
    CompletionListenerFuture refused = new CompletionListenerFuture();
    cache.loadAll(Set.of("refused"), false, refused);
    int loadAllThreads = threadsNamed("shardcache-jcache-loadAll-");

    assertThatThrownBy(() -> refused.get(10, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .cause()
        .isInstanceOf(CacheException.class)
        .hasMessageContaining(ManagerSettings.LOAD_ALL_THREADS);
    boolean gateStillShut = GatedLoader.open.getCount() == 1;
    GatedLoader.open.countDown();
    for (CompletionListenerFuture done : accepted) {
      done.get(30, TimeUnit.SECONDS);
    }
    CompletionListenerFuture later = new CompletionListenerFuture();
    cache.loadAll(Set.of("later"), false, later);
    later.get(30, TimeUnit.SECONDS);

    System.out.printf(
        "JCacheLoadAllBoundTest: %s=%d: %d loadAll calls accepted (1 running, %d waiting), the"
            + " next refused through its listener; %d loadAll thread(s) alive meanwhile%n",
        ManagerSettings.LOAD_ALL_THREADS, THREADS, accepted.size(), QUEUED, loadAllThreads);
    assertThat(gateStillShut).as("refused while the gate was shut").isTrue();
    assertThat(loadAllThreads).isLessThanOrEqualTo(THREADS);
    assertThat(cache.containsKey("refused")).as("loaded by the refused loadAll").isFalse();
    assertThat(cache.containsKey("key-" + QUEUED)).isTrue();
    assertThat(cache.containsKey("later")).isTrue();
    assertThat(GatedLoader.loads.get()).isEqualTo(accepted.size() + 1);
  }

  private static int threadsNamed(String prefix) {
    int count = 0;
    for (Thread thread : Thread.getAllStackTraces().keySet()) {
      if (thread.isAlive() && thread.getName().startsWith(prefix)) {
        count++;
      }
    }
    return count;
  }

  /** Waits on a gate the first time it loads; counts its loads. */
  static final class GatedLoader implements CacheLoader<String, String> {
    static final CountDownLatch open = new CountDownLatch(1);
    static final Semaphore entered = new Semaphore(0);
    static final AtomicInteger loads = new AtomicInteger();

    @Override
    public String load(String key) {
      return loadAll(Set.of(key)).get(key);
    }

    @Override
    public Map<String, String> loadAll(Iterable<? extends String> keys) {
      entered.release();
      try {
        open.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      Map<String, String> values = new HashMap<>();
      for (String key : keys) {
        loads.incrementAndGet();
        values.put(key, "value of " + key);
      }
      return values;
    }
  }
}
