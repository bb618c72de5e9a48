package dev.shardcache;

import static com.google.common.base.Preconditions.checkState;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The life of one {@link ShardcacheNode}: its state, the parts it owns from the start (its caches,
 * its upkeep, the client-only members subscribed to it), the parts a start makes ({@link
 * NodeStartup.Started}), and which view of the cluster each caller gets in each state. {@link
 * ShardcacheNode} is the public face of a node; this is where its state changes.
 *
 * <p>Its invariants:
 *
 * <ul>
 *   <li>The state only moves forward: NEW, RUNNING, LEAVING (closed to its own callers, still
 *       serving its peers while it hands its entries off), CLOSED; or NEW straight to CLOSED.
 *   <li>Everything a close must stop exists before the node is RUNNING: a close racing a start
 *       either sees all of it, or makes the start's change to RUNNING fail, and the start then
 *       stops what it made and throws.
 *   <li>The node's own API sees the cluster only while RUNNING ({@link #runningCluster}); the
 *       caches serving peers see it while LEAVING too ({@link #servingCluster}), so no peer's read
 *       misses a key on its way to its new holders.
 * </ul>
 *
 * <p>Thread-safe: the state is one atomic reference, and the started parts one volatile reference
 * published before the state turns RUNNING. {@link #start()} blocks while binding the port, {@link
 * #close()} for at most {@link ShardcacheNode#CLOSE_GRACE}; nothing else blocks.
 */
final class NodeLifecycle {
  /** Named after the public class: the node's closing line has always been logged under it. */
  private static final Logger logger = Logger.getLogger(ShardcacheNode.class.getName());

  private enum State {
    NEW,
    RUNNING,
    /** Closed to its callers, still serving its peers while it hands its entries off. */
    LEAVING,
    CLOSED
  }

  private final NodeSettings settings;
  private final NodeStartup startup;
  private final NodeCaches caches;
  private final Maintenance maintenance;
  private final Subscribers subscribers;
  private final ServedReadStreams readStreams = new ServedReadStreams();
  private final AtomicReference<State> state = new AtomicReference<>(State.NEW);
  private volatile NodeStartup.@Nullable Started started;

  NodeLifecycle(NodeSettings settings) {
    this.settings = settings;
    this.startup = new NodeStartup(settings);
    this.subscribers =
        new Subscribers(
            settings.maxSubscribedClients(), Subscribers.MAX_QUEUED_BYTES, this::selfOrPending);
    this.caches =
        new NodeCaches(
            this::servingCluster,
            settings.maxConcurrentLoads(),
            settings.maxInboundMessageBytes(),
            settings.maxBatchBytes(),
            subscribers,
            this::nearCopiesAllowed);
    this.maintenance = new Maintenance(() -> List.copyOf(caches.all()), this::cluster);
  }

  /** The node's caches, in every state. */
  NodeCaches caches() {
    return caches;
  }

  /**
   * Starts the node (see {@link ShardcacheNode#start()}).
   *
   * @throws IOException if the address cannot be bound or the TLS certificates cannot be loaded
   * @throws IllegalStateException if the node was already started or closed, or closed meanwhile
   */
  void start() throws IOException {
    checkState(
        state.get() == State.NEW,
        "node was already %s",
        state.get() == State.RUNNING ? "started" : "closed");
    NodeStartup.Started parts =
        settings.clientOnly()
            ? startup.startClient(
                this::runningCluster, () -> List.copyOf(caches.all()), caches::get)
            : startup.start(
                new PeerService(this::selfOrPending, caches::get, subscribers, readStreams),
                maintenance::onRingChange,
                this::runningCluster);
    started = parts;
    // Everything a close() must stop exists before the node is RUNNING: a close() racing this
    // start either sees it all, or makes the state change below fail and this method clean up.
    if (!state.compareAndSet(State.NEW, State.RUNNING)) {
      parts.abort();
      throw new IllegalStateException("node was closed while starting");
    }
    try {
      maintenance.start(settings.antiEntropyInterval());
    } catch (RejectedExecutionException closedMeanwhile) {
      throw new IllegalStateException("node was closed while starting", closedMeanwhile);
    }
    parts.announce();
  }

  /**
   * Whether a near cache of {@code cache} may keep copies now: always on a member; on a client-only
   * node, while its subscriptions cover the cache (see {@link Subscriptions}).
   */
  private boolean nearCopiesAllowed(String cache) {
    if (!settings.clientOnly()) {
      return true;
    }
    NodeStartup.Started parts = started;
    Subscriptions subscriptions = parts == null ? null : parts.subscriptions();
    return subscriptions != null && subscriptions.covers(cache);
  }

  /** The seams tests in this package use to reach inside the node. */
  NodeTestHooks testHooks() {
    return new NodeTestHooks(this::runningCluster, () -> started, maintenance, subscribers);
  }

  boolean isRunning() {
    return state.get() == State.RUNNING;
  }

  /**
   * Defines a cache (see {@link NodeCaches#define}) while the node is new or running.
   *
   * @throws IllegalStateException if the node is closed, or as {@link NodeCaches#define} does
   */
  <K, V> DistributedCache<K, V> define(String name, CacheConfig<K, V> config) {
    State now = state.get();
    checkState(
        now == State.NEW || now == State.RUNNING, "node is closed; caches cannot be defined on it");
    return caches.define(name, config);
  }

  /**
   * The node's address on the ring (a client-only node's name).
   *
   * @throws IllegalStateException if the node was not started
   */
  String address() {
    NodeStartup.Started parts = started;
    checkState(parts != null, "node has no address until start()");
    return parts.address();
  }

  private String selfOrPending() {
    NodeStartup.Started parts = started;
    return parts == null ? startup.pendingAddress() : parts.address();
  }

  /** Leaves and stops the node (see {@link ShardcacheNode#close()}); idempotent. */
  void close() {
    State previous;
    do {
      previous = state.get();
      if (previous == State.LEAVING || previous == State.CLOSED) {
        return;
      }
    } while (!state.compareAndSet(
        previous, previous == State.RUNNING ? State.LEAVING : State.CLOSED));
    NodeStartup.Started parts = started;
    new NodeShutdown(
            parts, maintenance, caches.loads(), settings.virtualNodes(), subscribers, readStreams)
        .run(
            ShardcacheNode.CLOSE_GRACE,
            previous == State.RUNNING,
            caches.all(),
            () -> state.set(State.CLOSED));
    caches.all().forEach(DefaultDistributedCache::clear);
    if (previous == State.RUNNING) {
      logger.log(Level.INFO, "Shardcache node {0} closed", parts == null ? null : parts.address());
    }
  }

  /** The cluster as the caches see it: also while the node leaves, so peers are still served. */
  Cluster servingCluster() {
    NodeStartup.Started parts = started;
    State now = state.get();
    checkState(
        parts != null && (now == State.RUNNING || now == State.LEAVING),
        "node is not running; call start() first (a closed node cannot be restarted)");
    return parts.cluster();
  }

  /**
   * The cluster as the node's own API sees it.
   *
   * @throws IllegalStateException unless the node is running
   */
  Cluster runningCluster() {
    NodeStartup.Started parts = started;
    checkState(
        parts != null && state.get() == State.RUNNING,
        "node is not running; call start() first (a closed node cannot be restarted)");
    return parts.cluster();
  }

  private @Nullable Cluster cluster() {
    NodeStartup.Started parts = started;
    return parts == null ? null : parts.cluster();
  }

  /** The node's address (or the one it will have) and its state, for {@link Object#toString()}. */
  @Override
  public String toString() {
    return selfOrPending() + ", " + state.get();
  }
}
