package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shardcache.replication.HybridLogicalClock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A version stamped too far ahead is logged the first time it is refused, and not again within the
 * rate limit (10 s).
 *
 * <p>Defect: the time of the last warning started at {@code Long.MIN_VALUE}, so {@code now - last}
 * overflowed to a negative number and the warning never logged at all.
 */
class EntryCodecSkewLogTest {
  private static final Logger CODEC_LOGGER = Logger.getLogger(EntryCodec.class.getName());

  private final List<LogRecord> records = new CopyOnWriteArrayList<>();
  private final Handler capture =
      new Handler() {
        @Override
        public void publish(LogRecord record) {
          records.add(record);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
      };

  private Cluster cluster;

  @BeforeEach
  void setUp() {
    CODEC_LOGGER.addHandler(capture);
    cluster =
        new Cluster(
            "self:7000",
            List.of(),
            16,
            Duration.ofSeconds(1),
            ReplicationLimits.DEFAULT,
            (previous, next) -> {},
            address -> {
              throw new AssertionError("no peer is configured: " + address);
            },
            Duration.ofSeconds(1));
  }

  @AfterEach
  void tearDown() {
    CODEC_LOGGER.removeHandler(capture);
    cluster.close();
  }

  @Test
  void theFirstSkewWarningLogsAndASecondWithinTheIntervalDoesNot() {
    EntryCodec<String, String> codec =
        new EntryCodec<>(
            "skewed",
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build(),
            new CacheCounters());
    long aMinuteAhead = HybridLogicalClock.pack(System.currentTimeMillis() + 60_000, 0);

    assertThatThrownBy(() -> codec.checkTimestamp(cluster, aMinuteAhead, "peer:1"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("over maxClockSkew");
    assertThat(warnings()).hasSize(1);
    assertThat(warnings().get(0).getMessage())
        .contains("cache 'skewed'", "peer:1", "ahead of this node's clock", "at most every 10 s");

    assertThatThrownBy(() -> codec.checkTimestamp(cluster, aMinuteAhead, "peer:2"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(warnings()).as("a second refusal within 10 s is counted, not logged").hasSize(1);
  }

  private List<LogRecord> warnings() {
    return records.stream().filter(r -> r.getLevel() == Level.WARNING).toList();
  }
}
