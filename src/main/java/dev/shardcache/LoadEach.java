package dev.shardcache;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The default {@link CacheLoader#loadAll}: {@code load} for each key, at most {@value
 * #MAX_CONCURRENT} at a time. The calling thread loads too, and the other workers are threads
 * started for the call and ended with it: a default method has no executor of its own, and
 * borrowing a shared pool (the common fork-join pool) would let blocking loads starve whatever else
 * runs there. Shardcache itself never calls this (it loads the keys of a loader without a {@code
 * loadAll} of its own on its load executor, see {@link Loads#loadsInBulk}); it serves code that
 * calls {@code loadAll} directly.
 *
 * <p>Blocks until every started load has ended. Thread-safe; keeps no state between calls.
 */
final class LoadEach {
  /** The most keys loaded at once by one call. */
  static final int MAX_CONCURRENT = 8;

  private static final AtomicInteger threadNumber = new AtomicInteger();

  private LoadEach() {}

  /**
   * Loads each of {@code keys} with {@code loader.load}; a {@code null} leaves its key out. If any
   * load failed, throws the failure of the first such key in the set's order once every load has
   * ended (the values loaded are dropped: the caller asked for all of them and gets an exception).
   *
   * @throws InterruptedException if the calling thread is interrupted while it waits for the other
   *     workers; they are interrupted too, and start no further load
   */
  static <K, V> Map<K, V> load(CacheLoader<K, V> loader, Set<? extends K> keys) throws Exception {
    List<K> list = new ArrayList<>(keys);
    Map<K, V> values = new ConcurrentHashMap<>();
    AtomicReferenceArray<Throwable> failures = new AtomicReferenceArray<>(list.size());
    AtomicInteger next = new AtomicInteger();
    Runnable worker =
        () -> {
          for (int i = next.getAndIncrement(); i < list.size(); i = next.getAndIncrement()) {
            K key = list.get(i);
            try {
              V value = loader.load(key);
              if (value != null) {
                values.put(key, value);
              }
            } catch (Throwable t) {
              failures.set(i, t);
            }
          }
        };
    List<Thread> helpers = new ArrayList<>();
    for (int i = 1; i < Math.min(MAX_CONCURRENT, list.size()); i++) {
      Thread helper = new Thread(worker, "shardcache-loadAll-" + threadNumber.incrementAndGet());
      helper.setDaemon(true); // a load that never returns must not keep the JVM alive
      helper.start();
      helpers.add(helper);
    }
    worker.run();
    try {
      for (Thread helper : helpers) {
        helper.join();
      }
    } catch (InterruptedException e) {
      next.set(list.size()); // hand out no further key
      helpers.forEach(Thread::interrupt);
      throw e;
    }
    for (int i = 0; i < list.size(); i++) {
      Throwable failure = failures.get(i);
      if (failure instanceof Exception exception) {
        throw exception;
      }
      if (failure instanceof Error error) {
        throw error;
      }
    }
    return values;
  }
}
