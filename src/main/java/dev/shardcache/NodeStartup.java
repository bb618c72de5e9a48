package dev.shardcache;

import dev.shardcache.membership.PhiAccrualFailureDetector;
import dev.shardcache.ring.HashRing;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

/**
 * The assembly of a node, the counterpart of {@link NodeShutdown}: bind the server, name this node
 * on the ring (the advertised host and port where given, else the listen host and the bound port),
 * tell the peer authentication that name, join the ring with a channel to each peer, and start the
 * heartbeats. It holds what only starting needs: the node's settings, and the call limiter and
 * health service the server is built with.
 *
 * <p>Its promise: {@link #start} either returns every part it started, as one {@link Started}, or
 * throws leaving no port bound (a failed bind cleans up after itself, and a failure to join the
 * ring stops the bound server). Publishing the parts, and marking the node serving only once it is
 * RUNNING, stay with {@link ShardcacheNode#start()}, which owns the node's state.
 *
 * <p>Not thread-safe: run once, by {@link ShardcacheNode#start()}. Blocks while binding the port.
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

  NodeStartup(NodeSettings settings) {
    this.settings = settings;
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

  /** The address a node answers with before it has bound its port: "listenHost:requestedPort". */
  String pendingAddress() {
    return settings.listenHost() + ":" + settings.listenPort();
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
              settings.maxInboundMessageBytes());
    } catch (RuntimeException e) {
      server.abort();
      throw e;
    }
    Duration interval = settings.heartbeatInterval();
    Heartbeats heartbeats =
        new Heartbeats(
            runningCluster,
            interval,
            () -> PhiAccrualFailureDetector.builder().firstHeartbeatEstimate(interval).build());
    return new Started(self, server, cluster, heartbeats);
  }

  /**
   * The parts of a started node: what {@link NodeShutdown} stops. {@code address} is this node's
   * name on the ring. Immutable; the parts themselves are thread-safe.
   */
  record Started(String address, NodeServer server, Cluster cluster, Heartbeats heartbeats) {
    /** Stops every part at once, for a node closed while it was starting. */
    void abort() {
      heartbeats.close();
      cluster.close(Duration.ZERO);
      server.abort();
    }

    /** Turns health to {@code SERVING} and logs the node's address, members and transport. */
    void announce() {
      server.markServing();
      server.logServing(address, cluster.ring().nodes());
    }
  }
}
