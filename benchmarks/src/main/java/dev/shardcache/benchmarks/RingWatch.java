package dev.shardcache.benchmarks;

import dev.shardcache.ShardcacheNode;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Checks a Shardcache node's view of the cluster every 100 ms and counts the checks that found it
 * degraded: fewer ring members than expected, or a peer suspected by the failure detector. On an
 * overloaded machine missed heartbeats take members out of the ring for a while; a cell measured
 * then measures something else (fallback loads, rebalancing), so such cells are marked.
 */
final class RingWatch implements AutoCloseable {
  private final ShardcacheNode node;
  private final ScheduledExecutorService timer;
  private final AtomicLong degraded = new AtomicLong();
  private volatile int expected; // 0: nothing expected yet

  RingWatch(ShardcacheNode node) {
    this.node = node;
    this.timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread thread = new Thread(r, "ring-watch");
              thread.setDaemon(true);
              return thread;
            });
    timer.scheduleWithFixedDelay(this::check, 100, 100, TimeUnit.MILLISECONDS);
  }

  /** From now on, a ring of fewer than {@code members} members counts as degraded. */
  void expect(int members) {
    expected = members;
  }

  /** The degraded checks so far. */
  long degraded() {
    return degraded.get();
  }

  private void check() {
    int wanted = expected;
    if (wanted > 0 && (node.ring().size() < wanted || !node.suspectedPeers().isEmpty())) {
      degraded.incrementAndGet();
    }
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
