package dev.shardcache.examples.demo;

import static dev.shardcache.examples.demo.Console.say;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The demo's launcher: runs a real three-process Shardcache cluster on 127.0.0.1 and shows, with
 * numbers read back from the nodes, what the library promises.
 *
 * <ol>
 *   <li><b>Cluster</b>: starts three {@link DemoNode} JVMs, gives each the full member list, and
 *       checks that all three rings name the same owner for every key.
 *   <li><b>Spread</b>: reads 300 keys through the nodes, round robin; each key is loaded once, on
 *       its owner, and each node's shard holds exactly the keys it owns.
 *   <li><b>Single-flight</b>: 16 concurrent gets of one cold key on each of the three nodes at once
 *       make one loader call in the whole cluster.
 *   <li><b>Failure</b>: kills one node like {@code kill -9}; reads through the survivors all still
 *       answer, the dead node's keys being loaded locally (fallback loads). After the survivors are
 *       told the new member list, those keys are re-owned: loaded once on their new owner.
 * </ol>
 *
 * Prints a summary table and exits 0 if every step passed, 1 if one failed, 2 on an error, 3 if the
 * demo overran its deadline. Every child JVM is killed on every way out: the normal end, an
 * exception (try/finally), and Ctrl-C or {@code System.exit} (a shutdown hook).
 *
 * <p>The steps are {@link StartStep}, {@link SpreadStep}, {@link SingleFlightStep} and {@link
 * FailureStep}; each runs its workload, checks what the nodes report, and records the outcome in
 * the {@link Summary}. {@link DemoCluster} drives the node JVMs.
 */
public final class ClusterDemo {

  static final int NODES = 3;
  static final int KEYS = 300;

  /** The whole demo's time limit; the system property is for trying the watchdog out. */
  private static final Duration DEADLINE =
      Duration.ofSeconds(Long.getLong("clusterDemo.deadlineSeconds", 90));

  private final DemoCluster cluster = new DemoCluster();
  private final Summary summary = new Summary();
  private final List<String> keys = new ArrayList<>();

  private ClusterDemo() {
    for (int i = 1; i <= KEYS; i++) {
      keys.add(String.format(Locale.ROOT, "sku-%03d", i));
    }
  }

  public static void main(String[] args) {
    ClusterDemo demo = new ClusterDemo();
    Runtime.getRuntime()
        .addShutdownHook(new Thread(demo.cluster::killAll, "cluster-demo-kill-nodes"));
    startWatchdog(demo);

    boolean error = false;
    try {
      demo.run();
    } catch (Throwable e) {
      error = true;
      say("");
      say("The demo stopped on an error: %s", e);
      demo.summary.record(
          "Error",
          "every step runs to its end",
          e.getMessage() != null ? e.getMessage() : e.toString(),
          false);
      demo.cluster.printLogLocations();
    } finally {
      demo.shutdown();
    }
    say("");
    say("== Summary ==");
    demo.summary.print(System.out);
    int exit = error ? 2 : demo.summary.allPassed() ? 0 : 1;
    say(exit == 0 ? "All steps passed." : "Some step failed (exit code %d).", exit);
    System.out.flush();
    System.exit(exit);
  }

  private void run() throws Exception {
    Path logDir = Path.of("target", "demo-logs").toAbsolutePath();
    Files.createDirectories(logDir);
    say(
        "Shardcache cluster demo: %d node JVMs on 127.0.0.1, cache \"products\" loaded from a"
            + " simulated database (%d ms per load).",
        NODES, DemoNode.DB_LATENCY.toMillis());
    say("Node logs: %s", logDir);

    Map<String, String> owners = new StartStep(cluster, summary, keys).run(logDir);
    new SpreadStep(cluster, summary, keys, owners).run();
    new SingleFlightStep(cluster, summary).run();
    new FailureStep(cluster, summary, keys, owners).run();
  }

  /** Stops every child (EXIT, then destroyForcibly) and records whether all are gone. */
  private void shutdown() {
    long gone = cluster.stop();
    int started = cluster.nodes().size();
    if (started > 0) {
      say("");
      say("Stopped the node JVMs: %d/%d gone.", gone, started);
      summary.record(
          "5. Shutdown",
          "every child JVM is gone at the end (EXIT, else destroyForcibly)",
          gone + "/" + started + " child JVMs gone",
          gone == started);
    }
  }

  /** Ends the demo (killing the children via the hook) if it overruns {@link #DEADLINE}. */
  private static void startWatchdog(ClusterDemo demo) {
    Thread watchdog =
        new Thread(
            () -> {
              try {
                Thread.sleep(DEADLINE.toMillis());
              } catch (InterruptedException e) {
                return;
              }
              say("");
              say(
                  "The demo did not finish within %d s; killing the nodes and giving up.",
                  DEADLINE.toSeconds());
              demo.cluster.printLogLocations();
              demo.summary.record(
                  "Deadline",
                  "the demo ends within " + DEADLINE.toSeconds() + " s",
                  "still running after " + DEADLINE.toSeconds() + " s; stopped",
                  false);
              demo.summary.print(System.out);
              System.out.flush();
              System.exit(3);
            },
            "cluster-demo-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
  }
}
