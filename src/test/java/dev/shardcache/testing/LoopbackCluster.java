package dev.shardcache.testing;

import dev.shardcache.ShardcacheNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Real nodes on 127.0.0.1 with free ports, for the integration tests: built first (so that caches
 * can be defined on them before they serve), then started and told about each other. Closing it
 * closes every node, started or not.
 */
public final class LoopbackCluster implements AutoCloseable {
  private final List<ShardcacheNode> nodes = new ArrayList<>();

  /** Builds {@code size} nodes, not started. */
  public static LoopbackCluster of(int size) {
    LoopbackCluster cluster = new LoopbackCluster();
    for (int i = 0; i < size; i++) {
      cluster.nodes.add(ShardcacheNode.builder().listen("127.0.0.1", 0).build());
    }
    return cluster;
  }

  public ShardcacheNode node(int i) {
    return nodes.get(i);
  }

  public List<ShardcacheNode> nodes() {
    return List.copyOf(nodes);
  }

  public int size() {
    return nodes.size();
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

  @Override
  public void close() {
    nodes.forEach(ShardcacheNode::close);
  }
}
