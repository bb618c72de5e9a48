package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shardcache.CacheConfig;
import dev.shardcache.CacheLoader;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.internal.proto.FetchResponse;
import dev.shardcache.testing.TestCluster;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A bulk load that asks another holder for copies whose bytes are several times the bound of one
 * message gets every copy, in several {@code Fetch} calls, each answer within the bound, and loads
 * only the keys nobody had.
 *
 * <p>Every member accepts messages of at most {@value #INBOUND} bytes, so each builds messages of
 * at most half that ({@code maxBatchBytes}, {@value #BOUND} bytes). Members A and R form a cluster
 * (replication factor 1) and A holds {@value #HELD} values of {@value #VALUE_BYTES} bytes: about
 * 4.7 times the bound, above the inbound cap. Member B joins, and under its ring (and R's) it owns
 * those keys, but A has not heard of B yet, so it has handed nothing off. B misses the keys; its
 * bulk load asks the holders under its recent rings, A, for copies in one {@code Fetch}, before
 * calling the loader's {@code loadAll} for what is still missing. {@value #COLD} more keys of B are
 * held by nobody. A serves no other call of the cache, so its peer-request count is the number of
 * {@code Fetch} calls.
 *
 * <ul>
 *   <li>Read through B (the bulk load runs on the reader), and through R (B serves R's {@code
 *       GetAll} with the bulk load): every value comes back, the held ones copied, not loaded, in
 *       more than one {@code Fetch}, at least as many as the copies' bytes over the bound; the cold
 *       keys are loaded once each (a key A lacks is still answered "none").
 *   <li>A caller of an earlier version, which sends no bound: the same {@code Fetch} fails with
 *       {@code RESOURCE_EXHAUSTED} naming {@code maxBatchBytes}, not a short answer it would take
 *       for "A has no copy" of the rest. With the bound, A answers within it and lists the rest.
 * </ul>
 *
 * <p>Defect: the holder answered every copy of a {@code Fetch} in one message, bounded only by
 * 1,000 × (maxKeyBytes + maxValueBytes). The answer was over B's {@code maxInboundMessageBytes},
 * the {@code Fetch} failed, and B loaded every key A had.
 */
class FetchAnswerBytesTest {
  private static final String CACHE = "copies";
  private static final int INBOUND = 128 * 1024;
  private static final int BOUND = INBOUND / 2;
  private static final int HELD = 100;
  private static final int COLD = 20;
  private static final int VALUE_BYTES = 3 * 1024;
  private static final int A = 0;
  private static final int R = 1;

  private final Map<String, AtomicInteger> loads = new ConcurrentHashMap<>();
  private TestCluster cluster;
  private int b;
  private List<String> held;
  private List<String> cold;

  @BeforeEach
  void start() {
    CacheLoader<String, String> bulk =
        new CacheLoader<>() {
          @Override
          public String load(String key) {
            loads.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
            return "loaded:" + key;
          }

          @Override
          public Map<String, String> loadAll(Set<? extends String> keys) {
            Map<String, String> values = new LinkedHashMap<>();
            for (String key : keys) {
              values.put(key, load(key));
            }
            return values;
          }
        };
    cluster =
        TestCluster.builder()
            .size(2)
            .nodeSettings(
                node ->
                    node.maxInboundMessageBytes(INBOUND).antiEntropyInterval(Duration.ofHours(1)))
            .cache(
                CACHE,
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                    .replicationFactor(1)
                    .loader(bulk)
                    .build())
            .build();
    b = cluster.add();
    List<String> members =
        List.of(cluster.node(A).address(), cluster.node(R).address(), cluster.node(b).address());
    cluster.node(b).setPeers(members); // A is not told: it keeps its copies and hands none off
    cluster.node(R).setPeers(members);
    held = keysMovedFromAToB("held-", HELD);
    cold = keysMovedFromAToB("cold-", COLD);
    for (String key : held) {
      cluster.cache(CACHE, A).put(key, value(key)); // A owns it under its ring: kept there alone
    }
  }

  @AfterEach
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void aBulkLoadOnTheReaderCopiesEveryHeldValueInSeveralBoundedFetches() {
    readAllThrough(b, "B, the new owner");
  }

  @Test
  void aBulkLoadServingAPeersGetAllCopiesEveryHeldValueInSeveralBoundedFetches() {
    readAllThrough(R, "R, through B's GetAll");
  }

  @Test
  void aCallerThatSendsNoBoundGetsAnErrorNamingTheLimitAndOneThatDoesGetsTheRestListed()
      throws Exception {
    try (DefectTests2RawPeer peer = DefectTests2RawPeer.to(cluster.node(A).address())) {
      String[] keys = held.toArray(new String[0]);
      assertThatThrownBy(() -> peer.fetch(CACHE, keys))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED))
          .hasMessageContaining("maxBatchBytes")
          .hasMessageContaining("'" + CACHE + "'");

      FetchResponse bounded = peer.fetchWithin(CACHE, BOUND, keys);
      assertThat(bounded.getSerializedSize()).as("answer bytes").isLessThanOrEqualTo(BOUND);
      assertThat(bounded.getEntriesCount()).isPositive();
      assertThat(bounded.getEntriesCount() + bounded.getNotIncludedCount()).isEqualTo(HELD);
    }
  }

  private void readAllThrough(int reader, String through) {
    List<String> keys = new ArrayList<>(held);
    keys.addAll(cold);
    DistributedCache<String, String> holder = cluster.cache(CACHE, A);
    long before = holder.stats().peerRequestCount();

    Map<String, String> answer = cluster.cache(CACHE, reader).getAll(keys);

    long fetches = holder.stats().peerRequestCount() - before;
    long bytes = (long) HELD * VALUE_BYTES;
    int loaderCalls = loads.values().stream().mapToInt(AtomicInteger::get).sum();
    System.out.printf(
        "FetchAnswerBytesTest: getAll through %s of %d keys, %d of them held by A (%,d bytes),"
            + " maxBatchBytes %,d: %d of %d answered, copies in %d Fetch calls, %d loads%n",
        through, keys.size(), HELD, bytes, BOUND, answer.size(), keys.size(), fetches, loaderCalls);
    assertThat(answer).hasSize(keys.size());
    held.forEach(key -> assertThat(answer.get(key)).as("held %s", key).isEqualTo(value(key)));
    cold.forEach(key -> assertThat(answer.get(key)).isEqualTo("loaded:" + key));
    assertThat(loads.keySet()).as("keys loaded").containsExactlyInAnyOrderElementsOf(cold);
    assertThat(loads.values()).allSatisfy(count -> assertThat(count).hasValue(1));
    assertThat(fetches)
        .as("Fetch calls A served")
        .isGreaterThan(1)
        .isGreaterThanOrEqualTo(bytes / BOUND);
  }

  /** Keys owned by A under A's ring and by B under B's. */
  private List<String> keysMovedFromAToB(String prefix, int count) {
    String a = cluster.node(A).address();
    String newOwner = cluster.node(b).address();
    List<String> keys = new ArrayList<>();
    for (int n = 0; keys.size() < count; n++) {
      String key = prefix + n;
      if (cluster.cache(CACHE, A).ownerOf(key).equals(a)
          && cluster.cache(CACHE, b).ownerOf(key).equals(newOwner)) {
        keys.add(key);
      }
    }
    return keys;
  }

  private static String value(String key) {
    StringBuilder value = new StringBuilder(VALUE_BYTES).append(key).append(':');
    while (value.length() < VALUE_BYTES) {
      value.append((char) ('a' + value.length() % 26));
    }
    return value.toString();
  }
}
