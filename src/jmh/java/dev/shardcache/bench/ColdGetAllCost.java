package dev.shardcache.bench;

import dev.shardcache.CacheConfig;
import dev.shardcache.CacheLoader;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * How fast {@code getAll} fills a cold cache: three nodes on loopback in this JVM, replication
 * factor 2, a loader that only computes a 1 KiB value, and {@code getAll} of {@code batch} cold
 * keys at a time through one node until {@code keys} keys are read, on {@code threads} threads.
 * Prints keys/s and the loader calls per key (1.0: each key loaded once in the cluster).
 *
 * <pre>{@code
 * mvn -B -Pjmh test-compile exec:exec -Djmh.main=dev.shardcache.bench.ColdGetAllCost \
 *     -Djmh.args="30000 500 4 3"     # keys per round, batch, threads, rounds
 * }</pre>
 */
public final class ColdGetAllCost {
  private static final int VALUE_BYTES = 1024;

  private ColdGetAllCost() {}

  /** Runs the measurement; arguments: keys per round, batch size, threads, rounds. */
  public static void main(String[] args) throws Exception {
    int keys = args.length > 0 ? Integer.parseInt(args[0]) : 30_000;
    int batch = args.length > 1 ? Integer.parseInt(args[1]) : 500;
    int threads = args.length > 2 ? Integer.parseInt(args[2]) : 4;
    int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 3;
    java.util.logging.Logger.getLogger("dev.shardcache").setLevel(java.util.logging.Level.WARNING);
    AtomicLong loads = new AtomicLong();
    boolean bulk = args.length > 4 && args[4].equals("bulk");
    CacheLoader<String, byte[]> perKey =
        key -> {
          loads.incrementAndGet();
          return new byte[VALUE_BYTES];
        };
    CacheLoader<String, byte[]> loader =
        !bulk
            ? perKey
            : new CacheLoader<>() {
              @Override
              public byte[] load(String key) throws Exception {
                return perKey.load(key);
              }

              @Override
              public Map<String, byte[]> loadAll(java.util.Set<? extends String> keys)
                  throws Exception {
                Map<String, byte[]> values = new java.util.HashMap<>();
                for (String key : keys) {
                  values.put(key, perKey.load(key));
                }
                return values;
              }
            };
    List<ShardcacheNode> nodes = new ArrayList<>();
    List<DistributedCache<String, byte[]>> caches = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
      caches.add(
          node.cache(
              "cold",
              CacheConfig.builder(Codecs.utf8(), Codecs.bytes())
                  .maximumSize(10L * keys * (rounds + 1))
                  .replicationFactor(2)
                  .loader(loader)
                  .build()));
      nodes.add(node);
    }
    try {
      List<String> addresses = new ArrayList<>();
      for (ShardcacheNode node : nodes) {
        node.start();
        addresses.add(node.address());
      }
      for (ShardcacheNode node : nodes) {
        node.setPeers(addresses);
      }
      DistributedCache<String, byte[]> through = caches.get(0);
      for (int round = 0; round <= rounds; round++) { // round 0 warms up
        String prefix = "r" + round + ":";
        long loadsBefore = loads.get();
        long start = System.nanoTime();
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
          int first = t;
          workers[t] =
              new Thread(
                  () -> {
                    for (int b = first; b * batch < keys; b += threads) {
                      List<String> asked = new ArrayList<>();
                      for (int k = b * batch; k < Math.min(keys, (b + 1) * batch); k++) {
                        asked.add(prefix + k);
                      }
                      Map<String, byte[]> got = through.getAll(asked);
                      if (got.size() != asked.size()) {
                        throw new IllegalStateException(got.size() + " of " + asked.size());
                      }
                    }
                  });
          workers[t].start();
        }
        for (Thread worker : workers) {
          worker.join();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf(
            "round %d: %,.0f keys/s, %.2f loads per key%n",
            round, keys / seconds, (loads.get() - loadsBefore) / (double) keys);
      }
    } finally {
      for (ShardcacheNode node : nodes) {
        node.close();
      }
    }
  }
}
