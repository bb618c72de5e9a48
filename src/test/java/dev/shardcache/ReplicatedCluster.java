package dev.shardcache;

import dev.shardcache.testing.TcpProxy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Real nodes on 127.0.0.1 with a replicated cache "kv" of UTF-8 strings. With {@code proxied},
 * every node is reached by its peers only through its own {@link TcpProxy} (the ring names the
 * proxy's port), so a test can cut a node off and heal it like a network would. Closing it closes
 * every node and proxy it started.
 */
final class ReplicatedCluster implements AutoCloseable {
  static final String CACHE = "kv";

  final List<ShardcacheNode> nodes = new ArrayList<>();
  final List<DistributedCache<String, String>> caches = new ArrayList<>();
  final List<RecordingLoader> loaders = new ArrayList<>();
  final List<TcpProxy> proxies = new ArrayList<>();
  private final int replicationFactor;
  private final boolean proxied;
  private final boolean nearCache;

  ReplicatedCluster(int size, int replicationFactor, boolean proxied, boolean nearCache) {
    this.replicationFactor = replicationFactor;
    this.proxied = proxied;
    this.nearCache = nearCache;
    try {
      for (int i = 0; i < size; i++) {
        start();
      }
      joinAll();
    } catch (RuntimeException | Error e) {
      close();
      throw e;
    }
  }

  private void start() {
    try {
      ShardcacheNode.Builder builder = ShardcacheNode.builder()
          .heartbeatInterval(Duration.ofMillis(100))
          .antiEntropyInterval(Duration.ofHours(1)); // tests run rounds with maintainNow()
      if (proxied) {
        int port = freePort();
        TcpProxy proxy = TcpProxy.start(port);
        proxies.add(proxy);
        builder.listen("127.0.0.1", port).advertisePort(proxy.port());
      } else {
        builder.listen("127.0.0.1", 0);
      }
      ShardcacheNode node = builder.build();
      nodes.add(node);
      node.start();
      RecordingLoader loader = new RecordingLoader(node.address());
      CacheConfig.Builder<String, String> config = CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
          .replicationFactor(replicationFactor)
          .remoteTimeout(Duration.ofSeconds(2))
          .loader(loader);
      if (nearCache) {
        config.nearCache(1_000, Duration.ofMinutes(5));
      }
      caches.add(node.cache(CACHE, config.build()));
      loaders.add(loader);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return socket.getLocalPort();
    }
  }

  void joinAll() {
    List<String> members = new ArrayList<>();
    for (ShardcacheNode node : nodes) {
      if (node.isRunning()) {
        members.add(node.address());
      }
    }
    for (ShardcacheNode node : nodes) {
      if (node.isRunning()) {
        node.setPeers(members);
      }
    }
  }

  ShardcacheNode node(int i) {
    return nodes.get(i);
  }

  DistributedCache<String, String> cache(int i) {
    return caches.get(i);
  }

  @SuppressWarnings("unchecked")
  DefaultDistributedCache<String, String> internals(int i) {
    return (DefaultDistributedCache<String, String>) caches.get(i);
  }

  int totalLoads() {
    return loaders.stream().mapToInt(RecordingLoader::calls).sum();
  }

  /** Waits until no running node has undelivered replication. */
  void awaitQuiescence() {
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> {
      for (ShardcacheNode node : nodes) {
        if (node.isRunning() && node.replicationBacklog() > 0) {
          return false;
        }
      }
      return true;
    });
  }

  /** One rebalancing and anti-entropy pass on every running node. */
  void antiEntropy() {
    for (ShardcacheNode node : nodes) {
      if (node.isRunning()) {
        node.maintainNow();
      }
    }
  }

  @Override
  public void close() {
    nodes.forEach(ShardcacheNode::close);
    proxies.forEach(TcpProxy::close);
  }
}
