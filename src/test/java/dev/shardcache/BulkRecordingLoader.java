package dev.shardcache;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * A loader with a {@code loadAll} of its own that answers {@code "v(key)"} and records every call,
 * the keys of each {@code loadAll}, and the thread each ran on; it can leave keys out of its
 * answers, add keys nobody asked for, fail, be slow, or hold its calls at a gate until the test
 * opens it. Thread-safe.
 */
final class BulkRecordingLoader implements CacheLoader<String, String> {
  private final List<String> loads = new CopyOnWriteArrayList<>();
  private final List<Set<String>> loadAlls = new CopyOnWriteArrayList<>();
  private final List<String> threads = new CopyOnWriteArrayList<>();
  private final AtomicInteger running = new AtomicInteger();
  private final AtomicInteger mostRunning = new AtomicInteger();
  private volatile Predicate<String> leftOut = key -> false;
  private volatile Function<Set<String>, Map<String, String>> extras = keys -> Map.of();
  private volatile Predicate<Set<String>> fails = keys -> false;
  private volatile long delayMillis;
  private volatile CountDownLatch gate = new CountDownLatch(0);
  private volatile CountDownLatch entered = new CountDownLatch(1);

  static String valueOf(String key) {
    return "v(" + key + ")";
  }

  /** Leaves the keys that match out of the answers of {@code load} (null) and {@code loadAll}. */
  BulkRecordingLoader leavingOut(Predicate<String> keys) {
    this.leftOut = keys;
    return this;
  }

  /** Adds {@code extras(keys)} to each answer of {@code loadAll}: keys nobody asked for. */
  BulkRecordingLoader adding(Function<Set<String>, Map<String, String>> extras) {
    this.extras = extras;
    return this;
  }

  /** Makes a {@code loadAll} of keys that match throw. */
  BulkRecordingLoader failingFor(Predicate<Set<String>> keys) {
    this.fails = keys;
    return this;
  }

  BulkRecordingLoader withDelay(long millis) {
    this.delayMillis = millis;
    return this;
  }

  /**
   * Holds every call from now on until {@link #open()}; {@link #awaitEntered()} waits for the first
   * of them.
   */
  BulkRecordingLoader gated() {
    this.entered = new CountDownLatch(1);
    this.gate = new CountDownLatch(1);
    return this;
  }

  void open() {
    gate.countDown();
  }

  void awaitEntered() throws InterruptedException {
    if (!entered.await(30, TimeUnit.SECONDS)) {
      throw new AssertionError("no call reached the loader within 30 s");
    }
  }

  @Override
  public String load(String key) throws Exception {
    loads.add(key);
    try {
      enter();
      return leftOut.test(key) ? nullValue() : valueOf(key);
    } finally {
      running.decrementAndGet();
    }
  }

  @Override
  public Map<String, String> loadAll(Set<? extends String> keys) throws Exception {
    Set<String> asked = Set.copyOf(keys);
    loadAlls.add(asked);
    try {
      enter();
      if (fails.test(asked)) {
        throw new IllegalStateException("the source failed for " + asked.size() + " keys");
      }
      Map<String, String> values = new LinkedHashMap<>();
      for (String key : keys) {
        if (!leftOut.test(key)) {
          values.put(key, valueOf(key));
        }
      }
      values.putAll(extras.apply(asked));
      return values;
    } finally {
      running.decrementAndGet();
    }
  }

  @SuppressWarnings("NullAway") // a loader that breaks its contract, on purpose
  private static String nullValue() {
    return null;
  }

  private void enter() throws InterruptedException {
    threads.add(Thread.currentThread().getName());
    mostRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
    entered.countDown();
    if (!gate.await(30, TimeUnit.SECONDS)) {
      throw new AssertionError("the test never opened the gate");
    }
    if (delayMillis > 0) {
      Thread.sleep(delayMillis);
    }
  }

  /** The keys of every {@code load} call, in order. */
  List<String> loads() {
    return List.copyOf(loads);
  }

  /** The keys of every {@code loadAll} call, in order. */
  List<Set<String>> loadAlls() {
    return List.copyOf(loadAlls);
  }

  /** The names of the threads every call ran on. */
  List<String> threads() {
    return List.copyOf(threads);
  }

  /** The most calls that ran at once. */
  int mostRunning() {
    return mostRunning.get();
  }
}
