package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.CacheConfig;
import dev.shardcache.CacheLoader;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.testing.TestCluster;
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
 * A {@code getAll} whose values are several times the byte bound of one answer returns every value,
 * in several {@code GetAll} calls, each within the bound.
 *
 * <p>Two members accept messages of at most {@value #INBOUND} bytes, so each builds messages of at
 * most half that ({@code maxBatchBytes}, {@value #BOUND} bytes). Node 1 owns {@value #KEYS} keys
 * whose values are {@value #VALUE_BYTES} bytes each: about {@value #KEYS} × {@value #VALUE_BYTES}
 * bytes, 4.7 times the bound and above the inbound cap. Node 0 reads them all with one {@code
 * getAll}. With replication factor 1 and no loader for stored keys, the only calls of the cache the
 * owner serves are the {@code GetAll}s, so its peer-request count is their number.
 *
 * <ul>
 *   <li>Stored values: every value comes back, through more than one call, at least as many as the
 *       bytes divided by the bound.
 *   <li>Cold keys with a bulk loader: every value comes back, each key loaded once in the cluster
 *       (the keys asked again are found in the owner's shard, not loaded again).
 *   <li>{@code getAll(keys, loader)} of the stored keys: every value, the caller's loader never
 *       called.
 * </ul>
 *
 * <p>Defect: the owner answered every key of a {@code GetAll} in one message, bounded only by 1,000
 * × (maxKeyBytes + maxValueBytes); an answer over the caller's {@code maxInboundMessageBytes}
 * failed the whole {@code getAll}.
 */
class GetAllAnswerBytesTest {
  private static final int INBOUND = 128 * 1024;
  private static final int BOUND = INBOUND / 2;
  private static final int KEYS = 100;
  private static final int VALUE_BYTES = 3 * 1024;

  private final Map<String, AtomicInteger> loads = new ConcurrentHashMap<>();
  private TestCluster cluster;

  @BeforeEach
  void start() {
    CacheLoader<String, String> bulk =
        new CacheLoader<>() {
          @Override
          public String load(String key) {
            loads.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
            return value(key);
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
                "stored",
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).replicationFactor(1).build())
            .cache(
                "loaded",
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                    .replicationFactor(1)
                    .loader(bulk)
                    .build())
            .build();
  }

  @AfterEach
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void storedValuesOverTheBoundComeBackInSeveralBoundedCalls() {
    List<String> keys = keysOwnedByNode1("stored", "s");
    for (String key : keys) {
      cluster.cache("stored", 1).put(key, value(key)); // on the owner: no message
    }
    DistributedCache<String, String> owner = cluster.cache("stored", 1);
    long before = owner.stats().peerRequestCount();

    Map<String, String> answer = cluster.cache("stored", 0).getAll(keys);

    long calls = owner.stats().peerRequestCount() - before;
    long bytes = (long) KEYS * VALUE_BYTES;
    System.out.printf(
        "GetAllAnswerBytesTest: getAll of %d values of %,d bytes (%,d in all) through a non-owner"
            + " with maxBatchBytes %,d: %d of %d answered in %d GetAll calls%n",
        KEYS, VALUE_BYTES, bytes, BOUND, answer.size(), KEYS, calls);
    assertThat(answer).hasSize(KEYS);
    keys.forEach(key -> assertThat(answer.get(key)).isEqualTo(value(key)));
    assertThat(calls).as("GetAll calls the owner served").isGreaterThanOrEqualTo(bytes / BOUND);

    Map<String, String> withLoader =
        cluster
            .cache("stored", 0)
            .getAll(
                keys,
                key -> {
                  throw new AssertionError("loaded " + key + ", which its owner holds");
                });
    assertThat(withLoader).isEqualTo(answer);
  }

  @Test
  void coldKeysOverTheBoundAreLoadedOnceEach() {
    List<String> keys = keysOwnedByNode1("loaded", "l");
    DistributedCache<String, String> owner = cluster.cache("loaded", 1);
    long before = owner.stats().peerRequestCount();

    Map<String, String> answer = cluster.cache("loaded", 0).getAll(keys);

    long calls = owner.stats().peerRequestCount() - before;
    int loaderCalls = loads.values().stream().mapToInt(AtomicInteger::get).sum();
    System.out.printf(
        "GetAllAnswerBytesTest: getAll of %d cold keys (values of %,d bytes) through a non-owner:"
            + " %d answered in %d GetAll calls, %d loads%n",
        KEYS, VALUE_BYTES, answer.size(), calls, loaderCalls);
    assertThat(answer).hasSize(KEYS);
    keys.forEach(key -> assertThat(answer.get(key)).isEqualTo(value(key)));
    assertThat(calls).as("GetAll calls the owner served").isGreaterThan(1);
    assertThat(loads.keySet()).containsExactlyInAnyOrderElementsOf(keys);
    assertThat(loads.values()).allSatisfy(count -> assertThat(count).hasValue(1));
  }

  private List<String> keysOwnedByNode1(String cache, String prefix) {
    String owner = cluster.node(1).address();
    List<String> keys = new ArrayList<>();
    for (int n = 0; keys.size() < KEYS; n++) {
      String key = prefix + n;
      if (cluster.cache(cache, 0).ownerOf(key).equals(owner)) {
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
