package dev.shardcache.examples.demo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

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
 */
public final class ClusterDemo {

  private static final int NODES = 3;
  private static final int KEYS = 300;
  private static final int FAILURE_KEYS = 100;
  private static final int BURST_THREADS = 16;
  private static final String HOT_KEY = "sku-hot";

  /** Matches {@code remoteTimeout} in {@link DemoNode#productsConfig}: no read may wait it out. */
  private static final long REMOTE_TIMEOUT_MS = 2_000;

  private static final Duration READY_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration REPLY_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration SLOW_REPLY_TIMEOUT = Duration.ofSeconds(30);

  /** The whole demo's time limit; the system property is for trying the watchdog out. */
  private static final Duration DEADLINE =
      Duration.ofSeconds(Long.getLong("clusterDemo.deadlineSeconds", 90));

  private final List<NodeProcess> nodes = new CopyOnWriteArrayList<>();
  private final Summary summary = new Summary();
  private final ExecutorService workers =
      Executors.newCachedThreadPool(
          task -> {
            Thread thread = new Thread(task, "demo-lane");
            thread.setDaemon(true);
            return thread;
          });
  private final List<String> keys = new ArrayList<>();

  /** Key to owner address, as all three rings agreed in step 1. */
  private Map<String, String> owners = Map.of();

  private ClusterDemo() {
    for (int i = 1; i <= KEYS; i++) {
      keys.add(String.format(Locale.ROOT, "sku-%03d", i));
    }
  }

  public static void main(String[] args) {
    ClusterDemo demo = new ClusterDemo();
    Runtime.getRuntime().addShutdownHook(new Thread(demo::killAll, "cluster-demo-kill-nodes"));
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
      demo.printLogLocations();
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

    startCluster(logDir);
    spread();
    singleFlight();
    failure();
  }

  // ------------------------------------------------------------------ 1. cluster

  private void startCluster(Path logDir) throws Exception {
    header("1. Start %d node JVMs and give each the full member list", NODES);
    String classpath = System.getProperty("java.class.path");
    long start = System.nanoTime();
    for (int i = 1; i <= NODES; i++) {
      String name = "node-" + i;
      nodes.add(NodeProcess.start(name, classpath, logDir.resolve(name + ".log")));
    }
    List<String> members = new ArrayList<>();
    for (NodeProcess node : nodes) {
      members.add(node.awaitReady(READY_TIMEOUT));
    }
    long readyMs = millisSince(start);
    String peers = "PEERS " + String.join(",", members);
    for (NodeProcess node : nodes) {
      node.request(peers, "OK", REPLY_TIMEOUT);
    }

    // Ask every node who owns every key: the rings must agree.
    List<Map<String, String>> views =
        inParallel(
            nodes,
            node -> {
              Map<String, String> view = new HashMap<>();
              for (String key : keys) {
                view.put(key, node.request("OWNER " + key, "OWNER", REPLY_TIMEOUT));
              }
              return view;
            });
    owners = views.get(0);
    long agreed =
        keys.stream()
            .filter(key -> views.stream().allMatch(view -> view.get(key).equals(owners.get(key))))
            .count();
    for (NodeProcess node : nodes) {
      say(
          "  %s  %-16s pid %-7d owns %3d of the %d keys",
          node.name(), node.address(), node.pid(), owned(node.address(), keys), KEYS);
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
            + split(nodes, node -> owned(node.address(), keys)),
        agreed == KEYS);
  }

  // ------------------------------------------------------------------ 2. spread

