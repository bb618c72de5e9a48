package dev.shardcache.replication;

import static dev.shardcache.replication.HybridLogicalClock.pack;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.hash.Hashing;
import dev.shardcache.ring.KeyHash;
import org.junit.jupiter.api.Test;

class VersionTest {

  @Test
  void ordersByTimestampFirst() {
    Version older = new Version(pack(1_000, 5), Long.MAX_VALUE);
    Version newer = new Version(pack(1_000, 6), Long.MIN_VALUE);
    assertThat(newer).isGreaterThan(older);
    assertThat(newer.isNewerThan(older)).isTrue();
    assertThat(older.isNewerThan(newer)).isFalse();
  }

  @Test
  void breaksTimestampTiesByWriterAsSignedLongs() {
    long ts = pack(1_000, 0);
    assertThat(new Version(ts, 1)).isGreaterThan(new Version(ts, -1));
    assertThat(new Version(ts, 1).isNewerThan(new Version(ts, -1))).isTrue();
  }

  @Test
  void aVersionIsNotNewerThanItself() {
    Version v = new Version(pack(1_000, 0), 7);
    assertThat(v.isNewerThan(new Version(pack(1_000, 0), 7))).isFalse();
    assertThat(v).isEqualByComparingTo(new Version(pack(1_000, 0), 7)).isEqualTo(v);
  }

  @Test
  void zeroIsBelowEveryOtherVersion() {
    assertThat(Version.ZERO.timestamp()).isZero();
    assertThat(new Version(0, Long.MIN_VALUE + 1).isNewerThan(Version.ZERO)).isTrue();
    assertThat(new Version(1, Long.MIN_VALUE).isNewerThan(Version.ZERO)).isTrue();
    assertThat(Version.ZERO.isNewerThan(Version.ZERO)).isFalse();
  }

  @Test
  void rejectsNegativeTimestamps() {
    assertThatThrownBy(() -> new Version(-1, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("-1");
  }

  @Test
  void writerIdIsTheRingHashOfTheAddress() {
    String address = "10.0.0.1:7070";
    assertThat(Version.writerId(address))
        .isEqualTo(KeyHash.hash(address.getBytes(UTF_8)))
        .isEqualTo(Hashing.murmur3_128().hashString(address, UTF_8).asLong());
    assertThat(Version.writerId("10.0.0.2:7070")).isNotEqualTo(Version.writerId(address));
  }

  /** Pinned: writer ids travel between nodes of different versions. Do not change; fix the code. */
  @Test
  void writerIdsNeverChange() {
    assertThat(Version.writerId("10.0.0.1:7070")).isEqualTo(WRITER_10_0_0_1);
    assertThat(Version.writerId("localhost:7070")).isEqualTo(WRITER_LOCALHOST);
  }

  @Test
  void toStringShowsTheClockAndTheWriter() {
    assertThat(new Version(pack(1_000, 3), 255)).hasToString("Version[1000.3 by ff]");
  }

  private static final long WRITER_10_0_0_1 = -5157180081394763626L;
  private static final long WRITER_LOCALHOST = -435646098082448657L;
}
