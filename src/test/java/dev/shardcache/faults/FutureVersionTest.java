package dev.shardcache.faults;

import static dev.shardcache.faults.DefectTests2RawPeer.timestampAt;
import static dev.shardcache.faults.DefectTests2RawPeer.value;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import io.grpc.Status;
import java.io.IOException;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A versioned entry stamped far in the future must be refused, not merged: with last writer wins it
 * would beat every real write of its key until the clocks caught up (an hour here), and the
 * receiver's clock, pulled forward by it, would stamp the node's own writes in the future too. The
 * receiver accepts timestamps up to a small skew (about a second) past its own clock and answers
 * anything further ahead with {@code INVALID_ARGUMENT}.
 *
 * <p>One node with default settings and a cache without loader; the forged entry comes from a raw
 * {@code Replicate} call by a caller that is not a member.
 */
class FutureVersionTest {
  private static final String CACHE = "kv";
  private static final long ONE_HOUR_MILLIS = 3_600_000L;
  private static final long WRITER = 0x5eedL;

  private ShardcacheNode node;
  private DistributedCache<String, String> cache;
  private DefectTests2RawPeer peer;

  @BeforeEach
  void startNode() throws IOException {
    node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    cache = node.cache(CACHE, CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build());
    node.start();
    peer = DefectTests2RawPeer.to(node.address());
  }

  @AfterEach
  void stopNode() throws InterruptedException {
    if (peer != null) {
      peer.close();
    }
    if (node != null) {
      node.close();
    }
  }

  @Test
  void anEntryStampedAnHourAheadIsRefusedAndALaterPutWins() {
    long sentAt = System.currentTimeMillis();
    Status.Code answer =
        peer.replicate(CACHE, value("k", "forged", timestampAt(sentAt + ONE_HOUR_MILLIS), WRITER));
    String heldAfterForgery = cache.getIfPresent("k");

    cache.put("k", "real");
    String readAfterPut = cache.get("k");

    System.out.printf(
        "future entry (+%d ms): Replicate answered %s; getIfPresent(k) then = %s;"
            + " after put(k, \"real\"), get(k) = %s%n",
        ONE_HOUR_MILLIS, answer, heldAfterForgery, readAfterPut);
    SoftAssertions.assertSoftly(
        soft -> {
          soft.assertThat(answer)
              .as("status of a Replicate carrying an entry stamped one hour in the future")
              .isEqualTo(Status.Code.INVALID_ARGUMENT);
          soft.assertThat(heldAfterForgery)
              .as("getIfPresent(k) after the refused future entry")
              .isNull();
          soft.assertThat(readAfterPut)
              .as("get(k) after put(k, \"real\") made after the future entry arrived")
              .isEqualTo("real");
        });
  }

  @Test
  void anEntryStampedWithinTheSkewIsAccepted() {
    long sentAt = System.currentTimeMillis();
    Status.Code answer =
        peer.replicate(CACHE, value("k", "slightly-ahead", timestampAt(sentAt + 200), WRITER));
    String held = cache.getIfPresent("k");

    cache.put("k", "real");
    String readAfterPut = cache.get("k");

    System.out.printf(
        "entry 200 ms ahead: Replicate answered %s; getIfPresent(k) then = %s;"
            + " after put(k, \"real\"), get(k) = %s%n",
        answer, held, readAfterPut);
    assertThat(answer)
        .as("status of a Replicate carrying an entry stamped 200 ms ahead")
        .isEqualTo(Status.Code.OK);
    assertThat(held).as("getIfPresent(k) after the entry 200 ms ahead").isEqualTo("slightly-ahead");
    assertThat(readAfterPut).as("get(k) after a put made after it").isEqualTo("real");
  }
}
