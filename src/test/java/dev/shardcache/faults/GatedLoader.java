package dev.shardcache.faults;

import dev.shardcache.CacheLoader;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loader whose first call signals {@link #entered} and then blocks until {@link #release()} (at
 * most 30 s), answering "v1"; the n-th call answers "vn" at once. Counts its calls. Thread-safe.
 */
final class GatedLoader implements CacheLoader<String, String> {
  final CountDownLatch entered = new CountDownLatch(1);
  private final CountDownLatch released = new CountDownLatch(1);
  private final AtomicInteger calls = new AtomicInteger();

  @Override
  public String load(String key) throws InterruptedException {
    int call = calls.incrementAndGet();
    if (call == 1) {
      entered.countDown();
      released.await(30, TimeUnit.SECONDS);
    }
    return "v" + call;
  }

  void awaitEntered() throws InterruptedException {
    if (!entered.await(10, TimeUnit.SECONDS)) {
      throw new AssertionError("the loader was not called within 10 s");
    }
  }

  void release() {
    released.countDown();
  }

  int calls() {
    return calls.get();
  }
}
