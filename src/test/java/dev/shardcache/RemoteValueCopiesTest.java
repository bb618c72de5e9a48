package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The values a remote read answers are the reader's own: the owner sends its bytes without copying
 * them into the answer and the reader takes the bytes it received as the value, so this checks that
 * no array is shared where a caller could see another's writes. Writing into an array read remotely
 * changes no copy the cache holds and no later read, on either node. (The node a value is put on
 * keeps the caller's object as it is, as a local cache does, and as {@code DistributedCache.put}
 * says.) A value the reader keeps (a hot key's, here the second read's, or every value with a near
 * cache) is a decoding of its own, not the array the reader was answered.
 */
class RemoteValueCopiesTest {

  @Test
  void arraysPutAndReadAcrossNodesAreNeverSharedWithTheCache() throws IOException {
    CacheConfig<String, byte[]> config =
        CacheConfig.builder(Codecs.utf8(), Codecs.bytes()).replicationFactor(1).build();
    try (ShardcacheNode a = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
        ShardcacheNode b = ShardcacheNode.builder().listen("127.0.0.1", 0).build()) {
      DistributedCache<String, byte[]> onA = a.cache("bytes", config);
      DistributedCache<String, byte[]> onB = b.cache("bytes", config);
      String key = startOwnedByB(a, b, onA, onB);

      byte[] put = {1, 2, 3};
      onB.put(key, put);
      // As documented on DistributedCache.put: the holder keeps the object it was given.
      assertThat(onB.get(key)).isSameAs(put);

      byte[] first = onA.get(key);
      assertThat(first).containsExactly(1, 2, 3);
      first[1] = 9;
      byte[] second = onA.get(key);
      assertThat(second).containsExactly(1, 2, 3).isNotSameAs(first);
      second[2] = 9;
      assertThat(onA.get(key)).containsExactly(1, 2, 3);
      assertThat(onB.get(key)).containsExactly(1, 2, 3);
      assertThat(onA.stats().remoteCallCount())
          .as("remote calls (later reads answered by the reader's kept copy make none)")
          .isLessThanOrEqualTo(3);
    }
  }

  /**
   * With a near cache the first read is kept: the array it answered must not be the kept one. (Hits
   * of the near cache share its copy, as hits of a local cache share theirs; not tested here.)
   */
  @Test
  void anArrayReadAcrossNodesIsNotTheNearCachesCopy() throws IOException {
    CacheConfig<String, byte[]> config =
        CacheConfig.builder(Codecs.utf8(), Codecs.bytes())
            .replicationFactor(1)
            .nearCache(100, Duration.ofMinutes(1))
            .build();
    try (ShardcacheNode a = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
        ShardcacheNode b = ShardcacheNode.builder().listen("127.0.0.1", 0).build()) {
      DistributedCache<String, byte[]> onA = a.cache("bytes", config);
      DistributedCache<String, byte[]> onB = b.cache("bytes", config);
      String key = startOwnedByB(a, b, onA, onB);

      onB.put(key, new byte[] {1, 2, 3});

      // The put's near-cache invalidation travels on its own and may land after A's first read,
      // dropping what that read kept: so every array A is answered is written into, and A reads
      // until one read is a near-cache hit, which must still answer the cache's bytes.
      await()
          .atMost(Duration.ofSeconds(10))
          .untilAsserted(
              () -> {
                byte[] read = onA.get(key);
                assertThat(read).containsExactly(1, 2, 3);
                read[1] = 9;
                assertThat(onA.stats().nearHitCount()).as("near-cache hits").isPositive();
              });
    }
  }

  /** Starts {@code a} and {@code b} as a cluster and returns a key both see {@code b} own. */
  private static String startOwnedByB(
      ShardcacheNode a,
      ShardcacheNode b,
      DistributedCache<String, byte[]> onA,
      DistributedCache<String, byte[]> onB)
      throws IOException {
    a.start();
    b.start();
    a.setPeers(List.of(b.address()));
    b.setPeers(List.of(a.address()));
    for (int n = 0; ; n++) {
      String candidate = "k" + n;
      if (onA.ownerOf(candidate).equals(b.address())
          && onB.ownerOf(candidate).equals(b.address())) {
        return candidate;
      }
    }
  }
}