  private void spread() throws Exception {
    header("2. Spread: GET %d keys through the nodes, round robin", KEYS);
    List<NodeStats> before = stats(nodes);
    Map<String, String> values = new ConcurrentHashMap<>();
    long start = System.nanoTime();
    // One lane per node, so the nodes work at once; key i goes to node i % 3.
    inParallel(
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
      long owns = owned(node.address(), keys);
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

  // ------------------------------------------------------------------ 3. single-flight

  private void singleFlight() throws Exception {
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
        inParallel(
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
            + nameOf(owner)
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

  // ------------------------------------------------------------------ 4. failure

  private void failure() throws Exception {
    NodeProcess victim = nodes.get(NODES - 1);
    String dead = victim.address();
    List<NodeProcess> survivors = nodes.subList(0, NODES - 1);
    List<String> readKeys = keys.subList(0, FAILURE_KEYS);
    List<String> deadKeys =
        readKeys.stream().filter(key -> owners.get(key).equals(dead)).collect(Collectors.toList());

    header(
        "4a. Failure: kill %s (like kill -9), then read %d keys through the survivors",
        victim.name(), FAILURE_KEYS);
    victim.kill();
    say(
        "  killed %s (pid %d, %s), owner of %d of the %d keys; alive now: %s",
        victim.name(), victim.pid(), dead, deadKeys.size(), FAILURE_KEYS, victim.isAlive());

    List<NodeStats> before = stats(survivors);
    Map<String, String> values = new ConcurrentHashMap<>();
    Map<String, String> askedNode = new ConcurrentHashMap<>();
    Map<String, Long> readMs = new ConcurrentHashMap<>();
    long start = System.nanoTime();
    // One lane per survivor; key i goes to survivor i % 2.
    inParallel(
        lanes(survivors.size()),
        lane -> {
          NodeProcess node = survivors.get(lane);
          for (int i = lane; i < readKeys.size(); i += survivors.size()) {
            String key = readKeys.get(i);
            long readStart = System.nanoTime();
            values.put(key, node.request("GET " + key, "VALUE", REPLY_TIMEOUT));
            readMs.put(key, millisSince(readStart));
            askedNode.put(key, node.address());
          }
          return null;
        });
    long ms = millisSince(start);
    String slowestKey =
        readMs.entrySet().stream()
            .max(Map.Entry.comparingByValue())
            .map(Map.Entry::getKey)
            .orElseThrow();
    long slowestMs = readMs.get(slowestKey);
    long deadKeyMs = deadKeys.stream().mapToLong(readMs::get).sum();
    NodeStats delta = total(stats(survivors)).minus(total(before));
    long loadedByAskedSurvivor =
        deadKeys.stream()
            .filter(
                key ->
                    values.containsKey(key)
                        && SlowProductDb.loadedOn(values.get(key)).equals(askedNode.get(key)))
            .count();
    say(
        "  %d/%d reads answered in %s; slowest: %s, %d ms (%s); the remote timeout is %d ms",
        values.size(),
        FAILURE_KEYS,
        duration(ms),
        slowestKey,
        slowestMs,
        deadKeys.contains(slowestKey) ? "owned by the dead node" : "owned by a survivor",
        REMOTE_TIMEOUT_MS);
    say(
        "  the dead node's %d keys took %.0f ms per read on average (a local %d ms load each);"
            + " the other %d keys %.1f ms",
        deadKeys.size(),
        (double) deadKeyMs / deadKeys.size(),
        DemoNode.DB_LATENCY.toMillis(),
        FAILURE_KEYS - deadKeys.size(),
        (double) (readMs.values().stream().mapToLong(Long::longValue).sum() - deadKeyMs)
            / (FAILURE_KEYS - deadKeys.size()));
    say(
        "  survivors: %d fallback loads, %d loader calls, %d failed remote calls (after a failure"
            + " the dead peer is skipped, not called again); %d/%d of the dead node's keys were loaded"
            + " on the survivor asked",
        delta.fallbackLoads(),
        delta.loaderCalls(),
        delta.remoteFailures(),
        loadedByAskedSurvivor,
        deadKeys.size());
    summary.record(
        "4a. Node killed",
        "all "
            + FAILURE_KEYS
            + " reads through the survivors answer; the dead node's keys are"
            + " loaded on the survivor asked (fallback loads > 0); no read waits out the "
            + duration(REMOTE_TIMEOUT_MS)
            + " remote timeout",
        values.size()
            + "/"
            + FAILURE_KEYS
            + " answered in "
            + duration(ms)
            + " (slowest "
            + slowestMs
            + " ms); "
            + delta.fallbackLoads()
            + " fallback loads for the dead"
            + " node's "
            + deadKeys.size()
            + " keys",
        !deadKeys.isEmpty()
            && values.size() == FAILURE_KEYS
            && delta.fallbackLoads() > 0
            && delta.fallbackLoads() == deadKeys.size()
            && loadedByAskedSurvivor == deadKeys.size()
            && slowestMs < REMOTE_TIMEOUT_MS);

    reown(survivors, dead, readKeys, deadKeys);
  }

  private void reown(
      List<NodeProcess> survivors, String dead, List<String> readKeys, List<String> deadKeys)
      throws Exception {
    header(
        "4b. Re-own: send the survivors the member list without %s, read the keys again",
        nameOf(dead));
    String peers =
        "PEERS " + survivors.stream().map(NodeProcess::address).collect(Collectors.joining(","));
    for (NodeProcess node : survivors) {
      node.request(peers, "OK", REPLY_TIMEOUT);
    }
    List<Map<String, String>> views =
        inParallel(
            survivors,
            node -> {
              Map<String, String> view = new HashMap<>();
              for (String key : readKeys) {
                view.put(key, node.request("OWNER " + key, "OWNER", REPLY_TIMEOUT));
              }
              return view;
            });
    Map<String, String> newOwners = views.get(0);
    boolean agree = views.stream().allMatch(view -> view.equals(newOwners));
    boolean deadGone = !newOwners.containsValue(dead);
    long kept =
        readKeys.stream()
            .filter(key -> !deadKeys.contains(key) && newOwners.get(key).equals(owners.get(key)))
            .count();
    say(
        "  rings agree: %s; keys still owned by %s: %d; keys of live nodes that kept their"
            + " owner: %d/%d",
        agree,
        nameOf(dead),
        owned(dead, readKeys, newOwners),
        kept,
        readKeys.size() - deadKeys.size());

    // First pass: GETALL through one survivor (one batched call per owner).
    List<NodeStats> before = stats(survivors);
    long start = System.nanoTime();
    Map<String, String> first = getAll(survivors.get(0), readKeys);
    long firstMs = millisSince(start);
    List<NodeStats> middle = stats(survivors);
    // Second pass: GETALL through the other survivor; everything is cached by now.
    start = System.nanoTime();
    Map<String, String> second = getAll(survivors.get(1), readKeys);
    long secondMs = millisSince(start);
    List<NodeStats> after = stats(survivors);

    NodeStats firstDelta = total(middle).minus(total(before));
    NodeStats secondDelta = total(after).minus(total(middle));
    long movedLoadedOnNewOwner =
        deadKeys.stream()
            .filter(
                key ->
                    first.containsKey(key)
                        && SlowProductDb.loadedOn(first.get(key)).equals(newOwners.get(key)))
            .count();
    say(
        "  GETALL via %s: %d/%d values in %s; %d loader calls, %d fallback loads, %d failed"
            + " remote calls; %d/%d moved keys loaded on their new owner",
        survivors.get(0).name(),
        first.size(),
        readKeys.size(),
        duration(firstMs),
        firstDelta.loaderCalls(),
        firstDelta.fallbackLoads(),
        firstDelta.remoteFailures(),
        movedLoadedOnNewOwner,
        deadKeys.size());
    say(
        "  GETALL via %s: %d/%d values in %s; %d loader calls (all cached)",
        survivors.get(1).name(),
        second.size(),
        readKeys.size(),
        duration(secondMs),
        secondDelta.loaderCalls());
    for (int i = 0; i < survivors.size(); i++) {
      say(
          "  %s now owns %d of the %d keys, localSize %d",
          survivors.get(i).name(),
          owned(survivors.get(i).address(), readKeys, newOwners),
          readKeys.size(),
          after.get(i).localSize());
    }
    summary.record(
        "4b. Re-own",
        "after PEERS without the dead node: the survivors agree on owners; only the dead node's"
            + " keys move, each loaded once on its new owner, with no fallback; a 2nd read loads"
            + " nothing",
        "rings agree: "
            + agree
            + "; "
            + kept
            + "/"
            + (readKeys.size() - deadKeys.size())
            + " kept their owner; "
            + movedLoadedOnNewOwner
            + "/"
            + deadKeys.size()
            + " moved keys loaded on new owner; loads "
            + firstDelta.loaderCalls()
            + " then "
            + secondDelta.loaderCalls()
            + "; fallback "
            + firstDelta.fallbackLoads(),
        agree
            && deadGone
            && kept == readKeys.size() - deadKeys.size()
            && first.size() == readKeys.size()
            && second.size() == readKeys.size()
            && firstDelta.loaderCalls() == deadKeys.size()
            && movedLoadedOnNewOwner == deadKeys.size()
            && firstDelta.fallbackLoads() == 0
            && firstDelta.remoteFailures() == 0
            && secondDelta.loaderCalls() == 0);
  }

  // ------------------------------------------------------------------ shutdown

  /** Stops every child (EXIT, then destroyForcibly) and records whether all are gone. */
  private void shutdown() {
    for (NodeProcess node : nodes) {
      node.close();
    }
    long gone = nodes.stream().filter(node -> !node.isAlive()).count();
    if (!nodes.isEmpty()) {
      say("");
      say("Stopped the node JVMs: %d/%d gone.", gone, nodes.size());
      summary.record(
          "5. Shutdown",
          "every child JVM is gone at the end (EXIT, else destroyForcibly)",
          gone + "/" + nodes.size() + " child JVMs gone",
          gone == nodes.size());
    }
    workers.shutdownNow();
  }

  /** The shutdown hook: kills whatever child is still running. Never throws. */
  private void killAll() {
    for (NodeProcess node : nodes) {
      node.destroyNow();
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
              demo.printLogLocations();
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

  private void printLogLocations() {
    for (NodeProcess node : nodes) {
      say("  log of %s: %s", node.name(), node.logFile());
    }
  }

  // ------------------------------------------------------------------ helpers

  private interface NodeTask<N, T> {
    T run(N input) throws Exception;
  }

  /** Runs {@code task} for every input at once and returns the results in input order. */
  private <N, T> List<T> inParallel(List<N> inputs, NodeTask<N, T> task) throws Exception {
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
  private static List<Integer> lanes(int count) {
    return IntStream.range(0, count).boxed().collect(Collectors.toList());
  }

  private static List<NodeStats> stats(List<NodeProcess> of) throws Exception {
    List<NodeStats> stats = new ArrayList<>();
    for (NodeProcess node : of) {
      stats.add(NodeStats.parse(node.request("STATS", "STATS", REPLY_TIMEOUT)));
    }
    return stats;
  }

  private static NodeStats total(List<NodeStats> stats) {
    return stats.stream().reduce(NodeStats.ZERO, NodeStats::plus);
  }

  private static Map<NodeProcess, Long> loadsOf(String key, List<NodeProcess> of) throws Exception {
    Map<NodeProcess, Long> loads = new LinkedHashMap<>();
    for (NodeProcess node : of) {
      loads.put(node, Long.parseLong(node.request("LOADS " + key, "LOADS", REPLY_TIMEOUT)));
    }
    return loads;
  }

  private static Map<String, String> getAll(NodeProcess node, List<String> keys) throws Exception {
    String answer = node.request("GETALL " + String.join(" ", keys), "VALUES", SLOW_REPLY_TIMEOUT);
    return fields(answer);
  }

  /** Parses "a=1 b=2" into a map. */
  private static Map<String, String> fields(String text) {
    Map<String, String> fields = new LinkedHashMap<>();
    for (String field : text.trim().split("\\s+")) {
      int eq = field.indexOf('=');
      if (eq > 0) {
        fields.put(field.substring(0, eq), field.substring(eq + 1));
      }
    }
    return fields;
  }

  private long owned(String address, List<String> of) {
    return owned(address, of, owners);
  }

  private static long owned(String address, List<String> of, Map<String, String> owners) {
    return of.stream().filter(key -> address.equals(owners.get(key))).count();
  }

  private String nameOf(String address) {
    return nodes.stream()
        .filter(node -> address.equals(node.address()))
        .map(NodeProcess::name)
        .findFirst()
        .orElse(address);
  }

  /** Formats one number per item as "a/b/c". */
  private static <T> String split(List<T> items, ToLongFunction<T> value) {
    return items.stream()
        .map(item -> String.valueOf(value.applyAsLong(item)))
        .collect(Collectors.joining("/"));
  }

  private static long millisSince(long startNanos) {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
  }

  private static String duration(long ms) {
    return ms < 1_000 ? ms + " ms" : String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
  }

  private static void header(String format, Object... args) {
    say("");
    say("== " + format + " ==", args);
  }

  private static void say(String format, Object... args) {
    System.out.println(args.length == 0 ? format : String.format(Locale.ROOT, format, args));
    System.out.flush();
  }
}
