package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.io.IOException;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * compareAndSet sees the cache as get does: a value past its {@code expireAfterWrite} is absent,
 * even while it still sits in the shard waiting for a sweep. So it no longer matches as the
 * expected value, and "expected absent" matches.
 */
class CompareAndSetExpiryTest {
  private static final String CACHE = "kv";
  private static final Duration TTL = Duration.ofMillis(300);

  private ShardcacheNode node;
  private DistributedCache<String, String> cache;

  @BeforeEach
  void startNode() throws IOException {
    node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    cache =
        node.cache(
            CACHE, CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).expireAfterWrite(TTL).build());
    node.start();
  }

  @AfterEach
  void stopNode() {
    if (node != null) {
      node.close();
    }
  }

  @Test
  void anExpiredValueDoesNotMatchAsTheExpectedOne() {
    cache.put("k", "old");
    awaitExpired("k");

    boolean applied = cache.compareAndSet("k", "old", "new");
    String after = cache.getIfPresent("k");

    System.out.printf(
        "expired 'old' (ttl %d ms): compareAndSet(k, \"old\", \"new\") = %s;"
            + " getIfPresent(k) then = %s%n",
        TTL.toMillis(), applied, after);
    assertThat(applied).as("compareAndSet(k, \"old\", \"new\") once 'old' has expired").isFalse();
    assertThat(after).as("getIfPresent(k) after the refused compareAndSet").isNull();
  }

  @Test
  void anExpiredValueCountsAsAbsent() {
    cache.put("k", "old");
    awaitExpired("k");

    boolean applied = cache.compareAndSet("k", null, "new");
    String after = cache.getIfPresent("k");

    System.out.printf(
        "expired 'old' (ttl %d ms): compareAndSet(k, null, \"new\") = %s;"
            + " getIfPresent(k) then = %s%n",
        TTL.toMillis(), applied, after);
    assertThat(applied).as("compareAndSet(k, null, \"new\") once 'old' has expired").isTrue();
    assertThat(after).as("getIfPresent(k) after compareAndSet(k, null, \"new\")").isEqualTo("new");
  }

  private void awaitExpired(String key) {
    assertThat(cache.getIfPresent(key))
        .as("getIfPresent(%s) right after the put", key)
        .isEqualTo("old");
    await()
        .atMost(Duration.ofSeconds(10))
        .pollInterval(Duration.ofMillis(20))
        .until(() -> cache.getIfPresent(key) == null);
  }
}
