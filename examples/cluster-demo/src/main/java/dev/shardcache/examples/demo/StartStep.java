package dev.shardcache.examples.demo;

import static dev.shardcache.examples.demo.ClusterDemo.KEYS;
import static dev.shardcache.examples.demo.ClusterDemo.NODES;
import static dev.shardcache.examples.demo.Console.duration;
import static dev.shardcache.examples.demo.Console.header;
import static dev.shardcache.examples.demo.Console.millisSince;
import static dev.shardcache.examples.demo.Console.say;
import static dev.shardcache.examples.demo.Console.split;
import static dev.shardcache.examples.demo.DemoCluster.owned;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Step 1, the cluster: starts the node JVMs, gives each the full member list, and checks that every
 * node's ring names the same owner for every key. Its result, the owners, is what the later steps
 * check the nodes against.
 */
final class StartStep {

  private final DemoCluster cluster;
  private final Summary summary;
  private final List<String> keys;

  StartStep(DemoCluster cluster, Summary summary, List<String> keys) {
    this.cluster = cluster;
    this.summary = summary;
    this.keys = keys;
  }

  /**
   * Runs the step, its node logs in {@code logDir}; returns each key's owner, as node 1 sees it.
   */
  Map<String, String> run(Path logDir) throws Exception {
    header("1. Start %d node JVMs and give each the full member list", NODES);
    long start = System.nanoTime();
    List<String> members = cluster.start(NODES, logDir);
    long readyMs = millisSince(start);
    List<NodeProcess> nodes = cluster.nodes();
    cluster.sendPeers(nodes, members);

    // Ask every node who owns every key: the rings must agree.
    List<Map<String, String>> views = cluster.ownerViews(nodes, keys);
    Map<String, String> owners = views.get(0);
    long agreed =
        keys.stream()
            .filter(key -> views.stream().allMatch(view -> view.get(key).equals(owners.get(key))))
            .count();
    for (NodeProcess node : nodes) {
      say(
          "  %s  %-16s pid %-7d owns %3d of the %d keys",
          node.name(), node.address(), node.pid(), owned(node.address(), keys, owners), KEYS);
    }
    say(
        "  all %d READY in %s; %d/%d keys have the same owner on every node",
        nodes.size(), duration(readyMs), agreed, KEYS);
    summary.record(
        "1. Cluster",
        NODES
            + " node JVMs report READY; after PEERS every ring names the same owner for each of "
            + KEYS
            + " keys",
        nodes.size()
            + " READY in "
            + duration(readyMs)
            + "; owners agree for "
            + agreed
            + "/"
            + KEYS
            + " keys; split "
            + split(nodes, node -> owned(node.address(), keys, owners)),
        agreed == KEYS);
    return owners;
  }
}
