package dev.shardcache.bench;

import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.infra.ThreadParams;

/**
 * A benchmark thread's position in its benchmark's key table, which has {@link #keyCount()} keys (a
 * power of two, so the position wraps by masking). Each benchmark extends it as its own
 * thread-scoped {@code Cursor} state, naming its key count. Not thread-safe: one per thread.
 */
public abstract class KeyCursor {
  private int next;
  private int mask;

  /** The number of keys in the table: a power of two. */
  protected abstract int keyCount();

  /** Starts each thread at its own offset, so threads do not read the same keys in lockstep. */
  @Setup(Level.Trial)
  public void setUp(ThreadParams threads) {
    int count = keyCount();
    if (Integer.bitCount(count) != 1) {
      throw new IllegalStateException("the key count must be a power of two, got " + count);
    }
    mask = count - 1;
    next = (threads.getThreadIndex() * (count / Math.max(1, threads.getThreadCount()))) & mask;
  }

  /** The index of the next key, wrapping after the last. */
  int nextIndex() {
    int i = next;
    next = (i + 1) & mask;
    return i;
  }
}
