package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.internal.proto.Entry;
import dev.shardcache.internal.proto.ScanPageResponse;
import dev.shardcache.replication.HybridLogicalClock;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import dev.shardcache.ring.HashRing;
import dev.shardcache.ring.KeyHash;
import io.grpc.inprocess.InProcessChannelBuilder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.constraints.StringLength;

/**
 * {@link ScanPages}, the member side of cluster-wide iteration, over any ring: every member holds
 * the keys it is a holder of (owner or replica, for any replication factor) plus stray copies of
 * keys it does not hold (left behind by a hand-off), and pages through its entries with any byte
 * budget. Together the members' pages hold every key exactly once with its value, and each page
 * stays within its budget unless it holds the entries of one key hash alone.
 *
 * <p>Each member is a real {@link Shard} behind a {@link Cluster} whose ring has every member; no
 * call is made. Run time: 60 tries, a second or two.
 */
class ScanPagesProperties {

  @Property(tries = 60)
  void theMembersPagesHoldEveryKeyExactlyOnce(
      @ForAll @IntRange(min = 1, max = 5) int memberCount,
      @ForAll @IntRange(min = 1, max = 3) int replicationFactor,
      @ForAll @Size(max = 300) Set<@StringLength(min = 1, max = 12) String> keys,
      @ForAll @IntRange(min = 40, max = 3_000) int budgetBytes,
      @ForAll @IntRange(min = 0, max = 3) int strayEvery) {
    List<String> members = new ArrayList<>();
    for (int m = 0; m < memberCount; m++) {
      members.add("10.0.0." + (m + 1) + ":7000");
    }
    List<Member> nodes = new ArrayList<>();
    try {
      for (String self : members) {
        nodes.add(new Member(self, members, replicationFactor));
      }
      HashRing ring = nodes.get(0).cluster.ring();
      Version version = new Version(HybridLogicalClock.pack(System.currentTimeMillis(), 0), 1);
      int written = 0;
      for (String key : keys) {
        long hash = KeyHash.hash(key.getBytes(StandardCharsets.UTF_8));
        List<String> holders = ring.ownersOf(hash, replicationFactor);
        for (Member node : nodes) {
          boolean stray = strayEvery > 0 && written % (strayEvery + 1) == 0;
          if (holders.contains(node.self) || stray) {
            node.shard.merge(key, Versioned.of("value-of-" + key, version), 0, -1);
          }
        }
        written++;
      }

      List<String> seen = new ArrayList<>();
      Map<String, String> values = new HashMap<>();
      for (Member node : nodes) {
        boolean started = false;
        long after = 0;
        while (true) {
          ScanPageResponse page = node.pages.page(started, after, budgetBytes, () -> false);
          long distinctHashes =
              page.getEntriesList().stream()
                  .mapToLong(e -> KeyHash.hash(e.getKey().toByteArray()))
                  .distinct()
                  .count();
          if (distinctHashes > 1) {
            assertThat(page.getSerializedSize())
                .as(
                    "a page of %s entries under a budget of %s",
                    page.getEntriesCount(), budgetBytes)
                .isLessThanOrEqualTo(budgetBytes);
          }
          for (Entry entry : page.getEntriesList()) {
            String key = entry.getKey().toStringUtf8();
            seen.add(key);
            values.put(key, entry.getValue().toStringUtf8());
            assertThat(ring.ownerOf(KeyHash.hash(entry.getKey().toByteArray())))
                .as("the owner of %s", key)
                .isEqualTo(node.self);
          }
          if (!page.hasNextAfterHash()) {
            break;
          }
          assertThat(page.getEntriesCount()).as("a page that says more follows").isPositive();
          if (started) {
            assertThat(Long.compareUnsigned(page.getNextAfterHash(), after)).isPositive();
          }
          started = true;
          after = page.getNextAfterHash();
        }
      }

      assertThat(seen).as("keys seen, duplicates included").hasSameSizeAs(keys);
      assertThat(values.keySet()).isEqualTo(keys);
      values.forEach((key, value) -> assertThat(value).isEqualTo("value-of-" + key));
    } finally {
      nodes.forEach(node -> node.cluster.close());
    }
  }

  /** One member: its view of the ring, its shard of the cache, and its page maker. */
  private static final class Member {
    final String self;
    final Cluster cluster;
    final Shard<String, String> shard;
    final ScanPages<String, String> pages;

    Member(String self, List<String> members, int replicationFactor) {
      this.self = self;
      List<String> peers = new ArrayList<>(members);
      peers.remove(self);
      this.cluster =
          new Cluster(
              self,
              peers,
              16,
              Duration.ofSeconds(1),
              ReplicationLimits.DEFAULT,
              (previous, next) -> {},
              address ->
                  new PeerClient(
                      address,
                      new FakeTicker(),
                      InProcessChannelBuilder.forName(address).build(),
                      InProcessChannelBuilder.forName(address).build()),
              ShardcacheNode.DEFAULT_MAX_CLOCK_SKEW);
      CacheConfig<String, String> config =
          CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
              .replicationFactor(replicationFactor)
              .maximumSize(10_000)
              .build();
      CacheCounters counters = new CacheCounters();
      EntryCodec<String, String> codec = new EntryCodec<>("scanned", config, counters);
      this.shard = new Shard<>(config, counters);
      this.pages =
          new ScanPages<>(
              new CacheScope<>(
                  "scanned",
                  config,
                  () -> cluster,
                  Runnable::run,
                  counters,
                  codec,
                  shard,
                  new Router<>(codec, replicationFactor),
                  new NearCache<>(config, counters.nearHits, () -> true),
                  new HotKeys(config),
                  ShardcacheNode.MIN_BATCH_BYTES,
                  new Subscribers(0, Subscribers.MAX_QUEUED_BYTES, () -> self)));
    }
  }
}
