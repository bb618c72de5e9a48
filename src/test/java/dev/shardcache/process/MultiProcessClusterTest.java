package dev.shardcache.process;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

/**
 * Three members, each in a JVM of its own, talking over 127.0.0.1 only: routing, single-flight,
 * writes and the fallback on a dead owner hold without any state shared in one heap. Each test
 * starts its own cluster ({@link ProcessCluster}) and stops every JVM of it afterwards.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MultiProcessClusterTest {

  private static final int NODES = 3;

  private ProcessCluster cluster;

  @BeforeEach
  void startCluster(TestInfo test) {
    cluster = new ProcessCluster(NODES, test.getTestMethod().orElseThrow().getName());
  }

  @AfterEach
  void stopCluster() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void eachKeyIsLoadedOnceClusterWideOnItsOwner() throws Exception {
    List<String> keys = keys("user-", 50);
    Map<String, String> owners = agreedOwners(keys, all());
    assertThat(Set.copyOf(owners.values()))
        .as("50 keys spread over all 3 members")
        .containsExactlyInAnyOrderElementsOf(cluster.addresses());

    // Every member reads every key, at the same time, each in its own order.
    ExecutorService readers = Executors.newFixedThreadPool(NODES);
    try {
      List<Future<Map<String, String>>> reads = new ArrayList<>();
      for (int i = 0; i < NODES; i++) {
        int node = i;
        List<String> order = rotated(keys, node * keys.size() / NODES);
        reads.add(readers.submit(() -> readAll(node, order)));
      }
      for (int i = 0; i < NODES; i++) {
        Map<String, String> values = reads.get(i).get(30, TimeUnit.SECONDS);
        for (String key : keys) {
          assertThat(values.get(key))
              .as("%s read through node%s", key, i)
              .isEqualTo(loadedBy(key, owners.get(key)));
        }
      }
    } finally {
      readers.shutdownNow();
    }

    assertThat(totalLoads()).as("loader calls over all members").isEqualTo(keys.size());
    for (int i = 0; i < NODES; i++) {
      long owned = ownedBy(owners, cluster.address(i)).size();
      assertThat(loads(i))
          .as("loader calls on node%s, which owns %s keys", i, owned)
          .isEqualTo(owned);
      assertThat(size(i)).as("shard size of node%s", i).isEqualTo(owned);
    }

    // Read again, and ask without loading: every answer now comes from the owners' shards.
    for (int i = 0; i < NODES; i++) {
      for (String key : keys) {
        assertThat(get(i, key)).isEqualTo(loadedBy(key, owners.get(key)));
        assertThat(cluster.send(i, "PRESENT " + key))
            .isEqualTo("VALUE " + loadedBy(key, owners.get(key)));
      }
    }
    assertThat(totalLoads())
        .as("loader calls after reading every key again")
        .isEqualTo(keys.size());
    assertThat(cluster.send(0, "PRESENT never-read")).isEqualTo("ABSENT");
    assertThat(totalLoads()).as("PRESENT never loads").isEqualTo(keys.size());
  }

  @Test
  void writesThroughOneMemberAreSeenThroughTheOthers() {
    // A put through each member of a key it does not own, read through the other two.
    for (int writer = 0; writer < NODES; writer++) {
      String key = keyNotOwnedBy(writer, "put-by-" + writer + "-");
      String value = "written by node" + writer;
      assertThat(cluster.send(writer, "PUT " + key + " " + value)).isEqualTo("OK");
      for (int reader : others(writer)) {
        assertThat(get(reader, key)).as("%s through node%s", key, reader).isEqualTo(value);
      }
    }
    assertThat(totalLoads()).as("a put value is served without loading").isZero();

    // Invalidate through a member that does not own the key; the next read through a third one
    // reloads it, once, on its owner.
    String key = keyNotOwnedBy(1, "invalidated-");
    String owner = agreedOwners(List.of(key), all()).get(key);
    assertThat(cluster.send(0, "PUT " + key + " stale")).isEqualTo("OK");
    assertThat(get(2, key)).isEqualTo("stale");
    long loadsBefore = totalLoads();
    long ownerLoadsBefore = loads(cluster.indexOf(owner));

    assertThat(cluster.send(1, "INVALIDATE " + key)).isEqualTo("OK");
    for (int i = 0; i < NODES; i++) {
      assertThat(cluster.send(i, "PRESENT " + key)).as("through node%s", i).isEqualTo("ABSENT");
    }
    int reader = owner.equals(cluster.address(2)) ? 0 : 2;
    assertThat(get(reader, key)).isEqualTo(loadedBy(key, owner));
    for (int i = 0; i < NODES; i++) {
      assertThat(get(i, key)).isEqualTo(loadedBy(key, owner));
    }
    assertThat(totalLoads()).as("loader calls after the invalidation").isEqualTo(loadsBefore + 1);
    assertThat(loads(cluster.indexOf(owner))).isEqualTo(ownerLoadsBefore + 1);
  }

  @Test
  void survivorsServeTheKeysOfAKilledMemberAndThenOwnThem() {
    List<String> keys = keys("k9-", 60);
    Map<String, String> owners = agreedOwners(keys, all());
    for (int i = 0; i < NODES; i++) {
      for (String key : keys) {
        assertThat(get(i, key)).isEqualTo(loadedBy(key, owners.get(key)));
      }
    }
    assertThat(totalLoads()).isEqualTo(keys.size());

    int victim = 2;
    String victimAddress = cluster.address(victim);
    List<String> orphans = ownedBy(owners, victimAddress);
    List<String> kept = keys.stream().filter(k -> !orphans.contains(k)).toList();
    assertThat(orphans).as("keys of the victim").isNotEmpty();
    List<Integer> survivors = others(victim);

    cluster.kill(victim);
    assertThat(cluster.isAlive(victim)).isFalse();

    // The survivors still list the victim, so its keys are still routed to it; each survivor
    // answers them by loading locally (not stored, since it does not own them).
    long[] loadsBefore = survivors.stream().mapToLong(this::loads).toArray();
    long started = System.nanoTime();
    for (int s = 0; s < survivors.size(); s++) {
      int node = survivors.get(s);
      for (String key : orphans) {
        assertThat(cluster.send(node, "OWNER " + key)).isEqualTo(victimAddress);
        assertThat(get(node, key))
            .as("%s of the dead member read through node%s", key, node)
            .isEqualTo(loadedBy(key, cluster.address(node)));
      }
      assertThat(loads(node) - loadsBefore[s])
          .as("fallback loads on node%s, one per read", node)
          .isEqualTo(orphans.size());
    }
    assertThat(System.nanoTime() - started)
        .as("reads of a dead member's keys fail over promptly")
        .isLessThan(TimeUnit.SECONDS.toNanos(15));
    // The survivors' own keys are still served from their owners' shards.
    long survivorLoads = survivors.stream().mapToLong(this::loads).sum();
    for (int node : survivors) {
      for (String key : kept) {
        assertThat(get(node, key)).isEqualTo(loadedBy(key, owners.get(key)));
      }
    }
    assertThat(survivors.stream().mapToLong(this::loads).sum()).isEqualTo(survivorLoads);

    // Membership without the victim: its keys move to the survivors, the others stay put.
    List<String> survivorAddresses = survivors.stream().map(cluster::address).toList();
    cluster.setPeers(survivorAddresses);
    Map<String, String> newOwners = agreedOwners(keys, survivors);
    assertThat(Set.copyOf(newOwners.values())).isSubsetOf(survivorAddresses);
    for (String key : kept) {
      assertThat(newOwners.get(key)).as("owner of %s", key).isEqualTo(owners.get(key));
    }
    for (int node : survivors) {
      for (String key : keys) {
        assertThat(get(node, key))
            .as("%s through node%s after the victim left", key, node)
            .isEqualTo(loadedBy(key, newOwners.get(key)));
      }
    }
    assertThat(survivors.stream().mapToLong(this::loads).sum() - survivorLoads)
        .as("each orphaned key loaded once, on its new owner")
        .isEqualTo(orphans.size());
    for (int node : survivors) {
      assertThat(size(node))
          .as("shard size of node%s", node)
          .isEqualTo(ownedBy(newOwners, cluster.address(node)).size());
    }
  }

  // ------------------------------------------------------------------ helpers

  /** The value the loader of the member at {@code address} gives {@code key}. */
  private static String loadedBy(String key, String address) {
    return "v(" + key + ")@" + address;
  }

  private String get(int node, String key) {
    String reply = cluster.send(node, "GET " + key);
    assertThat(reply).as("GET %s through node%s", key, node).startsWith("VALUE ");
    return reply.substring("VALUE ".length());
  }

  private long loads(int node) {
    return Long.parseLong(cluster.send(node, "LOADS"));
  }

  private long totalLoads() {
    long total = 0;
    for (int i = 0; i < NODES; i++) {
      if (cluster.isAlive(i)) {
        total += loads(i);
      }
    }
    return total;
  }

  private long size(int node) {
    return Long.parseLong(cluster.send(node, "SIZE"));
  }

  private Map<String, String> readAll(int node, List<String> keys) {
    Map<String, String> values = new HashMap<>();
    for (String key : keys) {
      values.put(key, get(node, key));
    }
    return values;
  }

  /** The owner of each key, checking that every one of {@code nodes} names the same member. */
  private Map<String, String> agreedOwners(List<String> keys, List<Integer> nodes) {
    Map<String, String> owners = new LinkedHashMap<>();
    for (String key : keys) {
      Map<Integer, String> answers = new LinkedHashMap<>();
      for (int node : nodes) {
        answers.put(node, cluster.send(node, "OWNER " + key));
      }
      assertThat(Set.copyOf(answers.values()))
          .as("owners of %s by node: %s", key, answers)
          .hasSize(1);
      String owner = answers.values().iterator().next();
      assertThat(cluster.addresses()).contains(owner);
      owners.put(key, owner);
    }
    return owners;
  }

  private String keyNotOwnedBy(int node, String prefix) {
    for (int n = 0; n < 1_000; n++) {
      String key = prefix + n;
      if (!cluster.send(node, "OWNER " + key).equals(cluster.address(node))) {
        return key;
      }
    }
    throw new AssertionError("node" + node + " owns every key " + prefix + "0..999");
  }

  private static List<String> ownedBy(Map<String, String> owners, String address) {
    return owners.entrySet().stream()
        .filter(e -> e.getValue().equals(address))
        .map(Map.Entry::getKey)
        .collect(Collectors.toList());
  }

  private static List<String> keys(String prefix, int count) {
    return IntStream.range(0, count).mapToObj(n -> prefix + n).toList();
  }

  private static List<String> rotated(List<String> list, int by) {
    List<String> copy = new ArrayList<>(list);
    Collections.rotate(copy, -by);
    return copy;
  }

  private static List<Integer> all() {
    return IntStream.range(0, NODES).boxed().toList();
  }

  private static List<Integer> others(int node) {
    return IntStream.range(0, NODES).filter(i -> i != node).boxed().toList();
  }
}
