package dev.shardcache.examples.demo;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * One cluster member, run as its own JVM by {@link ClusterDemo}.
 *
 * <p>It starts a {@link ShardcacheNode} on 127.0.0.1 with a free port and a "products" cache backed
 * by {@link SlowProductDb}, prints {@code READY host:port} on stdout, then answers the commands of
 * {@link NodeCommands} read from stdin, one line each. It exits on {@code EXIT} or when stdin
 * closes (the launcher is gone), so it can never outlive the demo by much.
 *
 * <p>Stdout carries only the protocol; the library's log goes to stderr, which the launcher sends
 * to a file per node.
 */
public final class DemoNode {

  /** The simulated latency of the product database. */
  static final Duration DB_LATENCY = Duration.ofMillis(50);

  private DemoNode() {}

  /** Builds the demo's cache configuration; every node uses the same one. */
  static CacheConfig<String, String> productsConfig(SlowProductDb db) {
    return CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
        .maximumSize(100_000)
        .expireAfterWrite(Duration.ofMinutes(10))
        .remoteTimeout(Duration.ofSeconds(2))
        .loader(db)
        .build();
  }

  public static void main(String[] args) throws Exception {
    SlowProductDb db = new SlowProductDb(DB_LATENCY);
    PrintWriter out =
        new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), true);
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));

    try (ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build()) {
      // Define the cache before start(), so a peer never asks for a cache this node lacks.
      DistributedCache<String, String> products = node.cache("products", productsConfig(db));
      node.start();
      db.setNodeAddress(node.address());
      NodeCommands commands = new NodeCommands(node, products, db);

      out.println("READY " + node.address());
      String line;
      while ((line = in.readLine()) != null) {
        out.println(commands.handle(line));
        if (commands.exitRequested()) {
          break;
        }
      }
    }
    // Leave no gRPC or loader thread keeping this JVM alive.
    System.exit(0);
  }
}
