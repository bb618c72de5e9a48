package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.benmanes.caffeine.cache.Ticker;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * {@code expireAfterAccess} on one node's {@link Shard}, on a fake ticker: what counts as a read
 * (and so keeps an entry), what does not, and that an idle entry is gone for every way of looking
 * at the shard.
 */
class ShardAccessExpiryTest {
  private static final Duration IDLE = Duration.ofMinutes(10);

  private final AtomicLong nanos = new AtomicLong();
  private final Ticker ticker = nanos::get;
  private final CacheCounters counters = new CacheCounters();
  private final Shard<String, String> shard =
      new Shard<>(
          CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).expireAfterAccess(IDLE).build(),
          counters,
          ticker);
  private long timestamp = 1_000_000;

  private void advance(Duration duration) {
    nanos.addAndGet(duration.toNanos());
  }

  private void write(String key, String value) {
    shard.merge(key, Versioned.of(value, new Version(++timestamp, 1L)), 0, 1);
  }

  @Test
  void aReadOnThisNodeKeepsTheEntryAndIdlenessDropsIt() {
    write("k", "v");
    advance(Duration.ofMinutes(9));
    assertThat(shard.get("k")).isNotNull();
    advance(Duration.ofMinutes(9));
    assertThat(shard.get("k")).as("18 minutes after the write, 9 after a read").isNotNull();
    advance(Duration.ofMinutes(11));

    assertThat(shard.get("k")).isNull();
    assertThat(shard.peek("k")).isNull();
    assertThat(shard.newest("k")).isNull();
    assertThat(visited()).isEmpty();
    shard.sweep();
    assertThat(shard.liveCount()).isZero();
    assertThat(counters.evictions.sum()).isEqualTo(1);
  }

  @Test
  void peekingAndVisitingAreNotReads() {
    write("k", "v");
    advance(Duration.ofMinutes(6));
    assertThat(shard.peek("k")).isNotNull();
    assertThat(visited()).containsExactly("k");
    assertThat(shard.liveCount()).isEqualTo(1);
    advance(Duration.ofMinutes(6));

    assertThat(shard.get("k")).as("12 minutes after the write, only peeked at").isNull();
  }

  @Test
  void storingACopyRefreshesIt() {
    write("k", "v1");
    advance(Duration.ofMinutes(8));
    write("k", "v2");
    advance(Duration.ofMinutes(8));
    assertThat(shard.get("k")).isNotNull().extracting(Shard.Held::value).isEqualTo("v2");

    // A copy that is not newer (an older one, or the same one again) is not stored and is no
    // access: 11 minutes after the last read the entry is gone.
    advance(Duration.ofMinutes(8));
    shard.merge("k", Versioned.of("old", new Version(5, 1L)), 0, 1);
    shard.merge("k", shard.peek("k").entry, 0, 1);
    advance(Duration.ofMinutes(3));
    assertThat(shard.peek("k")).as("11 minutes after the last read").isNull();
  }

  @Test
  void anIdleEntryIsAbsentToCompareAndSetAndAMergeStoresAfresh() {
    write("k", "v");
    advance(Duration.ofMinutes(11));
    assertThat(
            shard.compareAndSet(
                "k", current -> current == null, () -> Versioned.of("new", nextVersion()), 1))
        .isNotNull();
    assertThat(shard.get("k")).extracting(Shard.Held::value).isEqualTo("new");
    advance(Duration.ofMinutes(11));
    assertThat(shard.merge("k", Versioned.of("again", nextVersion()), 0, 1))
        .extracting(Versioned::value)
        .isEqualTo("again");
  }

  private Version nextVersion() {
    return new Version(++timestamp, 1L);
  }

  private List<String> visited() {
    List<String> keys = new ArrayList<>();
    shard.forEach((key, stored) -> keys.add(key));
    return keys;
  }
}
