package dev.shardcache;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import dev.shardcache.ring.HashRing;
import java.time.Duration;
import java.util.Collection;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The node's background upkeep of its caches, on one daemon thread so that passes never overlap: a
 * hand-off pass after each ring change, and every {@code antiEntropyInterval} a periodic pass
 * (sweep expired entries, hand off what landed here while views disagreed, one anti-entropy round
 * with each live peer for each replicated cache). A failing cache is logged and the others go on.
 * On a client-only node, which holds nothing, the pass only closes the channels of members that
 * left.
 *
 * <p>Thread-safe.
 */
final class Maintenance implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(Maintenance.class.getName());

  private final Supplier<Collection<DefaultDistributedCache<?, ?>>> caches;
  private final Supplier<@Nullable Cluster> clusters;
  private final ScheduledExecutorService thread =
      Executors.newSingleThreadScheduledExecutor(
          new ThreadFactoryBuilder()
              .setNameFormat("shardcache-maintenance")
              .setDaemon(true)
              .build());

  Maintenance(
      Supplier<Collection<DefaultDistributedCache<?, ?>>> caches,
      Supplier<@Nullable Cluster> clusters) {
    this.caches = caches;
    this.clusters = clusters;
  }

  /** Starts the periodic pass. */
  void start(Duration interval) {
    long period = interval.toMillis();
    ScheduledFuture<?> unused = // runs until close() shuts the thread down
        thread.scheduleWithFixedDelay(this::periodicPass, period, period, TimeUnit.MILLISECONDS);
  }

  /**
   * Queues a hand-off pass for a ring change; each pass routes with the ring current when it runs.
   */
  void onRingChange(HashRing previous, HashRing current) {
    try {
      thread.execute(
          () -> {
            for (DefaultDistributedCache<?, ?> cache : caches.get()) {
              try {
                cache.rebalance(previous);
              } catch (RuntimeException e) {
                logger.log(Level.WARNING, "Rebalancing cache " + cache.name() + " failed", e);
              }
            }
          });
    } catch (RejectedExecutionException closing) {
      // the node is closing
    }
  }

  /** Runs the periodic pass on the caller's thread; for tests. */
  void runNow() {
    periodicPass();
  }

  private void periodicPass() {
    Cluster cluster = clusters.get();
    if (cluster == null) {
      return;
    }
    HashRing ring;
    try {
      ring = cluster.ring();
    } catch (IllegalStateException closed) {
      return;
    }
    cluster.closeExpiredDeparted();
    if (cluster.isClientOnly()) {
      return; // it holds nothing to sweep, hand off or repair
    }
    for (DefaultDistributedCache<?, ?> cache : caches.get()) {
      try {
        cache.sweep();
        cache.rebalance(ring);
        for (String member : ring.nodes()) {
          if (!cluster.isSelf(member)) {
            cache.antiEntropyWith(member);
          }
        }
      } catch (IllegalStateException closing) {
        return;
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "Maintenance of cache " + cache.name() + " failed", e);
      }
    }
  }

  @Override
  public void close() {
    thread.shutdownNow();
  }
}
