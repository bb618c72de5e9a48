package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheException;
import dev.shardcache.testing.TestCluster;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A node with a cluster secret remembers at most {@code maxNonces} token nonces (75 s each), and a
 * call past that is refused with an error that names the setting and its value.
 *
 * <p>Two members with a cluster secret and {@code maxNonces} {@value #MAX_NONCES}, the smallest
 * allowed. Node 0 reads distinct absent keys owned by node 1, one call each, until a read fails (at
 * most {@value #MOST_READS}): with the default (500,000) none would. The failure must come after
 * most of the {@value #MAX_NONCES} nonces were spent on reads (heartbeats take a few), and its
 * message must name {@code maxNonces} and the value.
 *
 * <p>Defect: the capacity was a constant of 1,000,000 nonces (about 160 MB when full), and the
 * refusal said only "retry later".
 */
class NonceCapacityTest {
  private static final int MAX_NONCES = 1_000;
  private static final int MOST_READS = 3 * MAX_NONCES;

  @Test
  void callsPastMaxNoncesAreRefusedNamingTheSetting() {
    try (TestCluster cluster =
        TestCluster.builder()
            .size(2)
            .nodeSettings(
                node ->
                    node.clusterSecret("nonce-capacity-secret".getBytes(StandardCharsets.UTF_8))
                        .maxNonces(MAX_NONCES)
                        .antiEntropyInterval(Duration.ofHours(1)))
            .cache(
                "kv",
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).replicationFactor(1).build())
            .build()) {
      DistributedCache<String, String> reader = cluster.cache("kv", 0);
      String owner = cluster.node(1).address();
      int answered = 0;
      ShardcacheException refused = null;
      for (int n = 0; answered < MOST_READS && refused == null; n++) {
        String key = "absent-" + n;
        if (!reader.ownerOf(key).equals(owner)) {
          continue;
        }
        try {
          assertThat(reader.get(key)).isNull();
          answered++;
        } catch (ShardcacheException e) {
          refused = e;
        }
      }
      System.out.printf(
          "NonceCapacityTest: maxNonces %d: %d reads answered, then %s%n",
          MAX_NONCES, answered, refused == null ? "none refused" : refused.getMessage());
      assertThat(refused).as("a read past maxNonces").isNotNull();
      assertThat(refused.getMessage())
          .contains("maxNonces " + MAX_NONCES)
          .contains("raise maxNonces");
      assertThat(answered).as("reads answered first").isGreaterThan(MAX_NONCES / 2);
    }
  }
}
