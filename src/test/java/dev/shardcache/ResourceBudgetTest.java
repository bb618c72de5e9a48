package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.testing.TestCluster;
import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The written resource budget (docs/resources.md) against the code: its defaults table names the
 * values the code uses, and a 3-node cluster under traffic stays within its thread and socket
 * formulas. A figure that changes in one place and not the other fails here.
 */
class ResourceBudgetTest {
  private static final Path BUDGET = Path.of("docs", "resources.md");
  private static final Pattern ROW = Pattern.compile("^\\| `([A-Za-z]+)` \\| (\\d+) \\|");
  private static final int N = 3;
  private static final int MAX_LOADS = 4;

  @Test
  void theDefaultsTableIsTheCodesDefaults() throws Exception {
    Map<String, Long> documented = defaultsTable();
    NodeSettings.Draft draft = new NodeSettings.Draft();
    draft.listen("127.0.0.1", 0);
    NodeSettings node = draft.build();
    CacheConfig<String, String> cache = CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build();

    Map<String, Long> code = new LinkedHashMap<>();
    code.put("maxConcurrentCallsPerPeer", (long) node.maxConcurrentCallsPerPeer());
    code.put("maxConcurrentLoads", (long) node.maxConcurrentLoads());
    code.put("loadsWaitingPerThread", (long) NodeCaches.LOADS_WAITING_PER_THREAD);
    code.put("handlerThreads", (long) node.handlerThreads());
    code.put("maxInboundMessageBytes", (long) node.maxInboundMessageBytes());
    code.put("maxMetadataBytes", (long) NodeStartup.MAX_METADATA_BYTES);
    code.put("maxBatchBytes", (long) node.maxBatchBytes());
    assertThat(node.replicationLimits().maxRequestBytes()).isEqualTo(node.maxBatchBytes());
    assertThat(Replicator.MAX_BATCH).isEqualTo(EntryStreams.MAX_BATCH);
    code.put("itemsPerBatch", (long) Replicator.MAX_BATCH);
    code.put("maxHintBytesPerPeer", node.replicationLimits().maxBytesPerPeer());
    code.put("maxHintBytes", node.replicationLimits().maxBytes());
    code.put("hintItemOverheadBytes", (long) HintQueue.ITEM_OVERHEAD_BYTES);
    code.put("keysPerBatchRequest", (long) CacheConfig.MAX_KEYS_PER_BATCH);
    code.put("channelsPerPeer", 2L); // checked live in theClusterStaysWithinItsBudget
    code.put("departedClientSeconds", Cluster.RECENT_CHANGE_WINDOW.toSeconds());
    code.put("maxNonces", (long) node.maxNonces());
    code.put("maxSubscribedClients", (long) node.maxSubscribedClients());
    code.put("subscriberQueueBytes", (long) Subscribers.MAX_QUEUED_BYTES);
    code.put("maximumSize", cache.maximumSize());
    code.put("maxKeyBytes", (long) cache.maxKeyBytes());
    code.put("maxValueBytes", (long) cache.maxValueBytes());
    code.put("entryOverheadBytes", (long) CacheConfig.ENTRY_OVERHEAD_BYTES);
    code.put("nearCacheMaximumSize", cache.nearCacheMaximumSize());
    code.put("jcacheMaximumSize", CacheConfig.DEFAULT_MAXIMUM_SIZE);
    code.put("jcacheLoadAllThreads", jcacheConstant("LoadAllPool", "DEFAULT_THREADS"));
    code.put("jcacheLoadAllWaitingPerThread", jcacheConstant("LoadAllPool", "WAITING_PER_THREAD"));

    assertThat(documented).isEqualTo(code);
  }

  @Test
  void theClusterStaysWithinItsBudget() throws Exception {
    Map<Long, String> before = liveThreads();
    CacheConfig<String, String> config =
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
            .replicationFactor(2)
            .loader(
                key -> {
                  Thread.sleep(50);
                  return "loaded:" + key;
                })
            .build();
    try (TestCluster cluster =
        TestCluster.builder()
            .size(N)
            .nodeSettings(node -> node.maxConcurrentLoads(MAX_LOADS))
            .cache("budget", config)
            .build()) {
      // Writes and reads through every member, so every data channel opens.
      for (int i = 0; i < N; i++) {
        for (int k = 0; k < 30; k++) {
          cluster.cache(i).put("w" + i + "-" + k, "v" + k);
        }
      }
      for (int i = 0; i < N; i++) {
        for (int k = 0; k < 30; k++) {
          assertThat(cluster.cache(i).get("w" + ((i + 1) % N) + "-" + k)).isEqualTo("v" + k);
        }
      }
      // More loads at once than any node may run.
      List<CompletableFuture<?>> loads = new ArrayList<>();
      for (int k = 0; k < 10 * MAX_LOADS; k++) {
        loads.add(cluster.cache(k % N).getAsync("load" + k));
      }
      for (CompletableFuture<?> load : loads) {
        try {
          load.join();
        } catch (RuntimeException overloaded) {
          // refused past maxConcurrentLoads' queue: within budget by design
        }
      }

      Map<String, Integer> grown = grownByKind(before, liveThreads());
      int cores = Runtime.getRuntime().availableProcessors();
      Map<String, Integer> bound = new LinkedHashMap<>();
      bound.put("shardcache-heartbeats", N);
      bound.put("shardcache-replicator", N);
      bound.put("shardcache-maintenance", N);
      bound.put("shardcache-load", N * MAX_LOADS);
      bound.put("shardcache-handler", N * ShardcacheNode.DEFAULT_HANDLER_THREADS);
      bound.put("netty-boss", 1);
      bound.put("netty-worker", 2 * cores);
      bound.put("grpc-timer", 1);
      bound.put("grpc-default-executor", N * 2 * (N - 1));
      bound.put("commonPool", Math.max(1, cores - 1));
      bound.put("shardcache-read-deadlines", 1); // one per JVM, made with the first remote read
      System.out.printf(
          "ResourceBudgetTest: %d nodes, %d cores: new threads by kind %s, bounds %s%n",
          N, cores, grown, bound);
      assertThat(bound.keySet())
          .as("every new thread is of a kind the budget names")
          .containsAll(grown.keySet());
      for (Map.Entry<String, Integer> kind : grown.entrySet()) {
        assertThat(kind.getValue()).as(kind.getKey()).isLessThanOrEqualTo(bound.get(kind.getKey()));
      }
      assertThat(grown.get("shardcache-heartbeats")).isEqualTo(N);

      connectionsWithinBudget(cluster);
    }
  }

