package dev.shardcache;

import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The seams through which tests in this package reach inside one {@link ShardcacheNode}: run its
 * periodic upkeep on demand, lose its near-cache invalidations as a lossy network would, read its
 * peer authentication. Production code never uses them; each hook bypasses or changes what the node
 * does on its own, and that is all it does.
 *
 * <p>Thread-safe as far as the parts it reaches are; a hook that needs a running node throws {@link
 * IllegalStateException} when the node is not running.
 */
final class NodeTestHooks {
  private final Supplier<Cluster> runningCluster;
  private final Supplier<NodeStartup.@Nullable Started> started;
  private final Maintenance maintenance;
  private final Subscribers subscribers;

  NodeTestHooks(
      Supplier<Cluster> runningCluster,
      Supplier<NodeStartup.@Nullable Started> started,
      Maintenance maintenance,
      Subscribers subscribers) {
    this.runningCluster = runningCluster;
    this.started = started;
    this.maintenance = maintenance;
    this.subscribers = subscribers;
  }

  /** The client-only members subscribed to this member now. */
  int subscriberCount() {
    return subscribers.count();
  }

  /**
   * Drops every near-cache invalidation the node would send while {@code drop} is true, to peers
   * and to subscribed client-only members alike (their streams stay open, so they cannot tell).
   */
  void dropNearCacheInvalidations(boolean drop) {
    runningCluster.get().replicator().dropNearInvalidationsTo = peer -> drop;
    subscribers.dropPushes = drop;
  }

  /** The peer authentication of a started member with a cluster secret; null otherwise. */
  @Nullable PeerAuthentication authentication() {
    NodeStartup.Started parts = started.get();
    NodeServer server = parts == null ? null : parts.server();
    return server == null ? null : server.authentication();
  }

  /** The subscriptions of a started client-only node; null on a member or before start. */
  @Nullable Subscriptions subscriptions() {
    NodeStartup.Started parts = started.get();
    return parts == null ? null : parts.subscriptions();
  }

  /** Runs the periodic pass (rebalancing, anti-entropy) now, on the caller's thread. */
  void maintainNow() {
    maintenance.runNow();
  }
}
