package dev.shardcache;

import dev.shardcache.ring.HashRing;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The orderly end of a node, in one deadline: stop the heartbeats and the upkeep; stop accepting
 * calls (health turns NOT_SERVING) and let those in progress finish; hand every entry to its
 * holders under the ring without this node, so that an orderly leave takes no key with it (with
 * replication factor 1 this node is a key's only holder); flush queued replication to reachable
 * peers; close the channels. Each step gets part of what is left of the grace period, and whatever
 * is still running at the deadline is cut. Not thread-safe: run once, by {@link
 * ShardcacheNode#close()}.
 */
final class NodeShutdown {
  private static final Logger logger = Logger.getLogger(NodeShutdown.class.getName());

  private final @Nullable NodeServer server;
  private final @Nullable Cluster cluster;
  private final @Nullable Heartbeats heartbeats;
  private final Maintenance maintenance;
  private final ExecutorService loads;
  private final int virtualNodes;

  /** {@code started} is null if the node never got as far as binding and joining. */
  NodeShutdown(
      NodeStartup.@Nullable Started started,
      Maintenance maintenance,
      ExecutorService loads,
      int virtualNodes) {
    this.server = started == null ? null : started.server();
    this.cluster = started == null ? null : started.cluster();
    this.heartbeats = started == null ? null : started.heartbeats();
    this.maintenance = maintenance;
    this.loads = loads;
    this.virtualNodes = virtualNodes;
  }

  /** Runs the steps within {@code grace}; hands entries off only if the node was running. */
  void run(Duration grace, boolean wasRunning, Collection<DefaultDistributedCache<?, ?>> caches) {
    long deadline = System.nanoTime() + grace.toNanos();
    if (heartbeats != null) {
      heartbeats.close();
    }
    maintenance.close();
    if (server != null) {
      server.beginShutdown();
    }
    loads.shutdownNow();
    try {
      if (server != null) {
        server.awaitShutdown(remaining(deadline).dividedBy(3));
      }
      if (cluster != null) {
        if (wasRunning) {
          handOff(cluster, caches, System.nanoTime() + remaining(deadline).dividedBy(2).toNanos());
        }
        cluster.close(remaining(deadline).dividedBy(2));
        cluster.awaitTermination(remaining(deadline));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void handOff(
      Cluster joined, Collection<DefaultDistributedCache<?, ?>> caches, long deadlineNanos) {
    List<String> others = new ArrayList<>(joined.ring().nodes());
    others.removeIf(joined::isSelf);
    if (others.isEmpty()) {
      return;
    }
    HashRing without = HashRing.of(others, virtualNodes);
    for (DefaultDistributedCache<?, ?> cache : caches) {
      try {
        cache.handOffAll(joined, without, deadlineNanos);
      } catch (RuntimeException e) {
        logger.log(Level.FINE, "Hand-off of cache " + cache.name() + " before leaving failed", e);
      }
    }
  }

  private static Duration remaining(long deadlineNanos) {
    return Duration.ofNanos(Math.max(0, deadlineNanos - System.nanoTime()));
  }
}
