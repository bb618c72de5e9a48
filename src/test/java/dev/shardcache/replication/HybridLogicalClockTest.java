package dev.shardcache.replication;

import static dev.shardcache.replication.HybridLogicalClock.MAX_LOGICAL;
import static dev.shardcache.replication.HybridLogicalClock.MAX_PHYSICAL_MILLIS;
import static dev.shardcache.replication.HybridLogicalClock.logical;
import static dev.shardcache.replication.HybridLogicalClock.pack;
import static dev.shardcache.replication.HybridLogicalClock.physicalMillis;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class HybridLogicalClockTest {

  private final AtomicLong wall = new AtomicLong(1_000);
  private final HybridLogicalClock clock =
      new HybridLogicalClock(wall::get, Duration.ofMillis(100));

  @Test
  void packPutsMillisInTheHighBitsAndTheCounterInTheLow16() {
    long ts = pack(1_700_000_000_123L, 42);
    assertThat(ts).isEqualTo(1_700_000_000_123L << 16 | 42);
    assertThat(physicalMillis(ts)).isEqualTo(1_700_000_000_123L);
    assertThat(logical(ts)).isEqualTo(42);
    assertThat(pack(MAX_PHYSICAL_MILLIS, MAX_LOGICAL)).isEqualTo(Long.MAX_VALUE);
    assertThat(pack(0, 0)).isZero();
  }

  @Test
  void packedTimestampsCompareByMillisThenCounter() {
    assertThat(pack(5, MAX_LOGICAL)).isLessThan(pack(6, 0));
    assertThat(pack(5, 1)).isLessThan(pack(5, 2));
    assertThat(pack(5, MAX_LOGICAL) + 1).isEqualTo(pack(6, 0));
  }

  @Test
  void packRejectsPartsOutOfRange() {
    assertThatThrownBy(() -> pack(-1, 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> pack(MAX_PHYSICAL_MILLIS + 1, 0))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> pack(0, -1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> pack(0, MAX_LOGICAL + 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("65535");
  }

  @Test
  void formatShowsMillisAndCounter() {
    assertThat(HybridLogicalClock.format(pack(1_000, 3))).isEqualTo("1000.3");
  }

  @Test
  void followsAnAdvancingWallClockWithCounterZero() {
    assertThat(clock.now()).isEqualTo(pack(1_000, 0));
    wall.set(1_005);
    assertThat(clock.now()).isEqualTo(pack(1_005, 0));
    wall.set(1_006);
    assertThat(clock.now()).isEqualTo(pack(1_006, 0));
  }

  @Test
  void countsWhileTheWallClockStalls() {
    assertThat(clock.now()).isEqualTo(pack(1_000, 0));
    assertThat(clock.now()).isEqualTo(pack(1_000, 1));
    assertThat(clock.now()).isEqualTo(pack(1_000, 2));
  }

  @Test
  void keepsGoingForwardWhenTheWallClockJumpsBack() {
    assertThat(clock.now()).isEqualTo(pack(1_000, 0));
    wall.set(400);
    assertThat(clock.now()).isEqualTo(pack(1_000, 1));
    wall.set(1_001);
    assertThat(clock.now()).isEqualTo(pack(1_001, 0));
  }

  @Test
  void aFullCounterCarriesIntoTheMillisInsteadOfWrapping() {
    long previous = clock.now();
    for (int i = 0; i < MAX_LOGICAL; i++) {
      long next = clock.now();
      assertThat(next).isGreaterThan(previous);
      previous = next;
    }
    assertThat(previous).isEqualTo(pack(1_000, MAX_LOGICAL));
    assertThat(clock.now()).isEqualTo(pack(1_001, 0));
    assertThat(clock.now()).isEqualTo(pack(1_001, 1));
  }

  @Test
  void observeMovesPastARemoteTimestampAhead() {
    clock.now();
    assertThat(clock.observe(pack(1_050, 7))).isEqualTo(pack(1_050, 8));
    assertThat(clock.now()).isEqualTo(pack(1_050, 9));
  }

  @Test
  void observeOfARemoteTimestampBehindIsLikeNow() {
    assertThat(clock.observe(pack(10, 3))).isEqualTo(pack(1_000, 0));
    assertThat(clock.observe(pack(999, MAX_LOGICAL))).isEqualTo(pack(1_000, 1));
  }

  @Test
  void observeAtExactlyTheDriftBoundStillMovesPastTheRemote() {
    long remote = pack(1_100, MAX_LOGICAL);
    assertThat(clock.observe(remote)).isEqualTo(pack(1_101, 0)).isGreaterThan(remote);
  }

  @Test
  void aRemoteClockTooFarAheadIsClampedToPhysicalPlusDrift() {
    assertThat(clock.observe(pack(5_000_000, 0))).isEqualTo(pack(1_100, 0));
    assertThat(clock.now()).isEqualTo(pack(1_100, 1));
    // The same fast node again: the clock still does not follow it.
    assertThat(clock.observe(pack(5_000_000, 0))).isEqualTo(pack(1_100, 2));
    // Once the wall clock passes the clamp, the clock follows the wall clock again.
    wall.set(1_200);
    assertThat(clock.now()).isEqualTo(pack(1_200, 0));
  }

  @Test
  void zeroDriftFollowsNoRemoteClockAhead() {
    HybridLogicalClock strict = new HybridLogicalClock(wall::get, Duration.ZERO);
    assertThat(strict.observe(pack(1_000, 9))).isEqualTo(pack(1_000, 10));
    assertThat(strict.observe(pack(1_001, 0))).isEqualTo(pack(1_000, 11));
    assertThat(strict.maxForwardDrift()).isEqualTo(Duration.ZERO);
  }

  @Test
  void physicalReadingsOutOfRangeAreClamped() {
    wall.set(-5);
    assertThat(clock.now()).isEqualTo(pack(0, 1)); // 0 is below every issued timestamp
    wall.set(Long.MAX_VALUE);
    assertThat(clock.now()).isEqualTo(pack(MAX_PHYSICAL_MILLIS, 0));
  }

  @Test
  void reachingTheLargestTimestampFailsInsteadOfWrapping() {
    wall.set(MAX_PHYSICAL_MILLIS);
    assertThat(clock.observe(Long.MAX_VALUE - 1)).isEqualTo(Long.MAX_VALUE);
    assertThatThrownBy(clock::now).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> clock.observe(0)).isInstanceOf(IllegalStateException.class);

    HybridLogicalClock other = new HybridLogicalClock(wall::get, Duration.ZERO);
    assertThatThrownBy(() -> other.observe(Long.MAX_VALUE))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("6429");
  }

  @Test
  void observeRejectsNegativeTimestamps() {
    assertThatThrownBy(() -> clock.observe(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("-1");
  }

  @Test
  void constructorValidatesItsArguments() {
    assertThatThrownBy(() -> new HybridLogicalClock(wall::get, Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("maxForwardDrift");
    assertThatThrownBy(() -> new HybridLogicalClock(null, Duration.ZERO))
        .isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> new HybridLogicalClock(wall::get, null))
        .isInstanceOf(NullPointerException.class);
  }

  @Test
  void anEnormousDriftMeansNoBoundButDoesNotOverflow() {
    HybridLogicalClock lax = new HybridLogicalClock(wall::get, Duration.ofSeconds(Long.MAX_VALUE));
    assertThat(lax.observe(pack(MAX_PHYSICAL_MILLIS, 0))).isEqualTo(pack(MAX_PHYSICAL_MILLIS, 1));
  }

  @Test
  void theSystemClockFactoryFollowsTheWallClock() {
    long before = System.currentTimeMillis();
    long ts = HybridLogicalClock.onSystemClock(Duration.ofSeconds(1)).now();
    assertThat(physicalMillis(ts)).isBetween(before, System.currentTimeMillis());
  }

  @Test
  void concurrentCallersGetDistinctIncreasingTimestamps() throws Exception {
    HybridLogicalClock shared =
        HybridLogicalClock.onSystemClock(Duration.ofMillis(100)); // real, racing wall clock
    int threads = 4;
    int perThread = 50_000;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch start = new CountDownLatch(1);
    try {
      List<Future<long[]>> results = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        boolean observer = t % 2 == 0;
        results.add(
            pool.submit(
                () -> {
                  long[] seen = new long[perThread];
                  start.await();
                  for (int i = 0; i < perThread; i++) {
                    seen[i] = observer && i > 0 ? shared.observe(seen[i - 1] - 1) : shared.now();
                  }
                  return seen;
                }));
      }
      start.countDown();
      Set<Long> all = new HashSet<>();
      for (Future<long[]> result : results) {
        long[] seen = result.get(30, TimeUnit.SECONDS);
        for (int i = 0; i < seen.length; i++) {
          if (i > 0) {
            assertThat(seen[i]).isGreaterThan(seen[i - 1]);
          }
          assertThat(all.add(seen[i])).as("duplicate timestamp %s", seen[i]).isTrue();
        }
      }
      assertThat(all).hasSize(threads * perThread);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void toStringShowsTheLastTimestamp() {
    clock.now();
    assertThat(clock.toString()).contains("1000.0").contains("PT0.1S");
  }
}