  /** Peer connections, read from the kernel's socket table: 2 × (N − 1) into each node. */
  private static void connectionsWithinBudget(TestCluster cluster) throws IOException {
    Path tcp = Path.of("/proc/self/net/tcp");
    Assumptions.assumeTrue(Files.isReadable(tcp), "needs Linux's /proc/self/net/tcp");
    Set<Integer> ports = new HashSet<>();
    for (int i = 0; i < N; i++) {
      ports.add(cluster.listenPort(i));
    }
    Map<Integer, Integer> into = new TreeMap<>();
    int listening = 0;
    List<String> lines = new ArrayList<>(Files.readAllLines(tcp, StandardCharsets.US_ASCII));
    Path tcp6 = Path.of("/proc/self/net/tcp6");
    if (Files.isReadable(tcp6)) {
      lines.addAll(Files.readAllLines(tcp6, StandardCharsets.US_ASCII));
    }
    for (String line : lines) {
      String[] f = line.trim().split("\\s+");
      if (f.length < 4 || !f[1].contains(":")) {
        continue;
      }
      int local = port(f[1]);
      int remote = port(f[2]);
      String state = f[3];
      if (state.equals("0A") && ports.contains(local)) {
        listening++;
      } else if (state.equals("01") && ports.contains(remote) && !ports.contains(local)) {
        into.merge(remote, 1, Integer::sum);
      }
    }
    System.out.printf(
        "ResourceBudgetTest: %d listening sockets, established connections into each node %s"
            + " (budget: at most %d each)%n",
        listening, into, 2 * (N - 1));
    assertThat(listening).isEqualTo(N);
    for (int port : ports) {
      assertThat(into.getOrDefault(port, 0))
          .as("connections into the node on port %d", port)
          .isBetween(N - 1, 2 * (N - 1));
    }
  }

  private static int port(String hexAddress) {
    return Integer.parseInt(hexAddress.substring(hexAddress.lastIndexOf(':') + 1), 16);
  }

  private static Map<Long, String> liveThreads() {
    Map<Long, String> threads = new HashMap<>();
    for (Thread thread : Thread.getAllStackTraces().keySet()) {
      if (thread.isAlive()) {
        threads.put(thread.getId(), thread.getName());
      }
    }
    return threads;
  }

  /** The threads alive now and not before, counted by the kind of thread their name says. */
  private static Map<String, Integer> grownByKind(Map<Long, String> before, Map<Long, String> now) {
    Map<String, Integer> kinds = new TreeMap<>();
    for (Map.Entry<Long, String> thread : now.entrySet()) {
      if (!before.containsKey(thread.getKey())) {
        kinds.merge(kind(thread.getValue()), 1, Integer::sum);
      }
    }
    return kinds;
  }

  private static String kind(String name) {
    if (name.startsWith("grpc-") && name.contains("boss")) {
      return "netty-boss";
    }
    if (name.startsWith("grpc-") && (name.contains("worker") || name.contains("ELG"))) {
      return "netty-worker";
    }
    if (name.startsWith("ForkJoinPool.commonPool")) {
      return "commonPool";
    }
    Matcher numbered = Pattern.compile("^(.*?)-?\\d+$").matcher(name);
    return numbered.matches() ? numbered.group(1) : name;
  }

  private static Map<String, Long> defaultsTable() throws IOException {
    List<String> lines = Files.readAllLines(BUDGET, StandardCharsets.UTF_8);
    int begin = lines.indexOf("<!-- defaults:begin -->");
    int end = lines.indexOf("<!-- defaults:end -->");
    assertThat(begin).as("the defaults table's begin marker").isNotNegative();
    assertThat(end).as("the defaults table's end marker").isGreaterThan(begin);
    Map<String, Long> rows = new LinkedHashMap<>();
    for (String line : lines.subList(begin + 1, end)) {
      Matcher row = ROW.matcher(line);
      if (row.find()) {
        Long previous = rows.put(row.group(1), Long.parseLong(row.group(2)));
        assertThat(previous).as("row %s appears once", row.group(1)).isNull();
      }
    }
    return rows;
  }

  private static long jcacheConstant(String type, String name) throws ReflectiveOperationException {
    Field field = Class.forName("dev.shardcache.jcache." + type).getDeclaredField(name);
    field.setAccessible(true);
    return ((Number) field.get(null)).longValue();
  }
}
