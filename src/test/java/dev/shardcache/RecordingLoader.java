package dev.shardcache;

import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * A loader that answers {@code "v(key)@node"} and records every call, so tests can assert where and
 * how often keys were loaded. Thread-safe.
 */
final class RecordingLoader implements CacheLoader<String, String> {
  private final Supplier<String> node;
  private final List<String> calls = new CopyOnWriteArrayList<>();
  private final ConcurrentHashMap<String, AtomicInteger> callsPerKey = new ConcurrentHashMap<>();
  private volatile long delayMillis;

  RecordingLoader(String node) {
    this(() -> node);
  }

  /** For a node whose address is known only once it runs: {@code node} is read at each load. */
  RecordingLoader(Supplier<String> node) {
    this.node = node;
  }

  RecordingLoader withDelay(long millis) {
    this.delayMillis = millis;
    return this;
  }

  @Override
  public String load(String key) throws Exception {
    calls.add(key);
    callsPerKey.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
    if (delayMillis > 0) {
      Thread.sleep(delayMillis);
    }
    return valueOf(key, node.get());
  }

  static String valueOf(String key, String node) {
    return "v(" + key + ")@" + node;
  }

  int calls() {
    return calls.size();
  }

  int calls(String key) {
    AtomicInteger count = callsPerKey.get(key);
    return count == null ? 0 : count.get();
  }

  List<String> keys() {
    return List.copyOf(calls);
  }
}
