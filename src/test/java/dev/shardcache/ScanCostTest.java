package dev.shardcache;

import static dev.shardcache.TestClusters.internals;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.testing.TestCluster;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a cluster-wide scan costs, measured and printed: {@value #ENTRIES} entries of {@value
 * #VALUE_CHARS}-character values on three members (replication factor 1), scanned through one of
 * them with every member's {@code maxBatchBytes} at 256 KiB, then 4 MiB. Each page costs its member
 * one walk of its shard, so smaller pages cost more walks; the figures say how much. Asserts only
 * that every entry is seen once.
 *
 * <p>Tagged slow (about 30 s, mostly writing): {@code mvn -o -q verify -Dsurefire.excludedGroups=
 * -Dtest=ScanCostTest -Djacoco.skip=true}.
 */
@Tag("slow")
class ScanCostTest {
  private static final int ENTRIES = 150_000;
  private static final int VALUE_CHARS = 100;

  @ParameterizedTest
  @ValueSource(ints = {256 * 1024, 4 * 1024 * 1024})
  void aScanOfTheWholeClusterSeesEveryEntryOnce(int batchBytes) {
    try (TestCluster cluster =
        TestCluster.builder()
            .size(3)
            .nodeSettings(
                node -> node.maxBatchBytes(batchBytes).antiEntropyInterval(Duration.ofHours(1)))
            .cache(
                "big",
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).maximumSize(ENTRIES).build())
            .build()) {
      cluster.awaitSettled();
      String tail = "v".repeat(VALUE_CHARS);
      for (int batch = 0; batch < ENTRIES / 1_000; batch++) {
        Map<String, String> entries = new TreeMap<>();
        for (int k = batch * 1_000; k < (batch + 1) * 1_000; k++) {
          entries.put("key-" + k, tail);
        }
        cluster.cache(batch % 3).putAll(entries);
      }
      cluster.awaitQuiescence();

      for (int run = 1; run <= 2; run++) {
        long pagesBefore = internals(cluster, 0).scanPagesTaken();
        Set<String> seen = new HashSet<>();
        long count = 0;
        long start = System.nanoTime();
        try (CacheScan<String, String> scan = cluster.cache(0).scan()) {
          while (scan.hasNext()) {
            seen.add(scan.next().getKey());
            count++;
          }
        }
        long millis = (System.nanoTime() - start) / 1_000_000;
        System.out.printf(
            "ScanCostTest: %,d entries (%d-char values) on 3 members, maxBatchBytes %d KiB, run %d:"
                + " %,d ms, %d pages (%,d entries/s)%n",
            ENTRIES,
            VALUE_CHARS,
            batchBytes / 1024,
            run,
            millis,
            internals(cluster, 0).scanPagesTaken() - pagesBefore,
            count * 1_000 / Math.max(1, millis));
        assertThat(count).isEqualTo(ENTRIES);
        assertThat(seen).hasSize(ENTRIES);
      }
    }
  }
}
