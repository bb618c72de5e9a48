package dev.shardcache.examples.demo;

import dev.shardcache.CacheLoader;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * A stand-in for a slow product database: the {@link CacheLoader} of the demo's "products" cache.
 *
 * <p>Each load sleeps for a fixed latency, then returns {@code "product-<key>@<node>"}, where
 * {@code <node>} is the address of the node that ran the load. The suffix lets the launcher see
 * <em>where</em> each value was loaded (on the key's owner, or on a survivor as a fallback).
 *
 * <p>It counts its calls, in total and per key, independently of the library's own statistics, so
 * the demo can check "each key loaded once" against the loader itself. Thread-safe.
 */
final class SlowProductDb implements CacheLoader<String, String> {

  private final Duration latency;
  private volatile String nodeAddress = "?";
  private final LongAdder calls = new LongAdder();
  private final Map<String, AtomicLong> callsByKey = new ConcurrentHashMap<>();

  SlowProductDb(Duration latency) {
    this.latency = latency;
  }

  /** Sets the address written into loaded values; known only once the node has started. */
  void setNodeAddress(String nodeAddress) {
    this.nodeAddress = nodeAddress;
  }

  @Override
  public String load(String key) throws InterruptedException {
    calls.increment();
    callsByKey.computeIfAbsent(key, k -> new AtomicLong()).incrementAndGet();
    Thread.sleep(latency.toMillis());
    return "product-" + key + "@" + nodeAddress;
  }

  /** All loader calls on this node so far. */
  long calls() {
    return calls.sum();
  }

  /** Loader calls for {@code key} on this node so far. */
  long calls(String key) {
    AtomicLong count = callsByKey.get(key);
    return count == null ? 0 : count.get();
  }

  /** The node address a value was loaded on: the part after the last '@'. */
  static String loadedOn(String value) {
    int at = value.lastIndexOf('@');
    return at < 0 ? "" : value.substring(at + 1);
  }
}
