package dev.shardcache.examples.demo;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * The launcher's handle on all the node JVMs together: starts them, sends commands to several at
 * once, reads back what they report (owners, statistics, loader calls, values), and stops them all.
 *
 * <p>Every wait is bounded: each request by its reply timeout (see {@link NodeProcess#request}),
 * work on several nodes at once by 60 s, so a stuck node cannot hang the demo. Thread-safe: the
 * list of nodes is copy-on-write, so the shutdown hook and the watchdog may read it while a step
 * runs.
 */
final class DemoCluster {

  static final Duration READY_TIMEOUT = Duration.ofSeconds(30);
  static final Duration REPLY_TIMEOUT = Duration.ofSeconds(10);
  static final Duration SLOW_REPLY_TIMEOUT = Duration.ofSeconds(30);

  private final List<NodeProcess> nodes = new CopyOnWriteArrayList<>();
  private final ExecutorService workers =
      Executors.newCachedThreadPool(
          task -> {
            Thread thread = new Thread(task, "demo-lane");
            thread.setDaemon(true);
            return thread;
          });

  /** The node JVMs started so far, in order (node-1 first); a read-only view. */
  List<NodeProcess> nodes() {
    return Collections.unmodifiableList(nodes);
  }

  /**
   * Starts {@code count} node JVMs, node-1 to node-{@code count}, each logging to {@code logDir},
   * and waits for each to report READY. Returns their addresses, in order.
   */
  List<String> start(int count, Path logDir) throws Exception {
    String classpath = System.getProperty("java.class.path");
    for (int i = 1; i <= count; i++) {
      String name = "node-" + i;
      nodes.add(NodeProcess.start(name, classpath, logDir.resolve(name + ".log")));
    }
    List<String> members = new ArrayList<>();
    for (NodeProcess node : nodes) {
      members.add(node.awaitReady(READY_TIMEOUT));
    }
    return members;
  }

  /** Gives each of {@code to} the member list {@code members} (a {@code PEERS} command). */
  void sendPeers(List<NodeProcess> to, List<String> members) throws Exception {
    String peers = "PEERS " + String.join(",", members);
    for (NodeProcess node : to) {
      node.request(peers, "OK", REPLY_TIMEOUT);
    }
  }

  /** Asks each of {@code of}, all at once, the owner of every key: one view per node, in order. */
  List<Map<String, String>> ownerViews(List<NodeProcess> of, List<String> keys) throws Exception {
    return inParallel(
        of,
        node -> {
          Map<String, String> view = new HashMap<>();
          for (String key : keys) {
            view.put(key, node.request("OWNER " + key, "OWNER", REPLY_TIMEOUT));
          }
          return view;
        });
  }

  /** A task run on one node (or lane) that may fail. */
  interface NodeTask<N, T> {
    T run(N input) throws Exception;
  }

  /** Runs {@code task} for every input at once and returns the results in input order. */
  <N, T> List<T> inParallel(List<N> inputs, NodeTask<N, T> task) throws Exception {
    List<Callable<T>> calls = new ArrayList<>();
    for (N input : inputs) {
      calls.add(() -> task.run(input));
    }
    List<T> results = new ArrayList<>();
    for (Future<T> future : workers.invokeAll(calls, 60, TimeUnit.SECONDS)) {
      try {
        results.add(future.get());
      } catch (CancellationException e) {
        throw new IOException("a parallel step did not finish within 60 s", e);
      } catch (ExecutionException e) {
        throw e.getCause() instanceof Exception cause ? cause : e;
      }
    }
    return results;
  }

  /** The lane numbers 0 .. count-1. */
  static List<Integer> lanes(int count) {
    return IntStream.range(0, count).boxed().collect(Collectors.toList());
  }

  /** The statistics of each of {@code of}, in order. */
  static List<NodeStats> stats(List<NodeProcess> of) throws Exception {
    List<NodeStats> stats = new ArrayList<>();
    for (NodeProcess node : of) {
      stats.add(NodeStats.parse(node.request("STATS", "STATS", REPLY_TIMEOUT)));
    }
    return stats;
  }

  static NodeStats total(List<NodeStats> stats) {
    return stats.stream().reduce(NodeStats.ZERO, NodeStats::plus);
  }

  /** The loader calls for {@code key} on each of {@code of}, as each node's loader counted them. */
  static Map<NodeProcess, Long> loadsOf(String key, List<NodeProcess> of) throws Exception {
    Map<NodeProcess, Long> loads = new LinkedHashMap<>();
    for (NodeProcess node : of) {
      loads.put(node, Long.parseLong(node.request("LOADS " + key, "LOADS", REPLY_TIMEOUT)));
    }
    return loads;
  }

  /** Reads {@code keys} through {@code node} in one {@code GETALL}: key to value. */
  static Map<String, String> getAll(NodeProcess node, List<String> keys) throws Exception {
    String answer = node.request("GETALL " + String.join(" ", keys), "VALUES", SLOW_REPLY_TIMEOUT);
    return fields(answer);
  }

  /** Parses "a=1 b=2" into a map. */
  static Map<String, String> fields(String text) {
    Map<String, String> fields = new LinkedHashMap<>();
    for (String field : text.trim().split("\\s+")) {
      int eq = field.indexOf('=');
      if (eq > 0) {
        fields.put(field.substring(0, eq), field.substring(eq + 1));
      }
    }
    return fields;
  }

  /** How many of {@code of} the node at {@code address} owns, by {@code owners}. */
  static long owned(String address, List<String> of, Map<String, String> owners) {
    return of.stream().filter(key -> address.equals(owners.get(key))).count();
  }

  /** The name of the node at {@code address} ("node-2"), or the address if no node has it. */
  String nameOf(String address) {
    return nodes.stream()
        .filter(node -> address.equals(node.address()))
        .map(NodeProcess::name)
        .findFirst()
        .orElse(address);
  }

  void printLogLocations() {
    for (NodeProcess node : nodes) {
      Console.say("  log of %s: %s", node.name(), node.logFile());
    }
  }

  /**
   * Stops every node (EXIT, then destroyForcibly) and the worker threads; returns how many of the
   * nodes are gone.
   */
  long stop() {
    for (NodeProcess node : nodes) {
      node.close();
    }
    long gone = nodes.stream().filter(node -> !node.isAlive()).count();
    workers.shutdownNow();
    return gone;
  }

  /** Kills whatever node is still running, at once; for the shutdown hook. Never throws. */
  void killAll() {
    for (NodeProcess node : nodes) {
      node.destroyNow();
    }
  }
}
