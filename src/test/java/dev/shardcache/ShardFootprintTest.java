package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Measures what a held value costs on the heap besides its encoded key and value, the figure {@link
 * Shard#ENTRY_OVERHEAD_BYTES} states, and checks that the stated figure is not below it. Tagged
 * slow (it fills a shard of 200,000 entries and forces full collections), so it stays out of the
 * default run:
 *
 * <pre>
 * mvn -o -q test -Dtest=ShardFootprintTest -Dgroups=slow -Dsurefire.excludedGroups= -Djacoco.skip=true
 * </pre>
 *
 * The shard is the costliest kind: bounded by weight, with both expiry policies (Caffeine's nodes
 * then carry access and write times and their queue links). Keys and values are short strings, as
 * the overhead is per entry: decoded {@code String}s add their headers to the encoded bytes.
 */
class ShardFootprintTest {
  private static final int ENTRIES = 200_000;

  @Test
  @Tag("slow")
  void theStatedPerEntryOverheadCoversWhatAHeldValueCosts() {
    CacheConfig<String, String> config =
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
            .maximumWeight(1L << 40)
            .expireAfterWrite(Duration.ofHours(1))
            .expireAfterAccess(Duration.ofHours(1))
            .build();
    long before = usedHeapAfterGc();
    Shard<String, String> shard = new Shard<>(config, new CacheCounters());
    long encoded = 0;
    for (int i = 0; i < ENTRIES; i++) {
      // Fresh strings, as decoding a peer's bytes makes them; versions as distinct as writes'.
      String key = String.format("key-%06d", i);
      String value = String.format("value-%06d", i);
      encoded += key.length() + value.length();
      shard.merge(key, Versioned.of(value, new Version(1_000_000L + i, 42L)), 0, 7);
    }
    shard.sweep();
    long after = usedHeapAfterGc();
    assertThat(shard.liveCount()).isEqualTo(ENTRIES);

    double perEntry = (double) (after - before) / ENTRIES;
    double overhead = perEntry - (double) encoded / ENTRIES;
    System.out.printf(
        "%,d entries: %.1f heap bytes each, of which %.1f encoded key and value bytes and %.1f"
            + " overhead (stated: %d); weighted size %s%n",
        ENTRIES,
        perEntry,
        (double) encoded / ENTRIES,
        overhead,
        Shard.ENTRY_OVERHEAD_BYTES,
        shard.weightedSize());
    assertThat(overhead).isLessThanOrEqualTo(Shard.ENTRY_OVERHEAD_BYTES);
    assertThat(shard.weightedSize())
        .hasValue(encoded + (long) ENTRIES * Shard.ENTRY_OVERHEAD_BYTES);
    // Keeps the shard reachable until after the measurement.
    assertThat(shard.peek("key-000000")).isNotNull();
  }

  private static long usedHeapAfterGc() {
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 5; i++) {
      System.gc();
      used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
    }
    return used;
  }
}
