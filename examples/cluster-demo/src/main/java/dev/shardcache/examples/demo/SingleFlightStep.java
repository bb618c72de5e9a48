package dev.shardcache.examples.demo;

import static dev.shardcache.examples.demo.ClusterDemo.NODES;
import static dev.shardcache.examples.demo.Console.duration;
import static dev.shardcache.examples.demo.Console.header;
import static dev.shardcache.examples.demo.Console.say;
import static dev.shardcache.examples.demo.DemoCluster.REPLY_TIMEOUT;
import static dev.shardcache.examples.demo.DemoCluster.SLOW_REPLY_TIMEOUT;
import static dev.shardcache.examples.demo.DemoCluster.fields;
import static dev.shardcache.examples.demo.DemoCluster.loadsOf;
import static dev.shardcache.examples.demo.DemoCluster.stats;
import static dev.shardcache.examples.demo.DemoCluster.total;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Step 3, single-flight: every node fires the same number of concurrent gets of one cold key at the
 * same instant, and the step checks that the whole cluster made one loader call, on the key's
 * owner, and that every get saw that one value.
 */
final class SingleFlightStep {

  private static final int BURST_THREADS = 16;
  private static final String HOT_KEY = "sku-hot";

  private final DemoCluster cluster;
  private final Summary summary;

  SingleFlightStep(DemoCluster cluster, Summary summary) {
    this.cluster = cluster;
    this.summary = summary;
  }

  /** Runs the step and records its outcome. */
  void run() throws Exception {
    List<NodeProcess> nodes = cluster.nodes();
    int gets = NODES * BURST_THREADS;
    header(
        "3. Single-flight: %d concurrent gets of one cold key (%d on each node at once)",
        gets, BURST_THREADS);
    String owner = nodes.get(0).request("OWNER " + HOT_KEY, "OWNER", REPLY_TIMEOUT);
    long loadsBefore = loadsOf(HOT_KEY, nodes).values().stream().mapToLong(Long::longValue).sum();
    List<NodeStats> before = stats(nodes);

    // Every node releases its gets at the same wall-clock instant (one machine, one clock).
    long startAt = System.currentTimeMillis() + 500;
    List<String> bursts =
        cluster.inParallel(
            nodes,
            node ->
                node.request(
                    "BURST " + HOT_KEY + " " + BURST_THREADS + " " + startAt,
                    "BURST",
                    SLOW_REPLY_TIMEOUT));
    long ms = System.currentTimeMillis() - startAt;

    Map<NodeProcess, Long> loads = loadsOf(HOT_KEY, nodes);
    long totalLoads = loads.values().stream().mapToLong(Long::longValue).sum() - loadsBefore;
    NodeStats delta = total(stats(nodes)).minus(total(before));
    long ok = 0;
    Set<String> distinct = new LinkedHashSet<>();
    for (int i = 0; i < nodes.size(); i++) {
      Map<String, String> fields = fields(bursts.get(i));
      ok += Long.parseLong(fields.get("ok"));
      for (String value : fields.getOrDefault("value", "").split("\\|")) {
        if (!value.isEmpty()) {
          distinct.add(value);
        }
      }
      say(
          "  %s: %s/%d gets answered in %s ms, loader calls for %s here: %d%s",
          nodes.get(i).name(),
          fields.get("ok"),
          BURST_THREADS,
          fields.get("ms"),
          HOT_KEY,
          loads.get(nodes.get(i)),
          nodes.get(i).address().equals(owner) ? "  (owner)" : "");
    }
    say("  value(s) seen: %s", distinct);
    say(
        "  %d loader call(s) in the cluster; %d remote call(s) carried the %d non-owner gets;"
            + " wall time %s",
        totalLoads, delta.remoteCalls(), (NODES - 1) * BURST_THREADS, duration(ms));
    boolean onOwner =
        distinct.size() == 1 && SlowProductDb.loadedOn(distinct.iterator().next()).equals(owner);
    summary.record(
        "3. Single-flight",
        BURST_THREADS
            + " concurrent gets of one cold key on each of the "
            + NODES
            + " nodes at once -> 1 loader call in the cluster",
        totalLoads
            + " loader call(s) (on "
            + cluster.nameOf(owner)
            + ", the owner); "
            + ok
            + "/"
            + gets
            + " gets, "
            + distinct.size()
            + " distinct value(s); "
            + duration(ms)
            + " wall",
        totalLoads == 1 && ok == gets && onOwner);
  }
}
