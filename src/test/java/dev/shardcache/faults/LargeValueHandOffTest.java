package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Hand-off moves large values under a small inbound message limit.
 *
 * <p>Every node accepts messages of at most {@value #INBOUND_LIMIT} bytes ({@code
 * maxInboundMessageBytes}) and leaves {@code maxBatchBytes} at its default (half of that). A cache
 * with replication factor 1 holds {@value #KEYS} values of 300 KiB, so each node's share of the
 * keys that move is several MiB.
 *
 * <ul>
 *   <li>A member joins: once the old holders have handed off, the new member holds every key it now
 *       owns in its own shard ({@code localSize}, and {@code getIfPresent} answered there), and the
 *       others dropped theirs.
 *   <li>A member leaves in an orderly way ({@code close()}): the remaining members hold every key.
 * </ul>
 *
 * <p>Defect: hand-off chunks were bounded by count (500 entries), not bytes, so each node sent its
 * whole share in one {@code Replicate} call, which the receiver refused with {@code
 * RESOURCE_EXHAUSTED} on every pass: the joining member never got its keys, and the keys of a
 * member that left were lost.
 */
class LargeValueHandOffTest {
  private static final String CACHE = "large";
  private static final int INBOUND_LIMIT = 1024 * 1024;
  private static final int VALUE_CHARS = 300 * 1024;
  private static final int KEYS = 60;

  private TestCluster cluster;

  @AfterEach
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void aJoiningMemberHoldsEveryKeyItNowOwnsInItsOwnShard() {
    cluster = start(2);
    List<String> keys = writeAll(cluster.cache(0));

    long started = System.nanoTime();
    int joined = cluster.add();
    cluster.joinAll();
    DistributedCache<String, String> newcomer = cluster.cache(joined);
    String address = cluster.node(joined).address();
    List<String> owned = new ArrayList<>();
    for (String key : keys) {
      if (newcomer.ownerOf(key).equals(address)) {
        owned.add(key);
      }
    }
    assertThat(owned).as("keys the new member owns").isNotEmpty();
    await()
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(50))
        .untilAsserted(
            () -> {
              assertThat(newcomer.localSize()).isEqualTo(owned.size());
              assertThat(totalLocalSize()).isEqualTo(KEYS); // the old holders dropped theirs
            });
    long millis = (System.nanoTime() - started) / 1_000_000;
    for (String key : owned) {
      assertThat(newcomer.getIfPresent(key)).isEqualTo(value(key));
    }
    System.out.printf(
        "LargeValueHandOffTest: %d of %d values of %d KiB handed to a joining member under a"
            + " %d KiB inbound limit in %d ms (%d entries handed off)%n",
        owned.size(),
        KEYS,
        VALUE_CHARS / 1024,
        INBOUND_LIMIT / 1024,
        millis,
        cluster.node(0).handedOffEntries() + cluster.node(1).handedOffEntries());
  }

  @Test
  void aMemberThatLeavesHandsEveryKeyToTheOthers() {
    cluster = start(3);
    List<String> keys = writeAll(cluster.cache(0));
    String leaving = cluster.node(2).address();
    long itsKeys = keys.stream().filter(k -> cluster.cache(0).ownerOf(k).equals(leaving)).count();
    assertThat(itsKeys).as("keys the leaving member owns").isPositive();

    cluster.stop(2); // an orderly close: hands off before it goes
    cluster.join(0, 1);
    await()
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(50))
        .untilAsserted(
            () -> {
              assertThat(totalLocalSize()).isEqualTo(KEYS);
              for (String key : keys) {
                assertThat(cluster.cache(0).getIfPresent(key)).as(key).isEqualTo(value(key));
              }
            });
    System.out.printf(
        "LargeValueHandOffTest: a leaving member handed its %d values of %d KiB to the others"
            + " under a %d KiB inbound limit; %d of %d keys readable after it left%n",
        itsKeys, VALUE_CHARS / 1024, INBOUND_LIMIT / 1024, keys.size(), KEYS);
  }

  private static TestCluster start(int size) {
    return TestCluster.builder()
        .size(size)
        .nodeSettings(
            node ->
                node.maxInboundMessageBytes(INBOUND_LIMIT)
                    .heartbeatInterval(Duration.ofMillis(100))
                    .antiEntropyInterval(Duration.ofHours(1)))
        .cache(
            CACHE,
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .maxValueBytes(VALUE_CHARS + 1024)
                .build())
        .build();
  }

  private static List<String> writeAll(DistributedCache<String, String> cache) {
    List<String> keys = new ArrayList<>();
    for (int k = 0; k < KEYS; k++) {
      String key = "large" + k;
      cache.put(key, value(key));
      keys.add(key);
    }
    return keys;
  }

  private long totalLocalSize() {
    long total = 0;
    for (int i = 0; i < cluster.size(); i++) {
      if (cluster.node(i).isRunning()) {
        total += cluster.cache(i).localSize();
      }
    }
    return total;
  }

  private static String value(String key) {
    StringBuilder value = new StringBuilder(VALUE_CHARS);
    value.append(key).append(':');
    while (value.length() < VALUE_CHARS) {
      value.append((char) ('a' + value.length() % 26));
    }
    return value.toString();
  }
}
