package dev.shardcache.testing;

import dev.shardcache.ShardcacheNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Real nodes on 127.0.0.1 with free ports, for the integration tests: built first (so that caches
 * can be defined on them before they serve), then started and told about each other. A node may be
 * placed behind its own {@link TcpProxy} (its peers reach it only through the proxy, whose port is
 * its address on the ring), and nodes may be {@linkplain #add() added} later. Closing it closes
 * every node, started or not, and every proxy.
 */
public final class LoopbackCluster implements AutoCloseable {
  private final List<ShardcacheNode> nodes = new ArrayList<>();
  private final Map<Integer, TcpProxy> proxies = new HashMap<>();

  /** Builds {@code size} nodes, not started. */
  public static LoopbackCluster of(int size) {
    return of(size, new int[0]);
  }

  /**
   * Builds {@code size} nodes, not started; the nodes at the indexes {@code proxied} listen on a
   * free port behind their own {@link TcpProxy} and advertise the proxy's port, so every call a
   * peer makes to them goes through the proxy ({@link #proxy(int)}).
   */
  public static LoopbackCluster of(int size, int... proxied) {
    LoopbackCluster cluster = new LoopbackCluster();
    try {
      for (int i = 0; i < size; i++) {
        boolean behindProxy = false;
        for (int p : proxied) {
          behindProxy |= p == i;
        }
        if (behindProxy) {
          cluster.addBehindProxy();
        } else {
          cluster.add();
        }
      }
    } catch (RuntimeException | Error e) {
      cluster.close();
      throw e;
    }
    return cluster;
  }

  /** Builds one more node, not started, as the last index; {@link #close()} closes it too. */
  public ShardcacheNode add() {
    ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    nodes.add(node);
    return node;
  }

  /**
   * Builds one more node, not started, behind its own {@link TcpProxy}; see
   * {@link #of(int, int...)}.
   */
  public ShardcacheNode addBehindProxy() {
    try {
      int listenPort = freePort();
      TcpProxy proxy = TcpProxy.start(listenPort);
      proxies.put(nodes.size(), proxy);
      ShardcacheNode node = ShardcacheNode.builder()
          .listen("127.0.0.1", listenPort)
          .advertisePort(proxy.port())
          .build();
      nodes.add(node);
      return node;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public ShardcacheNode node(int i) {
    return nodes.get(i);
  }

  /**
   * The proxy in front of node {@code i}.
   *
   * @throws IllegalArgumentException if node {@code i} is not behind a proxy
   */
  public TcpProxy proxy(int i) {
    TcpProxy proxy = proxies.get(i);
    if (proxy == null) {
      throw new IllegalArgumentException("node " + i + " is not behind a proxy");
    }
    return proxy;
  }

  public List<ShardcacheNode> nodes() {
    return List.copyOf(nodes);
  }

  public int size() {
    return nodes.size();
  }

  /** The index of the node whose ring address is {@code address}. */
  public int indexOf(String address) {
    for (int i = 0; i < nodes.size(); i++) {
      ShardcacheNode node = nodes.get(i);
      if (node.isRunning() && node.address().equals(address)) {
        return i;
      }
    }
    throw new IllegalArgumentException("no running node has address " + address);
  }

  /** Starts the nodes not yet running, then gives every running node the full member list. */
  public LoopbackCluster startAndJoin() {
    for (ShardcacheNode node : nodes) {
      if (!node.isRunning()) {
        try {
          node.start();
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
    }
    return join();
  }

  /** Gives every running node the addresses of the running nodes as members. */
  public LoopbackCluster join() {
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
    return this;
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return socket.getLocalPort();
    }
  }

  @Override
  public void close() {
    nodes.forEach(ShardcacheNode::close);
    proxies.values().forEach(TcpProxy::close);
  }
}
