package dev.shardcache.examples.demo;

import dev.shardcache.CacheStats;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.StringJoiner;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The line protocol a {@link DemoNode} speaks with the launcher: one command in, one line out.
 *
 * <pre>
 * PEERS a,b,c         -> OK members=3            (sets the ring's members; may include self)
 * GET k               -> VALUE v | NULL
 * GETALL k1 k2 ...    -> VALUES k1=v1 k2=v2 ...
 * OWNER k             -> OWNER host:port
 * LOADS k             -> LOADS n                 (loader calls for k on this node)
 * STATS               -> STATS localSize=.. loads=.. loaderCalls=.. hits=.. misses=.. remoteCalls=..
 *                              remoteFailures=.. fallbackLoads=.. peerRequests=..
 * BURST k threads [t] -> BURST ok=n failed=n distinctValues=n ms=n value=v
 *                              (t: a System.currentTimeMillis() at which to release the gets, so
 *                              bursts on several nodes start together)
 * EXIT                -> BYE
 * anything failing    -> ERROR message
 * </pre>
 *
 * Keys and values must not contain spaces or '='. Kept apart from {@link DemoNode}'s I/O so it can
 * be tested in-process.
 */
final class NodeCommands {

  private final ShardcacheNode node;
  private final DistributedCache<String, String> products;
  private final SlowProductDb db;
  private volatile boolean exitRequested;

  NodeCommands(ShardcacheNode node, DistributedCache<String, String> products, SlowProductDb db) {
    this.node = node;
    this.products = products;
    this.db = db;
  }

  /** Whether the last command was EXIT. */
  boolean exitRequested() {
    return exitRequested;
  }

  /** Runs one command line and returns the one-line answer; never throws. */
  String handle(String line) {
    String[] words = line.trim().split("\\s+");
    try {
      return switch (words[0].toUpperCase()) {
        case "PEERS" -> peers(words);
        case "GET" -> get(arg(words, 1));
        case "GETALL" -> getAll(Arrays.asList(words).subList(1, words.length));
        case "OWNER" -> "OWNER " + products.ownerOf(arg(words, 1));
        case "LOADS" -> "LOADS " + db.calls(arg(words, 1));
        case "STATS" -> stats();
        case "BURST" ->
            burst(
                arg(words, 1),
                Integer.parseInt(arg(words, 2)),
                words.length > 3 ? Long.parseLong(words[3]) : 0);
        case "EXIT" -> {
          exitRequested = true;
          yield "BYE";
        }
        default -> "ERROR unknown command '" + words[0] + "'";
      };
    } catch (Exception | AssertionError e) {
      return "ERROR " + oneLine(e.toString());
    }
  }

  private String peers(String[] words) {
    List<String> members = words.length < 2 ? List.of() : List.of(words[1].split(","));
    node.setPeers(members);
    return "OK members=" + node.ring().nodes().size();
  }

  private String get(String key) {
    String value = products.get(key);
    return value == null ? "NULL" : "VALUE " + value;
  }

  private String getAll(List<String> keys) {
    Map<String, String> values = products.getAll(keys);
    StringJoiner answer = new StringJoiner(" ", "VALUES ", "").setEmptyValue("VALUES");
    values.forEach((k, v) -> answer.add(k + "=" + v));
    return answer.toString();
  }

  private String stats() {
    CacheStats s = products.stats();
    return "STATS localSize="
        + products.localSize()
        + " loads="
        + s.loadCount()
        + " loaderCalls="
        + db.calls()
        + " hits="
        + s.hitCount()
        + " misses="
        + s.missCount()
        + " remoteCalls="
        + s.remoteCallCount()
        + " remoteFailures="
        + s.remoteFailureCount()
        + " fallbackLoads="
        + s.fallbackLoadCount()
        + " peerRequests="
        + s.peerRequestCount();
  }

  /**
   * Runs {@code threads} concurrent gets of {@code key} on this node, released together by a latch
   * at wall-clock time {@code startAtMillis} (or at once if that has passed), and waits for all of
   * them.
   */
  private String burst(String key, int threads, long startAtMillis) throws InterruptedException {
    if (threads < 1 || threads > 256) {
      throw new IllegalArgumentException("threads must be in [1, 256], got " + threads);
    }
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      CountDownLatch ready = new CountDownLatch(threads);
      CountDownLatch go = new CountDownLatch(1);
      List<Future<String>> gets = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        gets.add(
            pool.submit(
                () -> {
                  ready.countDown();
                  go.await();
                  return products.get(key);
                }));
      }
      ready.await();
      long wait = startAtMillis - System.currentTimeMillis();
      if (wait > 0) {
        Thread.sleep(wait);
      }
      long start = System.nanoTime();
      go.countDown();
      int ok = 0;
      int failed = 0;
      Set<String> values = ConcurrentHashMap.newKeySet();
      for (Future<String> get : gets) {
        try {
          String value = get.get(30, TimeUnit.SECONDS);
          if (value != null) {
            values.add(value);
            ok++;
          } else {
            failed++;
          }
        } catch (Exception e) {
          failed++;
        }
      }
      long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      return "BURST ok="
          + ok
          + " failed="
          + failed
          + " distinctValues="
          + values.size()
          + " ms="
          + ms
          + " value="
          + String.join("|", values);
    } finally {
      pool.shutdownNow();
    }
  }

  private static String arg(String[] words, int index) {
    if (words.length <= index) {
      throw new IllegalArgumentException(words[0] + " needs " + index + " argument(s)");
    }
    return words[index];
  }

  private static String oneLine(String text) {
    return text.replace('\r', ' ').replace('\n', ' ');
  }
}
