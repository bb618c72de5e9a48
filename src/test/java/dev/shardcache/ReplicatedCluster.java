package dev.shardcache;

import dev.shardcache.testing.TcpProxy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Real nodes on 127.0.0.1 with a replicated cache "kv" of UTF-8 strings. With {@code proxied},
 * every node is reached by its peers only through its own {@link TcpProxy} (the ring names the
 * proxy's port), so a test can cut a node off and heal it like a network would. A node can be
 * {@linkplain #stop stopped} and {@linkplain #restart restarted} empty at the same address. Closing
 * it closes every node and proxy it started.
 */
final class ReplicatedCluster implements AutoCloseable {
  static final String CACHE = "kv";

  final List<ShardcacheNode> nodes = new ArrayList<>();
  final List<DistributedCache<String, String>> caches = new ArrayList<>();
  final List<RecordingLoader> loaders = new ArrayList<>();
  final List<TcpProxy> proxies = new ArrayList<>();
  /** The port each node listens on (behind its proxy when proxied); a restart binds it again. */
  private final List<Integer> listenPorts = new ArrayList<>();
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
      int listenPort = 0;
      TcpProxy proxy = null;
      if (proxied) {
        listenPort = freePort();
        proxy = TcpProxy.start(listenPort);
        proxies.add(proxy);
      }
      ShardcacheNode node = newNode(listenPort, proxy);
      nodes.add(node);
      node.start();
      listenPorts.add(proxied ? listenPort : HostPort.parse(node.address()).port());
      RecordingLoader loader = new RecordingLoader(node.address());
      caches.add(node.cache(CACHE, cacheConfig(loader)));
      loaders.add(loader);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private ShardcacheNode newNode(int listenPort, @Nullable TcpProxy proxy) {
    ShardcacheNode.Builder builder = ShardcacheNode.builder()
        .heartbeatInterval(Duration.ofMillis(100))
        .antiEntropyInterval(Duration.ofHours(1)) // tests run rounds with maintainNow()
        .listen("127.0.0.1", listenPort);
    if (proxy != null) {
      builder.advertisePort(proxy.port());
    }
    return builder.build();
  }

  private CacheConfig<String, String> cacheConfig(RecordingLoader loader) {
    CacheConfig.Builder<String, String> config = CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
        .replicationFactor(replicationFactor)
        .remoteTimeout(Duration.ofSeconds(2))
        .loader(loader);
    if (nearCache) {
      config.nearCache(1_000, Duration.ofMinutes(5));
    }
    return config.build();
  }

  /**
   * Stops node {@code i} as a crash would, as far as its data goes: its shard, hints and clock are
   * gone. Its proxy (if any) stays, so peers calling it are refused. Idempotent.
   */
  void stop(int i) {
    nodes.get(i).close();
  }

  /**
   * Replaces node {@code i} (stopping it first if it runs) by a new, empty node on the same listen
   * port and, when proxied, behind the same proxy, so its address on the ring is unchanged. The new
   * node defines the cache before it starts serving (so no peer's hinted write is refused for want
   * of the cache), then every running node, the new one included, is given all nodes' addresses as
   * its members: stopped nodes stay members (the failure detectors keep them out of the rings).
   */
  void restart(int i) {
    ShardcacheNode old = nodes.get(i);
    String address = old.address();
    old.close();
    TcpProxy proxy = proxied ? proxies.get(i) : null;
    RecordingLoader loader = new RecordingLoader(address);
    ShardcacheNode node = null;
    DistributedCache<String, String> cache = null;
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (node == null) {
      ShardcacheNode fresh = newNode(listenPorts.get(i), proxy);
      DistributedCache<String, String> freshCache = fresh.cache(CACHE, cacheConfig(loader));
      try {
        fresh.start();
        node = fresh;
        cache = freshCache;
      } catch (IOException e) { // the old server's port may take a moment to be free again
        fresh.close();
        if (System.nanoTime() - deadline > 0) {
          throw new UncheckedIOException("node " + i + " could not listen again on port "
              + listenPorts.get(i), e);
        }
        sleep(50);
      }
    }
    if (!node.address().equals(address)) {
      node.close();
      throw new IllegalStateException("restarted node " + i + " is " + node.address()
          + ", not " + address);
    }
    nodes.set(i, node);
    caches.set(i, cache);
    loaders.set(i, loader);
    List<String> members = addresses();
    for (ShardcacheNode member : nodes) {
      if (member.isRunning()) {
        member.setPeers(members);
      }
    }
  }

  /** The ring addresses of all nodes, running or stopped, in index order. */
  List<String> addresses() {
    List<String> addresses = new ArrayList<>();
    for (ShardcacheNode node : nodes) {
      addresses.add(node.address());
    }
    return addresses;
  }

  /**
   * The port node {@code i} itself listens on: behind its proxy when proxied, so a call to it
   * bypasses a cut.
   */
  int listenPort(int i) {
    return listenPorts.get(i);
  }

  /** The index of the node whose ring address is {@code address}. */
  int indexOf(String address) {
    for (int i = 0; i < nodes.size(); i++) {
      if (nodes.get(i).address().equals(address)) {
        return i;
      }
    }
    throw new IllegalArgumentException("no node has address " + address);
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
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
