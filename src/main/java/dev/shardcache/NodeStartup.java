package dev.shardcache;

import dev.shardcache.membership.PhiAccrualFailureDetector;
import dev.shardcache.ring.HashRing;
import io.grpc.ClientInterceptor;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.IOException;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The assembly of a node, the counterpart of {@link NodeShutdown}: bind the server, name this node
 * on the ring (the advertised host and port where given, else the listen host and the bound port),
 * tell the peer authentication that name, join the ring with a channel to each peer, and start the
 * heartbeats. It holds what only starting needs: the node's settings, and the call limiter and
 * health service the server is built with.
 *
 * <p>A client-only node ({@link #startClient}) binds nothing: it loads its transport security (its
 * TLS certificates serve as client certificates), signs its calls with the cluster secret as a
 * member does, under a name of its own ({@code client-<pid>-<random>}, which no member can have:
 * members are named {@code host:port}), builds a view of the members that never puts it on a ring,
 * starts the heartbeats, and makes its {@link Subscriptions}, which start once the node runs.
 *
 * <p>Its promise: {@link #start} either returns every part it started, as one {@link Started}, or
 * throws leaving no port bound (a failed bind cleans up after itself, and a failure to join the
 * ring stops the bound server); {@link #startClient} either returns its parts or throws leaving no
 * thread running. Publishing the parts, and marking the node serving only once it is RUNNING, stay
 * with {@link NodeLifecycle#start()}, which owns the node's state.
 *
 * <p>Not thread-safe: run once, by {@link NodeLifecycle#start()}. Blocks while binding the port.
 */
final class NodeStartup {
  /** The deadline of one replication batch. */
  static final Duration REPLICATION_TIMEOUT = Duration.ofSeconds(5);

  /** The most header bytes a call may carry. */
  static final int MAX_METADATA_BYTES = 16 * 1024;

  private final NodeSettings settings;
  private final NodeServer.Settings serverSettings;
  private final CallLimiter limiter;
  private final HealthStatusManager health = new HealthStatusManager();
  private final String clientName;

  NodeStartup(NodeSettings settings) {
    this.settings = settings;
    this.clientName =
        "client-"
            + ProcessHandle.current().pid()
            + "-"
            + Integer.toHexString(ThreadLocalRandom.current().nextInt() | 0x1000_0000);
    this.serverSettings =
        new NodeServer.Settings(
            settings.listenHost(),
            settings.listenPort(),
            settings.tls(),
            settings.clusterSecret(),
            settings.maxConcurrentCallsPerPeer(),
            settings.maxInboundMessageBytes(),
            MAX_METADATA_BYTES,
            settings.handlerThreads(),
            settings.maxNonces());
    this.limiter = new CallLimiter(settings.maxConcurrentCallsPerPeer());
  }

  /**
   * The address a node answers with before it has bound its port: "listenHost:requestedPort"; a
   * client-only node's name, which it keeps.
   */
  String pendingAddress() {
    return settings.clientOnly() ? clientName : settings.listenHost() + ":" + settings.listenPort();
  }

  /**
   * Binds the server and joins the ring. The server answers health checks with {@code NOT_SERVING}
   * until {@link Started#announce}; the heartbeats ask {@code runningCluster} for the cluster each
   * tick, and skip a tick while it throws {@link IllegalStateException} (the node not running yet,
   * or any more).
   *
   * @throws IOException if the address cannot be bound (such as a port already in use)
   */
  Started start(
      PeerService service,
      BiConsumer<HashRing, HashRing> onRingChange,
      Supplier<Cluster> runningCluster)
      throws IOException {
    NodeServer server = NodeServer.start(serverSettings, service, limiter, health);
    PeerAuthentication auth = server.authentication();
    String advertiseHost = settings.advertiseHost();
    String self =
        new HostPort(
                advertiseHost != null ? advertiseHost : settings.listenHost(),
                settings.advertisePort() > 0 ? settings.advertisePort() : server.port())
            .toString();
    if (auth != null) {
      auth.identify(self); // tokens name the target they are for, and the caller
    }
    Cluster cluster;
    try {
      cluster =
          new Cluster(
              self,
              settings.peers(),
              settings.virtualNodes(),
              settings.ticker(),
              REPLICATION_TIMEOUT,
              settings.replicationLimits(),
              onRingChange,
              server.security().channelCredentials(),
              auth == null ? List.of() : List.of(auth.clientInterceptor()),
              settings.maxClockSkew(),
              settings.maxInboundMessageBytes(),
              false);
    } catch (RuntimeException e) {
      server.abort();
      throw e;
    }
    return new Started(self, server, cluster, heartbeats(runningCluster), null, null);
  }

  private Heartbeats heartbeats(Supplier<Cluster> runningCluster) {
    Duration interval = settings.heartbeatInterval();
    return new Heartbeats(
        runningCluster,
        interval,
        () -> PhiAccrualFailureDetector.builder().firstHeartbeatEstimate(interval).build());
  }

  /**
   * Starts a client-only node: no server; see the class documentation. The subscriptions tell
   * {@code caches} apart by name with {@code cacheNamed}.
   *
   * @throws IOException if the TLS certificates cannot be loaded
   * @throws IllegalArgumentException if the peers name no member but this node
   */
  Started startClient(
      Supplier<Cluster> runningCluster,
      Supplier<Collection<DefaultDistributedCache<?, ?>>> caches,
      Function<String, @Nullable DefaultDistributedCache<?, ?>> cacheNamed)
      throws IOException {
    TransportSecurity security = TransportSecurity.forNode(settings.tls());
    try {
      byte[] secret = settings.clusterSecret();
      List<ClientInterceptor> interceptors = List.of();
      if (secret != null) {
        PeerAuthentication auth =
            new PeerAuthentication(secret, System::currentTimeMillis, settings.maxNonces());
        auth.identify(clientName);
        interceptors = List.of(auth.clientInterceptor());
      }
      Subscriptions subscriptions =
          new Subscriptions(clientName, runningCluster, caches, cacheNamed);
      Cluster cluster =
          new Cluster(
              clientName,
              settings.peers(),
              settings.virtualNodes(),
              settings.ticker(),
              REPLICATION_TIMEOUT,
              settings.replicationLimits(),
              (previous, next) -> subscriptions.onRingChange(),
              security.channelCredentials(),
              interceptors,
              settings.maxClockSkew(),
              settings.maxInboundMessageBytes(),
              true);
      return new Started(
          clientName, null, cluster, heartbeats(runningCluster), subscriptions, security);
    } catch (RuntimeException e) {
      security.close();
      throw e;
    }
  }

  /**
   * The parts of a started node: what {@link NodeShutdown} stops. {@code address} is this node's
   * name on the ring (a client-only node's name, on no ring). A member has a {@code server}; a
   * client-only node has {@code subscriptions} and the {@code clientSecurity} its channels use
   * instead (a member's server owns its own). Immutable; the parts themselves are thread-safe.
   */
  record Started(
      String address,
      @Nullable NodeServer server,
      Cluster cluster,
      Heartbeats heartbeats,
      @Nullable Subscriptions subscriptions,
      @Nullable TransportSecurity clientSecurity) {
    /** Stops every part at once, for a node closed while it was starting. */
    void abort() {
      heartbeats.close();
      if (subscriptions != null) {
        subscriptions.close();
      }
      cluster.close(Duration.ZERO);
      if (server != null) {
        server.abort();
      }
      if (clientSecurity != null) {
        clientSecurity.close();
      }
    }

    /**
     * Turns health to {@code SERVING} and logs the node's address, members and transport; a
     * client-only node starts its subscriptions and logs its members and transport.
     */
    void announce() {
      if (server != null) {
        server.markServing();
        server.logServing(address, cluster.ring().nodes());
      }
      if (subscriptions != null) {
        subscriptions.start();
        java.util.logging.Logger.getLogger(ShardcacheNode.class.getName())
            .log(
                clientSecurity != null && clientSecurity.isTls()
                    ? java.util.logging.Level.INFO
                    : java.util.logging.Level.WARNING,
                "Shardcache client-only node {0} calling members {1} over {2}",
                new Object[] {
                  address,
                  cluster.ring().nodes(),
                  clientSecurity == null ? "?" : clientSecurity.describe()
                });
      }
    }
  }
}
