package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shardcache.testing.TestCluster;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Client-only members over real gRPC on 127.0.0.1: three members and a client no member lists.
 *
 * <ul>
 *   <li>Reads and writes through the client are seen through the members and the other way round;
 *       the client's loader is never called and each key is loaded once in the whole cluster; no
 *       ring holds the client, and it opens no listening socket. A scan through the client reads
 *       every member's entries, each once.
 *   <li>A write through a member drops the client's near copy (read back long before the near
 *       cache's TTL) and, with hot keys, before the write returns; when the stream to a member is
 *       cut, the client drops its copies and keeps none until it has subscribed again.
 *   <li>When a member dies the client falls over to the replica as a member would.
 *   <li>A member with its maximum of subscribers refuses the next client, which then keeps no copy;
 *       the cluster secret authenticates the client like a member.
 * </ul>
 *
 * Run time: about 15 s on an idle machine.
 */
class ClientOnlyClusterTest {
  private static final String CACHE = "kv";

  /** Loaders by node index ({@link TestCluster#CLIENT_INDEX} for the clients). */
  private final Map<Integer, RecordingLoader> loaders = new ConcurrentHashMap<>();

  private TestCluster.Builder members(UnaryOperator<CacheConfig.Builder<String, String>> config) {
    return members(config, node -> node);
  }

