package dev.shardcache.examples.demo;

import static dev.shardcache.examples.demo.ClusterDemo.KEYS;
import static dev.shardcache.examples.demo.ClusterDemo.NODES;
import static dev.shardcache.examples.demo.Console.duration;
import static dev.shardcache.examples.demo.Console.header;
import static dev.shardcache.examples.demo.Console.millisSince;
import static dev.shardcache.examples.demo.Console.say;
import static dev.shardcache.examples.demo.Console.split;
import static dev.shardcache.examples.demo.DemoCluster.REPLY_TIMEOUT;
import static dev.shardcache.examples.demo.DemoCluster.lanes;
import static dev.shardcache.examples.demo.DemoCluster.owned;
import static dev.shardcache.examples.demo.DemoCluster.stats;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Step 2, the spread: reads every key once through the nodes, round robin, and checks that each key
 * was loaded exactly once, on its owner (the loader's count and the library's agree), and that each
 * node's shard holds exactly the keys it owns.
 */
final class SpreadStep {

  private final DemoCluster cluster;
  private final Summary summary;
  private final List<String> keys;
  private final Map<String, String> owners;

  /** {@code owners}: each key's owner, as step 1 found it. */
  SpreadStep(DemoCluster cluster, Summary summary, List<String> keys, Map<String, String> owners) {
    this.cluster = cluster;
    this.summary = summary;
    this.keys = keys;
    this.owners = owners;
  }

  /** Runs the step and records its outcome. */
  void run() throws Exception {
    List<NodeProcess> nodes = cluster.nodes();
    header("2. Spread: GET %d keys through the nodes, round robin", KEYS);
    List<NodeStats> before = stats(nodes);
    Map<String, String> values = new ConcurrentHashMap<>();
    long start = System.nanoTime();
    // One lane per node, so the nodes work at once; key i goes to node i % 3.
    cluster.inParallel(
        lanes(nodes.size()),
        lane -> {
          NodeProcess node = nodes.get(lane);
          for (int i = lane; i < KEYS; i += NODES) {
            String key = keys.get(i);
            values.put(key, node.request("GET " + key, "VALUE", REPLY_TIMEOUT));
          }
          return null;
        });
    long ms = millisSince(start);
    List<NodeStats> after = stats(nodes);

    say(
        "  %-7s %-16s %6s %10s %12s %12s %13s",
        "node", "address", "owns", "localSize", "loaderCalls", "remoteCalls", "peerRequests");
    boolean sizesMatchOwnership = true;
    long loaderCalls = 0;
    long libraryLoads = 0;
    for (int i = 0; i < nodes.size(); i++) {
      NodeProcess node = nodes.get(i);
      NodeStats delta = after.get(i).minus(before.get(i));
      long owns = owned(node.address(), keys, owners);
      sizesMatchOwnership &= after.get(i).localSize() == owns;
      loaderCalls += delta.loaderCalls();
      libraryLoads += delta.loads();
      say(
          "  %-7s %-16s %6d %10d %12d %12d %13d",
          node.name(),
          node.address(),
          owns,
          after.get(i).localSize(),
          delta.loaderCalls(),
          delta.remoteCalls(),
          delta.peerRequests());
    }
    long loadedOnOwner =
        keys.stream()
            .filter(
                key ->
                    values.containsKey(key)
                        && SlowProductDb.loadedOn(values.get(key)).equals(owners.get(key)))
            .count();
    say(
        "  %d/%d answered in %s; %d loader calls in total (library counted %d);"
            + " %d/%d values were loaded on their key's owner",
        values.size(), KEYS, duration(ms), loaderCalls, libraryLoads, loadedOnOwner, KEYS);
    summary.record(
        "2. Spread",
        KEYS
            + " GETs round robin: each key loaded once, on its owner ("
            + KEYS
            + " loader calls);"
            + " each node's localSize = the keys it owns",
        values.size()
            + "/"
            + KEYS
            + " answered in "
            + duration(ms)
            + "; "
            + loaderCalls
            + " loader calls; "
            + loadedOnOwner
            + "/"
            + KEYS
            + " loaded on owner; localSize "
            + split(after, NodeStats::localSize),
        values.size() == KEYS
            && loaderCalls == KEYS
            && libraryLoads == KEYS
            && loadedOnOwner == KEYS
            && sizesMatchOwnership);
  }
}
