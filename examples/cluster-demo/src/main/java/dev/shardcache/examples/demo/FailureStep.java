package dev.shardcache.examples.demo;

import static dev.shardcache.examples.demo.ClusterDemo.NODES;
import static dev.shardcache.examples.demo.Console.duration;
import static dev.shardcache.examples.demo.Console.header;
import static dev.shardcache.examples.demo.Console.millisSince;
import static dev.shardcache.examples.demo.Console.say;
import static dev.shardcache.examples.demo.DemoCluster.REPLY_TIMEOUT;
import static dev.shardcache.examples.demo.DemoCluster.getAll;
import static dev.shardcache.examples.demo.DemoCluster.lanes;
import static dev.shardcache.examples.demo.DemoCluster.owned;
import static dev.shardcache.examples.demo.DemoCluster.stats;
import static dev.shardcache.examples.demo.DemoCluster.total;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * Step 4, failure: kills one node like {@code kill -9} and reads keys through the survivors (4a),
 * checking that every read answers well inside the remote timeout and that the dead node's keys are
 * loaded on the survivor asked (fallback loads); then gives the survivors the member list without
 * the dead node (4b), checking that they agree on owners, that only the dead node's keys moved,
 * each loaded once on its new owner with no fallback, and that a second read loads nothing.
 */
final class FailureStep {

  private static final int FAILURE_KEYS = 100;

  /** Matches {@code remoteTimeout} in {@link DemoNode#productsConfig}: no read may wait it out. */
  private static final long REMOTE_TIMEOUT_MS = 2_000;

  private final DemoCluster cluster;
  private final Summary summary;
  private final List<String> keys;
  private final Map<String, String> owners;

  /** {@code owners}: each key's owner, as step 1 found it. */
  FailureStep(DemoCluster cluster, Summary summary, List<String> keys, Map<String, String> owners) {
    this.cluster = cluster;
    this.summary = summary;
    this.keys = keys;
    this.owners = owners;
  }

  /** Runs both parts of the step, 4a then 4b, and records their outcomes. */
  void run() throws Exception {
    List<NodeProcess> nodes = cluster.nodes();
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
    cluster.inParallel(
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

  /** 4b: the survivors are told the member list without the dead node. */
  private void reown(
      List<NodeProcess> survivors, String dead, List<String> readKeys, List<String> deadKeys)
      throws Exception {
    header(
        "4b. Re-own: send the survivors the member list without %s, read the keys again",
        cluster.nameOf(dead));
    cluster.sendPeers(
        survivors, survivors.stream().map(NodeProcess::address).collect(Collectors.toList()));
    List<Map<String, String>> views = cluster.ownerViews(survivors, readKeys);
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
        cluster.nameOf(dead),
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
}
