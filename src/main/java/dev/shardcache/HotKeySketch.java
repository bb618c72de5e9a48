package dev.shardcache;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.concurrent.locks.ReentrantLock;

/**
 * How often each key was read recently, estimated in fixed memory: a count-min sketch with periodic
 * aging, the frequency filter of TinyLFU.
 *
 * <p><b>The idea.</b> {@value #ROWS} rows of {@code width} counters; a key's hash picks one counter
 * in each row (each row mixes the hash with its own odd constant), a read adds one to each of them,
 * and the key's estimate is the smallest of its counters. Other keys can only add to a counter, so
 * an estimate is never below the key's true count, and the smallest of several counters is rarely
 * far above it. After {@code samplePeriod} reads every counter (and the read count) is halved, so
 * the sketch follows what is hot now and forgets what was hot long ago; halving, unlike clearing,
 * keeps the order of the keys.
 *
 * <p><b>Invariants</b> (checked by {@code HotKeySketchProperties}): between two agings a key's
 * estimate is at least the number of times it was recorded since the sketch was created or last
 * aged (halved counts included); aging turns every estimate {@code e} into {@code e / 2} (rounded
 * down) and the read count {@code n} into {@code n / 2}; a counter never exceeds {@code
 * samplePeriod}.
 *
 * <p><b>Hot.</b> {@link #record} answers whether the key is hot after the read: its estimate is at
 * least {@value #HOT_MINIMUM} (read again, not once) and at least {@code 1 / hotShare} of the reads
 * counted. Since the true counts add up to the read count, at most {@code hotShare} keys can be hot
 * by their true counts at once, whatever the workload; over-estimates add a few. The decision is
 * O(1): one comparison of two numbers the read already has.
 *
 * <p>Thread-safe: every method holds the sketch's lock for a few array accesses. {@link #record}
 * never waits for it: it runs on the transport thread that serves a peer's {@code Get} ({@link
 * ServingExecutors}), which must never block, so a read that finds the lock taken by another is not
 * counted and answers not hot. That only samples the reads under contention, as TinyLFU's read
 * buffers do; a hot key is read often enough to be counted soon after.
 */
final class HotKeySketch {
  /** Counters per key. */
  static final int ROWS = 4;

  /** The least estimate of a hot key: a key read once is never hot. */
  static final int HOT_MINIMUM = 2;

  private static final long[] SEEDS = {
    0x9E3779B97F4A7C15L, 0xC2B2AE3D27D4EB4FL, 0x165667B19E3779F9L, 0xD6E8FEB86659FD93L
  };

  /** Guards the counters and the read count; package-private so a test can hold it. */
  final ReentrantLock lock = new ReentrantLock();

  private final int[][] counters;
  private final int mask;
  private final int samplePeriod;
  private final int hotShare;
  private int samples;

  /**
   * @param width counters per row, a power of two
   * @param samplePeriod the reads after which every count is halved
   * @param hotShare a key is hot if it has at least {@code 1 / hotShare} of the counted reads
   */
  HotKeySketch(int width, int samplePeriod, int hotShare) {
    checkArgument(width > 0 && Integer.bitCount(width) == 1, "width must be a power of two");
    checkArgument(samplePeriod >= 2, "samplePeriod must be at least 2, got %s", samplePeriod);
    checkArgument(hotShare > 0, "hotShare must be positive, got %s", hotShare);
    this.counters = new int[ROWS][width];
    this.mask = width - 1;
    this.samplePeriod = samplePeriod;
    this.hotShare = hotShare;
  }

  /**
   * Counts one read of the key with this hash; returns whether the key is hot after it. Never
   * blocks: if another thread holds the sketch, the read is not counted and the answer is false.
   */
  boolean record(int keyHash) {
    if (!lock.tryLock()) {
      return false;
    }
    try {
      int estimate = Integer.MAX_VALUE;
      for (int row = 0; row < ROWS; row++) {
        int[] cells = counters[row];
        int index = index(keyHash, row);
        int count = ++cells[index];
        estimate = Math.min(estimate, count);
      }
      samples++;
      boolean hot = estimate >= HOT_MINIMUM && (long) estimate * hotShare >= samples;
      if (samples >= samplePeriod) {
        halve();
      }
      return hot;
    } finally {
      lock.unlock();
    }
  }

  /** The estimated count of the key with this hash. */
  int estimate(int keyHash) {
    lock.lock();
    try {
      int estimate = Integer.MAX_VALUE;
      for (int row = 0; row < ROWS; row++) {
        estimate = Math.min(estimate, counters[row][index(keyHash, row)]);
      }
      return estimate;
    } finally {
      lock.unlock();
    }
  }

  /** The reads counted since the sketch was created, halved at each aging. */
  int samples() {
    lock.lock();
    try {
      return samples;
    } finally {
      lock.unlock();
    }
  }

  /** Halves every counter and the read count. */
  void age() {
    lock.lock();
    try {
      halve();
    } finally {
      lock.unlock();
    }
  }

  private void halve() {
    for (int[] cells : counters) {
      for (int i = 0; i < cells.length; i++) {
        cells[i] >>>= 1;
      }
    }
    samples >>>= 1;
  }

  private int index(int keyHash, int row) {
    long mixed = (keyHash & 0xFFFFFFFFL) * SEEDS[row];
    return (int) (mixed >>> 32) & mask;
  }
}
