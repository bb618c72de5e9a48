package dev.shardcache;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;
import static java.util.Objects.requireNonNull;

import com.google.common.base.Ticker;
import dev.shardcache.membership.PhiAccrualFailureDetector;
import dev.shardcache.ring.HashRing;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.IOException;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * One member of a Shardcache cluster: the gRPC server peers call, the channels to the peers, the
 * consistent hash ring of the members, and this JVM's shards of the named caches.
 *
 * <pre>{@code
 * ShardcacheNode node = ShardcacheNode.builder()
 *     .listen("127.0.0.1", 7070)
 *     .peers(List.of("127.0.0.1:7071", "127.0.0.1:7072"))
 *     .build();
 * DistributedCache<String, String> users = node.cache("users",
 *     CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).loader(db::load).build());
 * node.start();
 * }</pre>
 *
 * <p>Lifecycle: {@link Builder#build} gives a node that is not yet serving; define its caches, then
 * {@link #start()} binds the port. Caches may also be defined after start, but a peer's request for
 * a cache this node does not define yet fails with "no cache named", so define them first. {@link
 * #close()} stops the server and the channels; it is idempotent. A closed node cannot be restarted.
 *
 * <p>Membership: the ring's members are the peers given plus this node. Every member must list the
 * same set and spell each address the same way ("localhost:7070" and "127.0.0.1:7070" are two
 * different members). Change it at run time with {@link #setPeers}, for example from a discovery
 * service; nodes may see a change at different times, and the protocol tolerates that (a request
 * reaching a node that does not hold its key is passed on at most once).
 *
 * <p>Besides the peer service, the node's port serves the standard gRPC health service ({@code
 * grpc.health.v1.Health}): {@code SERVING} for the service names {@code ""} and {@value
 * #PEER_SERVICE} while the node runs, {@code NOT_SERVING} once it closes, so the usual probes
 * ({@code grpc_health_probe}, Kubernetes gRPC probes) work unchanged.
 *
 * <p>This class is thread-safe.
 */
public final class ShardcacheNode implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(ShardcacheNode.class.getName());

  /** How often a node pings each peer when {@link Builder#heartbeatInterval} is not set. */
  public static final Duration DEFAULT_HEARTBEAT_INTERVAL = Duration.ofMillis(500);

  /** How often replicas compare digests when {@link Builder#antiEntropyInterval} is not set. */
  public static final Duration DEFAULT_ANTI_ENTROPY_INTERVAL = Duration.ofSeconds(30);

  /**
   * How far ahead of a node's clock a version may be stamped when {@link Builder#maxClockSkew} is
   * not set.
   */
  public static final Duration DEFAULT_MAX_CLOCK_SKEW = Duration.ofSeconds(1);

  /** The longest {@link #close()} takes, all steps together. */
  static final Duration CLOSE_GRACE = Duration.ofSeconds(5);

  /** The deadline of one replication batch. */
  static final Duration REPLICATION_TIMEOUT = Duration.ofSeconds(5);

  /** The largest gRPC message a node sends or accepts: 64 MiB. */
  static final int MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

  /**
   * The largest hand-off chunk or anti-entropy answer a node builds when {@link
   * Builder#maxBatchBytes} is not set, unless half of {@link Builder#maxInboundMessageBytes} is
   * less: 4 MiB.
   */
  public static final int DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;

  /** The smallest {@link Builder#maxBatchBytes}: 16 KiB. */
  static final int MIN_BATCH_BYTES = 16 * 1024;

  /** The most header bytes a call may carry. */
  static final int MAX_METADATA_BYTES = 16 * 1024;

  /** The default bound of loads running at once on a node. */
  public static final int DEFAULT_MAX_CONCURRENT_LOADS = 64;

  /** How many loads may wait for a thread, per load thread. */
  static final int LOADS_WAITING_PER_THREAD = 16;

  /** The default bound of calls in progress from one host, and on one connection. */
  public static final int DEFAULT_MAX_CONCURRENT_CALLS_PER_PEER = 256;

  /** The service name under which the gRPC health service reports the peer service. */
  public static final String PEER_SERVICE = "shardcache.v1.PeerService";

  private enum State {
    NEW,
    RUNNING,
    CLOSED
  }

  private final String listenHost;
  private final int requestedPort;
  private final @Nullable String advertiseHost;
  private final int advertisePort;
  private final List<String> initialPeers;
  private final int virtualNodes;
  private final ExecutorService ownedExecutor;
  private final Ticker ticker;
  private final @Nullable PeerTls tls;
  private final byte @Nullable [] clusterSecret;
  private final int maxConcurrentCallsPerPeer;
  private final int maxInboundMessageBytes;
  private final int maxBatchBytes;
  private final CallLimiter limiter;
  private final Duration heartbeatInterval;
  private final Duration antiEntropyInterval;
  private final Duration maxClockSkew;
  private final Maintenance maintenance;
  private volatile @Nullable Heartbeats heartbeats;

  private final Map<String, DefaultDistributedCache<?, ?>> caches = new ConcurrentHashMap<>();
  private final HealthStatusManager health = new HealthStatusManager();
  private final AtomicReference<State> state = new AtomicReference<>(State.NEW);
  private volatile @Nullable Cluster cluster;
  private volatile @Nullable NodeServer server;
  private volatile @Nullable String address;

  private ShardcacheNode(Builder builder) {
    this.listenHost = requireNonNull(builder.host); // build() checked it
    this.requestedPort = builder.port;
    this.advertiseHost = builder.advertiseHost;
    this.advertisePort = builder.advertisePort;
    this.initialPeers = builder.peers == null ? List.of() : builder.peers;
    this.virtualNodes = builder.virtualNodes;
    this.ticker = builder.ticker;
    this.tls = builder.tls;
    this.clusterSecret = builder.clusterSecret;
    this.maxConcurrentCallsPerPeer = builder.maxConcurrentCallsPerPeer;
    this.maxInboundMessageBytes = builder.maxInboundMessageBytes;
    this.maxBatchBytes = builder.maxBatchBytes;
    this.limiter = new CallLimiter(maxConcurrentCallsPerPeer);
    this.heartbeatInterval =
        builder.heartbeatInterval == null ? DEFAULT_HEARTBEAT_INTERVAL : builder.heartbeatInterval;
    this.antiEntropyInterval =
        builder.antiEntropyInterval == null
            ? DEFAULT_ANTI_ENTROPY_INTERVAL
            : builder.antiEntropyInterval;
    this.maxClockSkew =
        builder.maxClockSkew == null ? DEFAULT_MAX_CLOCK_SKEW : builder.maxClockSkew;
    this.maintenance = new Maintenance(() -> List.copyOf(caches.values()), () -> cluster);
    this.ownedExecutor =
        BoundedPools.create(
            "shardcache-load-%d",
            builder.maxConcurrentLoads, LOADS_WAITING_PER_THREAD * builder.maxConcurrentLoads);
  }

  /** Returns a builder of a node. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Binds the server and joins the ring. Returns this node.
   *
   * @throws IOException if the address cannot be bound (such as a port already in use)
   * @throws IllegalStateException if the node was already started or closed
   */
  public ShardcacheNode start() throws IOException {
    checkState(
        state.get() == State.NEW,
        "node was already %s",
        state.get() == State.RUNNING ? "started" : "closed");
    NodeServer started =
        NodeServer.start(
            new NodeServer.Settings(
                listenHost,
                requestedPort,
                tls,
                clusterSecret,
                maxConcurrentCallsPerPeer,
                maxInboundMessageBytes,
                MAX_METADATA_BYTES),
            new PeerService(this::selfOrPending, caches::get),
            limiter,
            health);
    PeerAuthentication auth = started.authentication();
    String self =
        new HostPort(
                advertiseHost != null ? advertiseHost : listenHost,
                advertisePort > 0 ? advertisePort : started.port())
            .toString();
    if (auth != null) {
      auth.identify(self); // tokens name the target they are for, and the caller
    }
    Cluster joined;
    try {
      joined =
          new Cluster(
              self,
              initialPeers,
              virtualNodes,
              ticker,
              REPLICATION_TIMEOUT,
              Replicator.DEFAULT_CAPACITY_PER_PEER,
              maintenance::onRingChange,
              started.security().channelCredentials(),
              auth == null ? List.of() : List.of(auth.clientInterceptor()),
              maxClockSkew);
    } catch (RuntimeException e) {
      started.abort();
      throw e;
    }
    this.address = self;
    this.cluster = joined;
    this.server = started;
    // Everything a close() must stop exists before the node is RUNNING: a close() racing this
    // start either sees it all, or makes the state change below fail and this method clean up.
    Duration interval = heartbeatInterval;
    Heartbeats beating =
        new Heartbeats(
            this::runningCluster,
            interval,
            () -> PhiAccrualFailureDetector.builder().firstHeartbeatEstimate(interval).build());
    heartbeats = beating;
    if (!state.compareAndSet(State.NEW, State.RUNNING)) {
      beating.close();
      joined.close(Duration.ZERO);
      started.abort();
      throw new IllegalStateException("node was closed while starting");
    }
    try {
      maintenance.start(antiEntropyInterval);
    } catch (java.util.concurrent.RejectedExecutionException closedMeanwhile) {
      throw new IllegalStateException("node was closed while starting", closedMeanwhile);
    }
    started.markServing();
    started.logServing(self, joined.ring().nodes());
    return this;
  }

  /**
   * For tests: drops every near-cache invalidation this node would send, as a lossy network would.
   */
  void dropNearCacheInvalidations(boolean drop) {
    runningCluster().replicator().dropNearInvalidationsTo = peer -> drop;
  }

  /** The peer authentication of a running node with a cluster secret; for tests. */
  @Nullable PeerAuthentication authentication() {
    NodeServer running = server;
    return running == null ? null : running.authentication();
  }

  /** Runs the periodic pass now, on the caller's thread; for tests. */
  void maintainNow() {
    maintenance.runNow();
  }

  /** Returns the writes, clears and near-cache invalidations queued for peers (hints included). */
  public long replicationBacklog() {
    return runningCluster().replicator().backlog();
  }

  /**
   * Returns how many entries rebalancing has handed to new holders since the node started: it rises
   * after each membership change while keys stream to the members that now hold them.
   */
  public long handedOffEntries() {
    return caches.values().stream().mapToLong(DefaultDistributedCache::handedOffCount).sum();
  }

  /** Returns the peers the failure detector currently suspects (out of the ring), sorted. */
  public Set<String> suspectedPeers() {
    return runningCluster().suspectedPeers();
  }

  private String selfOrPending() {
    String self = address;
    return self == null ? listenHost + ":" + requestedPort : self;
  }

  /**
   * Returns this node's address as it appears on the ring, "host:port" with the bound port.
   *
   * @throws IllegalStateException if the node was not started
   */
  public String address() {
    String self = address;
    checkState(self != null, "node has no address until start()");
    return self;
  }

  /**
   * Makes {@code peers} plus this node the members of the ring, for example after a discovery
   * service reported a change. Keys whose owner changed are read from their new owner from now on
   * (loading them there on a first miss); peers no longer listed are disconnected.
   *
   * @throws IllegalArgumentException if an address is malformed (nothing changes then)
   * @throws IllegalStateException if the node is not running
   */
  public void setPeers(Collection<String> peers) {
    requireNonNull(peers, "peers");
    runningCluster().setPeers(List.copyOf(peers));
  }

  /** Returns the current ring: its members are the peers and this node. */
  public HashRing ring() {
    return runningCluster().ring();
  }

  /** Returns the addresses of the other members (not this node), sorted. */
  public Set<String> peers() {
    return runningCluster().peers();
  }

  /**
   * Returns the peers this node currently considers reachable (a subset of {@link #peers()}): those
   * whose last call did not fail for want of a connection.
   */
  public Set<String> reachablePeers() {
    return runningCluster().reachablePeers();
  }

  /** Returns the caches defined on this node, in no particular order. */
  public java.util.Collection<DistributedCache<?, ?>> caches() {
    return List.copyOf(caches.values());
  }

  /** Whether the node is started and not closed. */
  public boolean isRunning() {
    return state.get() == State.RUNNING;
  }

  /**
   * Returns the cache named {@code name}, defining it with {@code config} on the first call. Later
   * calls with an equal configuration return the same instance.
   *
   * @throws IllegalArgumentException if {@code name} is blank or longer than 256 characters
   * @throws IllegalStateException if a cache of that name exists with a different configuration, or
   *     the node is closed
   */
  @SuppressWarnings("unchecked")
  public <K, V> DistributedCache<K, V> cache(String name, CacheConfig<K, V> config) {
    requireNonNull(name, "name");
    requireNonNull(config, "config");
    checkArgument(!name.isBlank(), "cache name must not be blank");
    checkArgument(
        name.length() <= 256, "cache name must be at most 256 characters, got %s", name.length());
    checkState(state.get() != State.CLOSED, "node is closed; caches cannot be defined on it");
    DefaultDistributedCache<?, ?> cache =
        caches.computeIfAbsent(
            name,
            n ->
                new DefaultDistributedCache<>(
                    n, config, this::runningCluster, ownedExecutor, maxBatchBytes));
    checkState(
        cache.config().equals(config),
        "cache '%s' is already defined with %s; a name can have only one configuration (reuse the"
            + " DistributedCache returned the first time)",
        name,
        cache.config());
    return (DistributedCache<K, V>) cache;
  }

  /**
   * Stops serving, flushes queued replication to reachable peers, closes the channels to the peers
   * and drops this node's shards, in at most five seconds in all (calls in progress and the flush
   * get what is left of them). Idempotent; safe to call from any thread, also while another thread
   * is in {@link #start()}.
   */
  @Override
  public void close() {
    State previous = state.getAndSet(State.CLOSED);
    if (previous == State.CLOSED) {
      return;
    }
    new NodeShutdown(server, cluster, heartbeats, maintenance, ownedExecutor, virtualNodes)
        .run(CLOSE_GRACE, previous == State.RUNNING, caches.values());
    caches.values().forEach(DefaultDistributedCache::clear);
    if (previous == State.RUNNING) {
      logger.log(Level.INFO, "Shardcache node {0} closed", address);
    }
  }

  private Cluster runningCluster() {
    Cluster joined = cluster;
    checkState(
        joined != null && state.get() == State.RUNNING,
        "node is not running; call start() first (a closed node cannot be restarted)");
    return joined;
  }

  @Override
  public String toString() {
    return "ShardcacheNode{" + selfOrPending() + ", " + state.get() + "}";
  }

  /**
   * Builds a {@link ShardcacheNode}. Each setting may be set once; setting it again throws {@link
   * IllegalStateException} naming the value already set. Not thread-safe.
   */
  public static final class Builder {
    private @Nullable String host;
    private int port = -1;
    private @Nullable String advertiseHost;
    private int advertisePort;
    private @Nullable List<String> peers;
    private int virtualNodes = -1;
    private Ticker ticker = Ticker.systemTicker();
    private @Nullable Duration heartbeatInterval;
    private @Nullable Duration antiEntropyInterval;
    private @Nullable Duration maxClockSkew;
    private @Nullable PeerTls tls;
    private byte @Nullable [] clusterSecret;
    private int maxConcurrentCallsPerPeer = DEFAULT_MAX_CONCURRENT_CALLS_PER_PEER;
    private int maxInboundMessageBytes = MAX_MESSAGE_BYTES;
    private int maxBatchBytes = -1;
    private int maxConcurrentLoads = DEFAULT_MAX_CONCURRENT_LOADS;

    private Builder() {}

    /**
     * Secures peer connections with TLS (mutual TLS unless {@code tls} says otherwise). Every
     * member must use TLS with certificates its peers trust. Without this the node serves
     * plaintext, which it logs as a warning at start: fine on a laptop, not on a shared network.
     */
    public Builder tls(PeerTls tls) {
      requireNonNull(tls, "tls");
      checkState(this.tls == null, "tls was already set to %s", this.tls);
      this.tls = tls;
      return this;
    }

    /**
     * Authenticates peers by a secret every member shares: each call carries an HMAC-SHA256 token
     * of it, and calls without a valid token are refused with {@code UNAUTHENTICATED} (counted and
     * logged, at most once per 10 s). Use it with TLS wherever traffic could be observed. The array
     * is copied.
     *
     * @throws IllegalArgumentException if the secret is shorter than 16 bytes
     */
    public Builder clusterSecret(byte[] secret) {
      requireNonNull(secret, "secret");
      checkState(clusterSecret == null, "clusterSecret was already set");
      checkArgument(
          secret.length >= 16,
          "clusterSecret must be at least 16 bytes (128 bits), got %s; generate it randomly",
          secret.length);
      this.clusterSecret = secret.clone();
      return this;
    }

    /**
     * Bounds the calls in progress from one host (and on one connection) to {@code max} (default
     * {@value ShardcacheNode#DEFAULT_MAX_CONCURRENT_CALLS_PER_PEER}); further calls are refused
     * with {@code RESOURCE_EXHAUSTED} until some finish.
     *
     * @throws IllegalArgumentException if not in [1, 100000]
     */
    public Builder maxConcurrentCallsPerPeer(int max) {
      checkArgument(
          max >= 1 && max <= 100_000,
          "maxConcurrentCallsPerPeer must be in [1, 100000], got %s",
          max);
      this.maxConcurrentCallsPerPeer = max;
      return this;
    }

    /**
     * Bounds the loads (loader calls, and the fetches of copies before them) running at once on
     * this node to {@code max} threads (default {@value
     * ShardcacheNode#DEFAULT_MAX_CONCURRENT_LOADS}), with 16 times as many waiting; past that a
     * read that must load fails with a {@link ShardcacheException} naming this limit (a peer's
     * request with {@code RESOURCE_EXHAUSTED}). A load whose every caller has gone before it starts
     * is skipped.
     *
     * @throws IllegalArgumentException if not in [1, 10000]
     */
    public Builder maxConcurrentLoads(int max) {
      checkArgument(
          max >= 1 && max <= 10_000, "maxConcurrentLoads must be in [1, 10000], got %s", max);
      this.maxConcurrentLoads = max;
      return this;
    }

    /**
     * Bounds the size of one incoming message (default 64 MiB); a larger one is refused with {@code
     * RESOURCE_EXHAUSTED} without being buffered whole. The messages this node builds from many
     * entries stay below it: see {@link #maxBatchBytes}.
     *
     * @throws IllegalArgumentException if not in [64 KiB, 64 MiB]
     */
    public Builder maxInboundMessageBytes(int max) {
      checkArgument(
          max >= 64 * 1024 && max <= MAX_MESSAGE_BYTES,
          "maxInboundMessageBytes must be in [65536, %s], got %s",
          MAX_MESSAGE_BYTES,
          max);
      this.maxInboundMessageBytes = max;
      return this;
    }

    /**
     * Bounds the messages this node builds from many entries: each hand-off chunk it sends after a
     * membership change (and before it leaves), and each page of its answers to a peer's
     * anti-entropy digest, is at most {@code max} bytes serialized; an entry larger than that on
     * its own travels alone. Default: {@value ShardcacheNode#DEFAULT_MAX_BATCH_BYTES} bytes, or
     * half of {@link #maxInboundMessageBytes} if that is less. Keep it below the {@code
     * maxInboundMessageBytes} of every member (ideally the same settings everywhere): a chunk over
     * a peer's limit is split until it fits, which costs calls.
     *
     * @throws IllegalArgumentException if not in [16 KiB, 64 MiB)
     * @throws IllegalStateException if already set; and at {@link #build()}, if not below {@link
     *     #maxInboundMessageBytes}
     */
    public Builder maxBatchBytes(int max) {
      checkState(maxBatchBytes == -1, "maxBatchBytes was already set to %s", maxBatchBytes);
      checkArgument(
          max >= MIN_BATCH_BYTES && max < MAX_MESSAGE_BYTES,
          "maxBatchBytes must be in [%s, %s), got %s",
          MIN_BATCH_BYTES,
          MAX_MESSAGE_BYTES,
          max);
      this.maxBatchBytes = max;
      return this;
    }

    /**
     * Sets how often this node pings each peer (default 500 ms). A peer that stops answering is
     * suspected by a phi-accrual failure detector after a few missed intervals (about 2 s with the
     * default) and leaves the ring until it answers again.
     *
     * @throws IllegalArgumentException if not in [10 ms, 1 min]
     */
    public Builder heartbeatInterval(Duration interval) {
      requireNonNull(interval, "interval");
      checkState(
          heartbeatInterval == null, "heartbeatInterval was already set to %s", heartbeatInterval);
      checkRange(
          interval,
          Duration.ofMillis(10),
          Duration.ofMinutes(1),
          "heartbeatInterval",
          "[10 ms, 1 min]");
      this.heartbeatInterval = interval;
      return this;
    }

    /**
     * Sets how far ahead of this node's clock a peer's version may be stamped (default {@code 1
     * s}). A write, replicated copy or clear stamped later than that is refused with {@code
     * INVALID_ARGUMENT}, counted and logged: accepted, a clock that stepped forward (or a forged
     * message) would win over every later write until real time caught up. Keep members' clocks
     * synchronized (NTP) well within this bound; every member should use the same value.
     *
     * @throws IllegalArgumentException if not in [10 ms, 1 h]
     */
    public Builder maxClockSkew(Duration skew) {
      requireNonNull(skew, "skew");
      checkState(maxClockSkew == null, "maxClockSkew was already set to %s", maxClockSkew);
      checkRange(skew, Duration.ofMillis(10), Duration.ofHours(1), "maxClockSkew", "[10 ms, 1 h]");
      this.maxClockSkew = skew;
      return this;
    }

    /**
     * Sets how often replicas compare digests of the keys they share and exchange what differs
     * (default 30 s), and how often entries that landed on the wrong node are handed off. Only
     * caches with a replication factor above 1 run anti-entropy.
     *
     * @throws IllegalArgumentException if not in [10 ms, 1 h]
     */
    public Builder antiEntropyInterval(Duration interval) {
      requireNonNull(interval, "interval");
      checkState(
          antiEntropyInterval == null,
          "antiEntropyInterval was already set to %s",
          antiEntropyInterval);
      checkRange(
          interval,
          Duration.ofMillis(10),
          Duration.ofHours(1),
          "antiEntropyInterval",
          "[10 ms, 1 h]");
      this.antiEntropyInterval = interval;
      return this;
    }

    /**
     * Listens on {@code host}:{@code port}; port 0 picks a free port (read it back with {@link
     * #address()} after start). Required. A wildcard host ("0.0.0.0", "::") also needs {@link
     * #advertiseHost}.
     *
     * @throws IllegalArgumentException if the port is outside [0, 65535] or the host is blank
     */
    public Builder listen(String host, int port) {
      requireNonNull(host, "host");
      checkState(
          this.host == null, "listen address was already set to %s:%s", this.host, this.port);
      checkArgument(
          !host.isBlank(), "listen host must not be blank; use 127.0.0.1 for a local node");
      checkArgument(port >= 0 && port <= 65_535, "listen port must be in [0, 65535], got %s", port);
      this.host = host.trim();
      this.port = port;
      return this;
    }

    /**
     * Sets the host peers use to reach this node, when it differs from the listen host (such as a
     * pod IP while listening on 0.0.0.0). The ring names this node {@code advertiseHost:port}.
     */
    public Builder advertiseHost(String host) {
      requireNonNull(host, "host");
      checkState(advertiseHost == null, "advertiseHost was already set to %s", advertiseHost);
      checkArgument(!host.isBlank(), "advertiseHost must not be blank");
      this.advertiseHost = host.trim();
      return this;
    }

    /**
     * Sets the port peers use to reach this node, when it differs from the bound port (a port
     * forwarded by NAT, a container runtime or a proxy). The ring names this node {@code
     * host:advertisePort}.
     *
     * @throws IllegalArgumentException if outside [1, 65535]
     */
    public Builder advertisePort(int port) {
      checkState(advertisePort == 0, "advertisePort was already set to %s", advertisePort);
      checkArgument(
          port >= 1 && port <= 65_535, "advertisePort must be in [1, 65535], got %s", port);
      this.advertisePort = port;
      return this;
    }

    /**
     * Sets the initial members other than this node, as "host:port"; the list may include this
     * node's own address. Omit it to start a node alone, and add peers later with {@link
     * ShardcacheNode#setPeers}.
     *
     * @throws IllegalArgumentException if the list is empty or an address is malformed
     */
    public Builder peers(Collection<String> peers) {
      requireNonNull(peers, "peers");
      checkState(this.peers == null, "peers were already set to %s", this.peers);
      checkArgument(
          !peers.isEmpty(),
          "peers must not be empty; omit peers(...) to start a single node and add members later"
              + " with setPeers");
      for (String peer : peers) {
        HostPort.parse(requireNonNull(peer, "peers must not contain null"));
      }
      this.peers = List.copyOf(peers);
      return this;
    }

    /**
     * Sets the virtual nodes per member (default {@value HashRing#DEFAULT_VIRTUAL_NODES}). Every
     * member must use the same number, or nodes disagree about owners.
     *
     * @throws IllegalArgumentException if outside [1, 10000]
     */
    public Builder virtualNodes(int virtualNodes) {
      checkState(this.virtualNodes == -1, "virtualNodes was already set to %s", this.virtualNodes);
      checkArgument(
          virtualNodes >= 1 && virtualNodes <= 10_000,
          "virtualNodes must be in [1, 10000], got %s",
          virtualNodes);
      this.virtualNodes = virtualNodes;
      return this;
    }

    /** Replaces the clock used for peer back-off; for tests. */
    Builder ticker(Ticker ticker) {
      this.ticker = requireNonNull(ticker, "ticker");
      return this;
    }

    /**
     * Returns the node, not yet started.
     *
     * @throws IllegalStateException if {@link #listen} was not called, the listen host is a
     *     wildcard without {@link #advertiseHost}, or {@link #maxBatchBytes} is not below {@link
     *     #maxInboundMessageBytes}
     */
    public ShardcacheNode build() {
      checkState(
          host != null,
          "listen(host, port) is required; use listen(\"127.0.0.1\", 0) for a local node");
      if (advertiseHost == null && HostPort.isWildcard(host)) {
        throw new IllegalStateException(
            "listening on "
                + host
                + " (all interfaces) needs"
                + " advertiseHost(...): the address peers use to reach this node");
      }
      if (virtualNodes == -1) {
        virtualNodes = HashRing.DEFAULT_VIRTUAL_NODES;
      }
      if (maxBatchBytes == -1) {
        maxBatchBytes = Math.min(DEFAULT_MAX_BATCH_BYTES, maxInboundMessageBytes / 2);
      } else if (maxBatchBytes >= maxInboundMessageBytes) {
        throw new IllegalStateException(
            "maxBatchBytes ("
                + maxBatchBytes
                + ") must be below maxInboundMessageBytes ("
                + maxInboundMessageBytes
                + "), or peers with the same settings refuse every full chunk: lower maxBatchBytes"
                + " (half of maxInboundMessageBytes is a good value) or raise"
                + " maxInboundMessageBytes on every member");
      }
      return new ShardcacheNode(this);
    }

    private static void checkRange(
        Duration value, Duration min, Duration max, String setting, String range) {
      checkArgument(
          value.compareTo(min) >= 0 && value.compareTo(max) <= 0,
          "%s must be in %s, got %s",
          setting,
          range,
          value);
    }
  }
}
