package dev.shardcache.faults;

import static dev.shardcache.faults.DefectTests2RawPeer.timestampAt;
import static dev.shardcache.faults.DefectTests2RawPeer.value;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import io.grpc.Status;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A delete is remembered for the tombstone lifetime whatever the shard's size bound: values evicted
 * to respect {@code maximumSize} are fine (a miss reloads them), but a tombstone evicted for room
 * forgets the delete, and an older copy of the key arriving late (replication, a hint, read repair)
 * then brings the deleted value back.
 */
class TombstoneUnderSizePressureTest {
  private static final String CACHE = "kv";
  private static final int MAXIMUM_SIZE = 100;
  private static final int OTHER_KEYS = 1_000;

  @Test
  void aLateOlderCopyDoesNotResurrectAKeyDeletedBeforeTheShardFilledUp() throws Exception {
    try (ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build()) {
      DistributedCache<String, String> cache =
          node.cache(
              CACHE,
              CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).maximumSize(MAXIMUM_SIZE).build());
      node.start();
      long beforeWrites = System.currentTimeMillis();

      cache.put("k", "v1");
      cache.invalidate("k");
      for (int i = 0; i < OTHER_KEYS; i++) {
        String other = "other-" + i;
        cache.put(other, "x" + i);
        // Reads make the other keys more frequent than the tombstone, as live traffic would,
        // so the size policy prefers them to it.
        cache.getIfPresent(other);
        cache.getIfPresent(other);
      }
      // The shard trims itself asynchronously: wait until it is back within its bound.
      await()
          .atMost(Duration.ofSeconds(10))
          .pollInterval(Duration.ofMillis(20))
          .until(() -> cache.localSize() <= MAXIMUM_SIZE);
      long evictions = cache.stats().evictionCount();
      long size = cache.localSize();

      // A copy of k older than the invalidate (one minute before the test), as a late replication
      // message or hint would carry it. It is not from the future.
      long olderStamp = timestampAt(beforeWrites - 60_000);
      Status.Code answer;
      String afterLateCopy;
      String heldBefore;
      try (DefectTests2RawPeer peer = DefectTests2RawPeer.to(node.address())) {
        heldBefore = DefectTests2RawPeer.describe(peer.fetch(CACHE, "k"));
        answer = peer.replicate(CACHE, value("k", "stale", olderStamp, 0x01dL));
        afterLateCopy = cache.getIfPresent("k");
      }

      System.out.printf(
          "put(k, v1), invalidate(k), then %d other keys into maximumSize %d:"
              + " evictions = %d, localSize = %d, the shard's entry of k (Fetch) = %s; a copy of k"
              + " stamped 1 min before the invalidate: Replicate answered %s, getIfPresent(k) = %s%n",
          OTHER_KEYS, MAXIMUM_SIZE, evictions, size, heldBefore, answer, afterLateCopy);
      assertThat(evictions).as("precondition: the shard evicted entries").isPositive();
      assertThat(afterLateCopy)
          .as(
              "getIfPresent(k) after a copy older than its invalidate arrived (Replicate answered"
                  + " %s)",
              answer)
          .isNull();
    }
  }
}
