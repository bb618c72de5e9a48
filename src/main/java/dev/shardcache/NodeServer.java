package dev.shardcache;

import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * The serving half of a node, assembled: transport security, the cluster-secret check, the call
 * limiter, the peer service and the standard health service on one Netty server bound to the node's
 * port, calls served on the threads {@link ServingExecutors} picks (at most {@code handlerThreads}
 * of the {@link HandlerPool}, past which a call is refused). {@link #close} stops it in order:
 * health reports NOT_SERVING, calls in progress get a grace period, then the rest is cut and the
 * certificates' reloader stops.
 *
 * <p>Thread-safe once started.
 */
final class NodeServer implements AutoCloseable {
  /** The settings the server is built from. */
  @SuppressWarnings("ArrayRecordComponent") // settings are never compared or hashed
  record Settings(
      String host,
      int port,
      @Nullable PeerTls tls,
      byte @Nullable [] clusterSecret,
      int maxConcurrentCallsPerPeer,
      int maxInboundMessageBytes,
      int maxMetadataBytes,
      int handlerThreads,
      int maxNonces) {}

  private final Server server;
  private final HandlerPool handlers;
  private final TransportSecurity security;
  private final @Nullable PeerAuthentication authentication;
  private final HealthStatusManager health;

  private NodeServer(
      Server server,
      HandlerPool handlers,
      TransportSecurity security,
      @Nullable PeerAuthentication authentication,
      HealthStatusManager health) {
    this.server = server;
    this.handlers = handlers;
    this.security = security;
    this.authentication = authentication;
    this.health = health;
  }

  /**
   * Binds and starts the server.
   *
   * @throws IOException if the certificates cannot be loaded or the address cannot be bound
   */
  static NodeServer start(
      Settings settings, PeerService service, CallLimiter limiter, HealthStatusManager health)
      throws IOException {
    InetSocketAddress bindAddress = new InetSocketAddress(settings.host(), settings.port());
    if (bindAddress.isUnresolved()) {
      throw new IOException("cannot resolve listen host '" + settings.host() + "'");
    }
    TransportSecurity security = TransportSecurity.forNode(settings.tls());
    byte[] secret = settings.clusterSecret();
    PeerAuthentication auth =
        secret == null
            ? null
            : new PeerAuthentication(secret, System::currentTimeMillis, settings.maxNonces());
    HandlerPool handlers = new HandlerPool(settings.handlerThreads());
    List<ServerInterceptor> interceptors = new ArrayList<>();
    interceptors.add(limiter);
    // Before the limiter and the service; after the token check, which is cheap and lets a
    // refusal prove the secret (a caller takes an unproven answer for an impostor: a peer down).
    interceptors.add(handlers.refusals());
    if (auth != null) {
      interceptors.add(auth.serverInterceptor()); // runs first: interceptors wrap outward
    }
    Server server =
        NettyServerBuilder.forAddress(bindAddress, security.serverCredentials())
            // Method lookup on the transport thread; then a Get, a Ping or a health check stays
            // there and every other call moves to the handler pool (ServingExecutors says why), or
            // is refused there when the pool is full.
            .directExecutor()
            .callExecutor(new ServingExecutors(handlers))
            .maxInboundMessageSize(settings.maxInboundMessageBytes())
            .maxInboundMetadataSize(settings.maxMetadataBytes())
            .maxConcurrentCallsPerConnection(settings.maxConcurrentCallsPerPeer())
            .addService(ServerInterceptors.intercept(service, interceptors))
            .addService(health.getHealthService())
            .build();
    try {
      server.start();
    } catch (IOException e) {
      security.close();
      handlers.shutdownNow();
      throw new IOException(
          "cannot listen on "
              + settings.host()
              + ":"
              + settings.port()
              + ": "
              + e.getMessage()
              + (settings.port() == 0 ? "" : "; is another process using the port?"),
          e);
    }
    return new NodeServer(server, handlers, security, auth, health);
  }

  /** The port the server is bound to. */
  int port() {
    return ((InetSocketAddress) server.getListenSockets().get(0)).getPort();
  }

  TransportSecurity security() {
    return security;
  }

  @Nullable PeerAuthentication authentication() {
    return authentication;
  }

  /** Logs that the node serves: a warning without TLS, which is fine only on a laptop. */
  void logServing(String self, List<String> members) {
    java.util.logging.Logger.getLogger(ShardcacheNode.class.getName())
        .log(
            security.isTls() ? java.util.logging.Level.INFO : java.util.logging.Level.WARNING,
            "Shardcache node {0} serving over {1}, {2}, with members {3}",
            new Object[] {
              self,
              security.describe(),
              authentication == null
                  ? "without peer authentication"
                  : "with cluster-secret peer authentication",
              members
            });
  }

  /** Reports SERVING for the node and its peer service. */
  void markServing() {
    health.setStatus("", ServingStatus.SERVING);
    health.setStatus(ShardcacheNode.PEER_SERVICE, ServingStatus.SERVING);
  }

  /** Stops accepting calls at once, without waiting: start() failed half-way. */
  void abort() {
    server.shutdownNow();
    handlers.shutdownNow();
    security.close();
  }

  /** Reports NOT_SERVING and stops accepting new calls; calls in progress go on. */
  void beginShutdown() {
    health.enterTerminalState();
    server.shutdown();
  }

  /**
   * Waits up to {@code grace} for calls in progress, then cuts the rest, and stops the certificate
   * reloader.
   */
  void awaitShutdown(Duration grace) throws InterruptedException {
    try {
      if (!server.awaitTermination(grace.toNanos(), TimeUnit.NANOSECONDS)) {
        server.shutdownNow();
        server.awaitTermination(1, TimeUnit.SECONDS);
      }
    } finally {
      handlers.shutdownNow();
      security.close();
    }
  }

  @Override
  public void close() {
    beginShutdown();
    try {
      awaitShutdown(Duration.ofSeconds(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      server.shutdownNow();
    }
  }
}
