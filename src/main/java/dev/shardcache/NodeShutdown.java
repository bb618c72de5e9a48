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
 * The orderly end of a node, in one deadline.
 *
 * <ol>
 *   <li>Stop the heartbeats and the upkeep.
 *   <li>Leave the ring: the node takes itself out of its own ring ({@link Cluster#leave()}), so the
 *       writes and reads peers still send it are passed on to the keys' holders without it.
 *   <li>Hand every entry to its holders under that ring, <em>while still serving</em>. A member
 *       that already routes around this node and misses a key asks this node for a copy; if this
 *       node stopped serving first, such a read would find nothing until the hand-off arrived
 *       (read-your-writes through one node would break during every scale-in).
 *   <li>Stop accepting calls (health turns NOT_SERVING), end the streams of subscribed client-only
 *       members (they drop their copies), and let the calls in progress finish.
 *   <li>Hand off again: a peer that had not yet heard of the change may have sent a write here
 *       (marked forwarded, which is applied whatever this node's ring says) during the first pass.
 *       Merging is idempotent, so entries sent twice cost bytes, not correctness.
 *   <li>Flush queued replication to reachable peers; close the channels.
 * </ol>
 *
 * A client-only node stops its subscriptions with the heartbeats, has nothing to hand off and no
 * server to stop, and flushes its queue (clears it could not deliver) before closing its channels.
 *
 * <p>With replication factor 1 this node is a key's only holder, so the hand-off is what keeps an
 * orderly leave from losing keys. Each step gets part of what is left of the grace period, and
 * whatever is still running at the deadline is cut. Not thread-safe: run once, by {@link
 * NodeLifecycle#close()}.
 */
final class NodeShutdown {
  private static final Logger logger = Logger.getLogger(NodeShutdown.class.getName());

  private final @Nullable NodeServer server;
  private final @Nullable Cluster cluster;
  private final @Nullable Heartbeats heartbeats;
  private final Maintenance maintenance;
  private final ExecutorService loads;
  private final int virtualNodes;
  private final Subscribers subscribers;
  private final ServedReadStreams readStreams;
  private final @Nullable Subscriptions subscriptions;
  private final @Nullable TransportSecurity clientSecurity;

  /**
   * {@code started} is null if the node never got as far as binding and joining; {@code
   * subscribers} are the client-only members subscribed to this node, {@code readStreams} the
   * peers' read streams it serves.
   */
  NodeShutdown(
      NodeStartup.@Nullable Started started,
      Maintenance maintenance,
      ExecutorService loads,
      int virtualNodes,
      Subscribers subscribers,
      ServedReadStreams readStreams) {
    this.subscribers = subscribers;
    this.readStreams = readStreams;
    this.server = started == null ? null : started.server();
    this.cluster = started == null ? null : started.cluster();
    this.heartbeats = started == null ? null : started.heartbeats();
    this.subscriptions = started == null ? null : started.subscriptions();
    this.clientSecurity = started == null ? null : started.clientSecurity();
    this.maintenance = maintenance;
    this.loads = loads;
    this.virtualNodes = virtualNodes;
  }

  /**
   * Runs the steps within {@code grace}; leaves the ring and hands entries off only if the node was
   * running. {@code stopServing} runs once the node no longer serves its peers: after it, caches
   * may no longer see the cluster.
   */
  void run(
      Duration grace,
      boolean wasRunning,
      Collection<DefaultDistributedCache<?, ?>> caches,
      Runnable stopServing) {
    long deadline = System.nanoTime() + grace.toNanos();
    if (heartbeats != null) {
      heartbeats.close();
    }
    if (subscriptions != null) {
      subscriptions.close();
    }
    maintenance.close();
    Cluster leaving = wasRunning && cluster != null && !cluster.isClientOnly() ? cluster : null;
    try {
      if (leaving != null) {
        leaving.leave();
        handOff(leaving, caches, System.nanoTime() + remaining(deadline).dividedBy(3).toNanos());
      }
      if (server != null) {
        server.beginShutdown();
      }
      // Streams never finish on their own: end them, or the grace below would wait for them.
      subscribers.close();
      readStreams.close();
      loads.shutdownNow();
      if (server != null) {
        server.awaitShutdown(remaining(deadline).dividedBy(4));
      }
      if (leaving != null) {
        handOff(leaving, caches, System.nanoTime() + remaining(deadline).dividedBy(3).toNanos());
      }
      stopServing.run();
      if (cluster != null) {
        cluster.close(remaining(deadline).dividedBy(2));
        cluster.awaitTermination(remaining(deadline));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      stopServing.run();
    } finally {
      if (clientSecurity != null) {
        clientSecurity.close();
      }
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