  /**
   * Three members with {@code memberSettings} (the client gets none). Heartbeats keep their default
   * (500 ms, suspicion after about 2 s): on a loaded machine a stall of a few hundred milliseconds
   * made every node suspect the others at 100 ms, and a client whose every holder is suspected
   * fails a loading read, where a member would load the key itself.
   */
  private TestCluster.Builder members(
      UnaryOperator<CacheConfig.Builder<String, String>> config,
      UnaryOperator<ShardcacheNode.Builder> memberSettings) {
    return TestCluster.builder()
        .size(3)
        .nodeSettings(
            (index, node) -> index == TestCluster.CLIENT_INDEX ? node : memberSettings.apply(node))
        .cache(
            CACHE,
            (index, node) -> {
              RecordingLoader loader =
                  loaders.computeIfAbsent(
                      index,
                      i ->
                          new RecordingLoader(
                              () -> i == TestCluster.CLIENT_INDEX ? "client" : node.address()));
              return config
                  .apply(CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).loader(loader))
                  .build();
            });
  }

  private int memberLoads(String key) {
    int calls = 0;
    for (Map.Entry<Integer, RecordingLoader> loader : loaders.entrySet()) {
      if (loader.getKey() != TestCluster.CLIENT_INDEX) {
        calls += loader.getValue().calls(key);
      }
    }
    return calls;
  }

  private int clientLoads() {
    RecordingLoader client = loaders.get(TestCluster.CLIENT_INDEX);
    return client == null ? 0 : client.calls();
  }

  @Test
  void aClientSharesTheMembersCacheLoadsNothingAndIsOnNoRing() throws Exception {
    try (TestCluster cluster = members(config -> config.replicationFactor(2)).build()) {
      Set<Integer> listeningBefore = listeningPorts();
      TestCluster.Client client = cluster.addClient();
      DistributedCache<String, String> cache = client.cache();

      cache.put("through-client", "c");
      cluster.cache(1).put("through-member", "m");
      for (int i = 0; i < 3; i++) {
        assertThat(cluster.cache(i).get("through-client")).as("member %s", i).isEqualTo("c");
      }
      assertThat(cache.get("through-member")).isEqualTo("m");
      cache.invalidate("through-member");
      assertThat(cluster.cache(2).getIfPresent("through-member")).isNull();

      // Cold keys read through the client and the members at once: each loaded once, by a member.
      List<String> keys = IntStream.range(0, 40).mapToObj(k -> "cold-" + k).toList();
      List<CompletableFuture<String>> reads = new ArrayList<>();
      for (String key : keys) {
        reads.add(cache.getAsync(key));
        reads.add(cluster.cache(key.hashCode() & 1).getAsync(key));
        reads.add(cache.getAsync(key));
      }
      for (CompletableFuture<String> read : reads) {
        assertThat(read.get()).startsWith("v(");
      }
      for (String key : keys) {
        assertThat(cache.get(key)).isEqualTo(cluster.cache(2).get(key));
        assertThat(memberLoads(key)).as("loads of %s in the cluster", key).isEqualTo(1);
      }
      assertThat(clientLoads()).as("the client's loader").isZero();
      assertThat(cache.localSize()).as("the client's shard").isZero();

      // A scan through the client asks the members alone (it is on no ring): each entry once.
      Map<String, String> scanned = new HashMap<>();
      try (CacheScan<String, String> scan = cache.scan()) {
        scan.forEachRemaining(
            entry ->
                assertThat(scanned.put(entry.getKey(), entry.getValue()))
                    .as("%s seen twice", entry.getKey())
                    .isNull());
      }
      Set<String> written = new HashSet<>(keys);
      written.add("through-client");
      assertThat(scanned.keySet()).isEqualTo(written);
      assertThat(scanned).containsEntry("through-client", "c");

      String self = client.node().address();
      assertThat(self).startsWith("client-");
      assertThat(client.node().isClientOnly()).isTrue();
      assertThat(client.node().ring().nodes())
          .containsExactlyInAnyOrderElementsOf(cluster.addresses());
      for (ShardcacheNode member : cluster.nodes()) {
        assertThat(member.ring().nodes()).doesNotContain(self);
        assertThat(member.peers()).doesNotContain(self);
      }
      Set<Integer> listeningAfter = listeningPorts();
      System.out.printf(
          "client-only: listening ports before the client %s, after %s%n",
          listeningBefore, listeningAfter);
      assertThat(listeningBefore).as("listening sockets").containsAll(listeningAfter);
    }
  }

  @Test
  void aWriteThroughAMemberDropsTheClientsNearCopyAndACutStreamDropsThemAll() {
    try (TestCluster cluster =
        members(config -> config.nearCache(1_000, Duration.ofMinutes(5)))
            .behindProxy(0, 1, 2)
            .build()) {
      TestCluster.Client client = cluster.addClient();
      DistributedCache<String, String> cache = client.cache();
      Subscriptions subscriptions = client.node().testHooks().subscriptions();
      await().atMost(Duration.ofSeconds(10)).until(() -> subscriptions.covers(CACHE));

      String key = cluster.keyOwnedBy(0, "near-");
      cluster.cache(0).put(key, "v1");
      // The write's own invalidation may reach the client after its first read, and drop the copy.
      awaitNearHit(cache, key, "v1");

      long start = System.nanoTime();
      cluster.cache(1).put(key, "v2"); // through another member, to the owner
      long written = System.nanoTime();
      await()
          .pollDelay(Duration.ZERO)
          .pollInterval(Duration.ofMillis(1))
          .atMost(Duration.ofSeconds(10))
          .until(() -> "v2".equals(cache.get(key)));
      System.out.printf(
          "client-only: a write through a member took %d ms; the client read the new value %d ms"
              + " after it returned (near TTL 5 min; reads polled every 1 ms)%n",
          (written - start) / 1_000_000, (System.nanoTime() - written) / 1_000_000);

      // Copies of every member's keys go when one member's stream is cut.
      String other = cluster.keyOwnedBy(1, "other-");
      cluster.cache(1).put(other, "o1");
      awaitNearHit(cache, other, "o1");
      cluster.proxy(2).cut();
      await().atMost(Duration.ofSeconds(10)).until(() -> !subscriptions.covers(CACHE));
      // (Member 2 may soon be suspected and leave the client's ring, which opens the gate again
      // over members 0 and 1: so only the first read is sure to find no copy.)
      long before = cache.stats().nearHitCount();
      assertThat(cache.get(other)).isEqualTo("o1");
      assertThat(cache.stats().nearHitCount())
          .as("near hits of a key read before member 2's stream was cut")
          .isEqualTo(before);
      cluster.proxy(2).heal();
      await().atMost(Duration.ofSeconds(20)).until(() -> subscriptions.covers(CACHE));
      awaitNearHit(cache, other, "o1"); // kept again once subscribed again
    }
  }

  @Test
  void aCopyWhoseInvalidationIsLostIsAtMostItsTtlOld() throws InterruptedException {
    Duration ttl = Duration.ofMillis(800);
    try (TestCluster cluster = members(config -> config.nearCache(1_000, ttl)).build()) {
      TestCluster.Client client = cluster.addClient();
      DistributedCache<String, String> cache = client.cache();
      Subscriptions subscriptions = client.node().testHooks().subscriptions();
      await().atMost(Duration.ofSeconds(10)).until(() -> subscriptions.covers(CACHE));
      String key = cluster.keyOwnedBy(0, "lost-");
      cluster.cache(0).put(key, "old");
      awaitNearHit(cache, key, "old");
      for (ShardcacheNode member : cluster.nodes()) {
        member.testHooks().dropNearCacheInvalidations(true);
      }
      long written = System.nanoTime();
      cluster.cache(1).put(key, "new");
      // The copy was kept before the write began, so a read that began a TTL after it is fresh.
      long lastStaleRead = -1;
      while (true) {
        long start = System.nanoTime();
        if (!cache.get(key).equals("old")) {
          break;
        }
        lastStaleRead = start;
        Thread.sleep(5);
      }
      System.out.printf(
          "client-only: with its invalidation lost, the client's copy was read stale up to %d ms"
              + " after the write began (near TTL %d ms)%n",
          (lastStaleRead - written) / 1_000_000, ttl.toMillis());
      assertThat(lastStaleRead).as("a stale read: the invalidation was lost").isNotNegative();
      assertThat(lastStaleRead - written)
          .as("when the last stale read began, after the write began")
          .isLessThan(ttl.toNanos());
      Thread.sleep(Math.max(0, ttl.toMillis() - (System.nanoTime() - written) / 1_000_000 + 20));
      assertThat(cache.get(key)).as("a read a TTL after the write began").isEqualTo("new");
    }
  }

  @Test
  void aHotCopyOnTheClientIsDroppedBeforeAWriteThroughAMemberReturns() {
    try (TestCluster cluster = members(config -> config).build()) {
      String key = cluster.keyOwnedBy(0, "hot-");
      cluster.cache(0).put(key, "0");
      // First a member holds the hot copy, for the cost of such a write without a client.
      awaitNearHit(cluster.cache(2), key, "0");
      long[] memberOnly = hotWrites(cluster, key, cluster.cache(2), 100);

      TestCluster.Client client = cluster.addClient();
      DistributedCache<String, String> cache = client.cache();
      Subscriptions subscriptions = client.node().testHooks().subscriptions();
      await().atMost(Duration.ofSeconds(10)).until(() -> subscriptions.covers(CACHE));
      awaitNearHit(cache, key, "119");
      long hitsBefore = cache.stats().nearHitCount();
      long[] withClient = hotWrites(cluster, key, cache, 200);
      System.out.printf(
          "client-only: writes through a non-owner of a key another node holds a hot copy of"
              + " (median / max of 20): %d / %d us when a member holds it, %d / %d us when a"
              + " client does (the write waits for its Acknowledge)%n",
          memberOnly[10], memberOnly[19], withClient[10], withClient[19]);
      assertThat(cache.stats().nearHitCount() - hitsBefore)
          .as("hot copies the writes had to drop")
          .isGreaterThanOrEqualTo(20);
    }
  }

  /**
   * Writes {@code key} 20 times through member 1, each time reading it through {@code reader} right
   * after the write returns (the new value) and again (a hit on the hot copy just kept). Returns
   * the writes' times in microseconds, sorted.
   */
  private static long[] hotWrites(
      TestCluster cluster, String key, DistributedCache<String, String> reader, int first) {
    long[] micros = new long[20];
    for (int round = 0; round < micros.length; round++) {
      String value = Integer.toString(first + round);
      long start = System.nanoTime();
      cluster.cache(1).put(key, value);
      micros[round] = (System.nanoTime() - start) / 1_000;
      assertThat(reader.get(key)).as("read right after write %s", value).isEqualTo(value);
      assertThat(reader.get(key)).isEqualTo(value);
    }
    Arrays.sort(micros);
    return micros;
  }

  @Test
  void aCacheDefinedOnAClientAfterStartIsSubscribedBeforeItKeepsACopy() {
    try (TestCluster cluster = members(config -> config).build()) {
      TestCluster.Client client = cluster.addClient();
      Subscriptions subscriptions = client.node().testHooks().subscriptions();
      await().atMost(Duration.ofSeconds(10)).until(() -> subscriptions.covers(CACHE));
      CacheConfig<String, String> late =
          CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
              .nearCache(100, Duration.ofMinutes(5))
              .build();
      for (ShardcacheNode member : cluster.nodes()) {
        member.cache("late", late);
      }
      DistributedCache<String, String> cache = client.node().cache("late", late);
      cluster.node(0).cache("late", late).put("k", "v1");
      assertThat(cache.get("k")).isEqualTo("v1");
      await()
          .atMost(Duration.ofSeconds(10))
          .until(() -> subscriptions.covers("late") && subscriptions.covers(CACHE));
      awaitNearHit(cache, "k", "v1");
      cluster.node(1).cache("late", late).put("k", "v2");
      await().atMost(Duration.ofSeconds(10)).until(() -> "v2".equals(cache.get("k")));
    }
  }

  @Test
  void whenAMemberDiesTheClientFallsOverToTheReplica() {
    try (TestCluster cluster = members(config -> config.replicationFactor(2)).build()) {
      TestCluster.Client client = cluster.addClient();
      DistributedCache<String, String> cache = client.cache();
      List<String> keys = IntStream.range(0, 30).mapToObj(k -> "k" + k).toList();
      for (String key : keys) {
        cache.put(key, "value-" + key);
      }
      cluster.awaitSettled();
      String dead = cluster.node(0).address();
      cluster.stop(0);
      for (String key : keys) {
        assertThat(cache.get(key))
            .as("read of %s with a member down", key)
            .isEqualTo("value-" + key);
      }
      cache.put("after", "written");
      assertThat(cluster.cache(1).get("after")).isEqualTo("written");
      await()
          .atMost(Duration.ofSeconds(10))
          .until(() -> !client.node().ring().nodes().contains(dead));
      assertThat(clientLoads()).isZero();
    }
  }

  @Test
  void aMemberWithItsMaximumOfSubscribersRefusesTheNextClient() {
    try (TestCluster cluster =
        members(
                config -> config.nearCache(1_000, Duration.ofMinutes(5)),
                node -> node.maxSubscribedClients(1))
            .build()) {
      TestCluster.Client first = cluster.addClient();
      await()
          .atMost(Duration.ofSeconds(10))
          .until(() -> first.node().testHooks().subscriptions().covers(CACHE));
      TestCluster.Client second = cluster.addClient();
      cluster.cache(0).put("k", "v");
      for (int read = 0; read < 5; read++) {
        assertThat(second.cache().get("k")).isEqualTo("v");
      }
      assertThat(second.cache().stats().nearHitCount())
          .as("near hits of a client no member would subscribe")
          .isZero();
      assertThat(second.node().testHooks().subscriptions().covers(CACHE)).isFalse();
      for (ShardcacheNode member : cluster.nodes()) {
        assertThat(member.testHooks().subscriberCount()).isEqualTo(1);
      }
      first.node().close();
      await()
          .atMost(Duration.ofSeconds(20))
          .until(() -> second.node().testHooks().subscriptions().covers(CACHE));
    }
  }

  @Test
  void aClientWithoutTheClusterSecretIsRefusedAndOneWithItIsServed() {
    byte[] secret = "client-only-cluster-secret".getBytes(StandardCharsets.UTF_8);
    try (TestCluster cluster =
        TestCluster.builder()
            .size(2)
            .nodeSettings(
                (index, node) ->
                    index == TestCluster.CLIENT_INDEX ? node : node.clusterSecret(secret))
            .cache(CACHE, CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build())
            .build()) {
      cluster.cache(0).put("k", "v");
      TestCluster.Client stranger = cluster.addClient();
      assertThat(stranger.cache().get("k")).as("a read without the secret").isNull();
      assertThatThrownBy(() -> stranger.cache().put("k", "forged"))
          .isInstanceOf(PeerUnavailableException.class);
      TestCluster.Client client = cluster.addClient(node -> node.clusterSecret(secret));
      assertThat(client.cache().get("k")).isEqualTo("v");
      client.cache().put("k", "w");
      assertThat(cluster.cache(1).get("k")).isEqualTo("w");
      Subscriptions subscriptions = client.node().testHooks().subscriptions();
      await().atMost(Duration.ofSeconds(10)).until(() -> subscriptions.covers(CACHE));
      assertThat(stranger.node().testHooks().subscriptions().covers(CACHE)).isFalse();
    }
  }

  /** Reads {@code key} through {@code cache} until a read is answered by its near copy. */
  private static void awaitNearHit(
      DistributedCache<String, String> cache, String key, String value) {
    await()
        .atMost(Duration.ofSeconds(10))
        .until(
            () -> {
              long hits = cache.stats().nearHitCount();
              assertThat(cache.get(key)).isEqualTo(value);
              return cache.stats().nearHitCount() > hits;
            });
  }

  /** The ports of this process's listening TCP sockets, from the kernel's table (Linux). */
  private static Set<Integer> listeningPorts() throws IOException {
    Set<Integer> ports = new HashSet<>();
    for (String table : List.of("/proc/self/net/tcp", "/proc/self/net/tcp6")) {
      Path path = Path.of(table);
      if (!Files.isReadable(path)) {
        Assumptions.assumeTrue(table.endsWith("6"), "needs Linux's /proc/self/net/tcp");
        continue;
      }
      for (String line : Files.readAllLines(path, StandardCharsets.US_ASCII)) {
        String[] fields = line.trim().split("\\s+");
        if (fields.length > 3 && fields[1].contains(":") && fields[3].equals("0A")) {
          ports.add(Integer.parseInt(fields[1].substring(fields[1].lastIndexOf(':') + 1), 16));
        }
      }
    }
    return ports;
  }
}
