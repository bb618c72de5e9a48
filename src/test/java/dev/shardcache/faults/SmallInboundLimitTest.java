package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheException;
import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Members that all accept messages of at most {@value #INBOUND_LIMIT} bytes ({@code
 * maxInboundMessageBytes}, the smallest allowed) exchange values up to that limit both ways, and a
 * value over it fails with an error that names the setting, whichever way it travels.
 *
 * <ul>
 *   <li>Values just under the limit, written through one member with replication factor 2, are read
 *       back through every member: requests, replication and answers all fit.
 *   <li>A value over the limit written through a member that does not own it is refused by the
 *       owner's inbound limit: the writer's error names {@code maxInboundMessageBytes}.
 *   <li>A value over the limit written on its owner (a local write) and read through another member
 *       is an answer over the reader's limit: refused by the reader's channel, with the same error.
 * </ul>
 *
 * <p>Defect: the channels to peers accepted answers of 64 MiB whatever {@code
 * maxInboundMessageBytes} said, so a node's memory per answer was not bounded by its own setting.
 */
class SmallInboundLimitTest {
  private static final int INBOUND_LIMIT = 64 * 1024;

  /** Below the limit by the most a one-entry message adds (key, names, version, framing). */
  private static final int LARGEST_VALUE = INBOUND_LIMIT - 1024;

  private static final int OVER_LIMIT = INBOUND_LIMIT + 16 * 1024;
  private static final int KEYS = 12;

  private TestCluster cluster;

  @BeforeEach
  void start() {
    // The cache allows values over the inbound limit (a warning says so) so that the limit, not the
    // cache, is what refuses them.
    CacheConfig<String, String> replicated =
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
            .maxValueBytes(2 * INBOUND_LIMIT)
            .replicationFactor(2)
            .build();
    CacheConfig<String, String> single =
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).maxValueBytes(2 * INBOUND_LIMIT).build();
    cluster =
        TestCluster.builder()
            .size(3)
            .nodeSettings(
                node ->
                    node.maxInboundMessageBytes(INBOUND_LIMIT)
                        .antiEntropyInterval(Duration.ofHours(1)))
            .cache("replicated", replicated)
            .cache("single", single)
            .build();
  }

  @AfterEach
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void valuesUpToTheLimitTravelEveryWay() {
    List<String> keys = new ArrayList<>();
    for (int k = 0; k < KEYS; k++) {
      String key = "near-limit" + k;
      cluster.cache("replicated", 0).put(key, value(key, LARGEST_VALUE));
      keys.add(key);
    }
    int remoteReads = 0;
    for (int i = 0; i < cluster.size(); i++) {
      DistributedCache<String, String> reader = cluster.cache("replicated", i);
      long before = reader.stats().remoteCallCount();
      for (String key : keys) {
        assertThat(reader.get(key)).as("%s read through node %d", key, i).hasSize(LARGEST_VALUE);
        assertThat(reader.get(key)).isEqualTo(value(key, LARGEST_VALUE));
      }
      remoteReads += (int) (reader.stats().remoteCallCount() - before);
    }
    assertThat(remoteReads).as("reads answered by another member").isPositive();
    for (int i = 0; i < cluster.size(); i++) {
      assertThat(cluster.node(i).replicationDropped()).as("node %d dropped", i).isZero();
    }
    System.out.printf(
        "SmallInboundLimitTest: %d values of %,d bytes under a %,d-byte maxInboundMessageBytes"
            + " read through 3 members (%d remote calls), none dropped%n",
        KEYS, LARGEST_VALUE, INBOUND_LIMIT, remoteReads);
  }

  @Test
  void aRequestOverThePeersLimitNamesTheSetting() {
    String key = cluster.keyOwnedBy(1, "over-request");
    DistributedCache<String, String> writer = cluster.cache("single", 0);
    assertThat(writer.ownerOf(key)).isEqualTo(cluster.node(1).address());

    assertThatThrownBy(() -> writer.put(key, value(key, OVER_LIMIT)))
        .isInstanceOf(ShardcacheException.class)
        .hasMessageContaining("maxInboundMessageBytes")
        .hasMessageContaining("maxValueBytes");
    // The refusal took nothing else with it.
    writer.put(key, value(key, LARGEST_VALUE));
    assertThat(cluster.cache("single", 2).get(key)).isEqualTo(value(key, LARGEST_VALUE));
  }

  @Test
  void anAnswerOverTheReadersLimitNamesTheSetting() {
    String key = cluster.keyOwnedBy(1, "over-answer");
    assertThat(cluster.cache("single", 0).ownerOf(key)).isEqualTo(cluster.node(1).address());
    cluster.cache("single", 1).put(key, value(key, OVER_LIMIT)); // on its owner: no message
    assertThat(cluster.cache("single", 1).get(key)).hasSize(OVER_LIMIT);

    DistributedCache<String, String> reader = cluster.cache("single", 0);
    assertThatThrownBy(() -> reader.get(key))
        .isInstanceOf(ShardcacheException.class)
        .hasMessageContaining("maxInboundMessageBytes")
        .hasMessageContaining(cluster.node(1).address());
    // The reader keeps working for values that fit.
    String small = cluster.keyOwnedBy(1, "fits");
    cluster.cache("single", 1).put(small, value(small, LARGEST_VALUE));
    assertThat(reader.get(small)).isEqualTo(value(small, LARGEST_VALUE));
  }

  private static String value(String key, int length) {
    StringBuilder value = new StringBuilder(length);
    value.append(key).append(':');
    while (value.length() < length) {
      value.append((char) ('a' + value.length() % 26));
    }
    return value.toString();
  }
}
