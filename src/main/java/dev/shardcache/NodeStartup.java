package dev.shardcache;

import com.google.common.base.Ticker;
import dev.shardcache.membership.PhiAccrualFailureDetector;
import dev.shardcache.ring.HashRing;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The assembly of a node, the counterpart of {@link NodeShutdown}: bind the server, name this node
 * on the ring (the advertised host and port where given, else the listen host and the bound port),
 * tell the peer authentication that name, join the ring with a channel to each peer, and start the
 * heartbeats. It holds the settings that only starting needs, fixed when the node is built.
 *
 * <p>Its promise: {@link #start} either returns every part it started, as one {@link Started}, or
 * throws having stopped whatever it had started, so a failed start leaves no port bound and no
 * thread running. Publishing the parts, and marking the node serving only once it is RUNNING, stay
 * with {@link ShardcacheNode#start()}, which owns the node's state.
 *
 * <p>Not thread-safe: run once, by {@link ShardcacheNode#start()}. Blocks while binding the port.
 */
final class NodeStartup {
  /** The deadline of one replication batch. */
  static final Duration REPLICATION_TIMEOUT = Duration.ofSeconds(5);

  private final NodeServer.Settings serverSettings;
  private final @Nullable String advertiseHost;
  private final int advertisePort;
  private final List<String> initialPeers;
  private final int virtualNodes;
  private final Ticker ticker;
  private final Duration heartbeatInterval;
  private final Duration maxClockSkew;
  private final CallLimiter limiter;
  private final HealthStatusManager health = new HealthStatusManager();

  /**
   * Takes the settings a start needs; {@code advertisePort} 0 means the bound port, and a null
   * {@code advertiseHost} the listen host.
   */
  NodeStartup(
      NodeServer.Settings serverSettings,
      @Nullable String advertiseHost,
      int advertisePort,
      List<String> initialPeers,
      int virtualNodes,
      Ticker ticker,
      Duration heartbeatInterval,
      Duration maxClockSkew) {
    this.serverSettings = serverSettings;
    this.advertiseHost = advertiseHost;
    this.advertisePort = advertisePort;
    this.initialPeers = initialPeers;
    this.virtualNodes = virtualNodes;
    this.ticker = ticker;
    this.heartbeatInterval = heartbeatInterval;
    this.maxClockSkew = maxClockSkew;
    this.limiter = new CallLimiter(serverSettings.maxConcurrentCallsPerPeer());
  }

  /** The address a node answers with before it has bound its port: "listenHost:requestedPort". */
  String pendingAddress() {
    return serverSettings.host() + ":" + serverSettings.port();
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
    String self =
        new HostPort(
                advertiseHost != null ? advertiseHost : serverSettings.host(),
                advertisePort > 0 ? advertisePort : server.port())
            .toString();
    if (auth != null) {
      auth.identify(self); // tokens name the target they are for, and the caller
    }
    Cluster cluster;
    try {
      cluster =
          new Cluster(
              self,
              initialPeers,
              virtualNodes,
              ticker,
              REPLICATION_TIMEOUT,
              Replicator.DEFAULT_CAPACITY_PER_PEER,
              onRingChange,
              server.security().channelCredentials(),
              auth == null ? List.of() : List.of(auth.clientInterceptor()),
              maxClockSkew);
    } catch (RuntimeException e) {
      server.abort();
      throw e;
    }
    Duration interval = heartbeatInterval;
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
