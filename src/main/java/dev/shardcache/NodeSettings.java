package dev.shardcache;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;
import static dev.shardcache.ShardcacheNode.DEFAULT_ANTI_ENTROPY_INTERVAL;
import static dev.shardcache.ShardcacheNode.DEFAULT_HANDLER_THREADS;
import static dev.shardcache.ShardcacheNode.DEFAULT_HEARTBEAT_INTERVAL;
import static dev.shardcache.ShardcacheNode.DEFAULT_MAX_BATCH_BYTES;
import static dev.shardcache.ShardcacheNode.DEFAULT_MAX_CLOCK_SKEW;
import static dev.shardcache.ShardcacheNode.DEFAULT_MAX_CONCURRENT_CALLS_PER_PEER;
import static dev.shardcache.ShardcacheNode.DEFAULT_MAX_CONCURRENT_LOADS;
import static dev.shardcache.ShardcacheNode.DEFAULT_MAX_NONCES;
import static dev.shardcache.ShardcacheNode.DEFAULT_MAX_SUBSCRIBED_CLIENTS;
import static dev.shardcache.ShardcacheNode.MAX_MESSAGE_BYTES;
import static dev.shardcache.ShardcacheNode.MIN_BATCH_BYTES;
import static java.util.Objects.requireNonNull;

import com.google.common.base.Ticker;
import dev.shardcache.ring.HashRing;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The settings a {@link ShardcacheNode} is built from, every default filled in: a value made by
 * {@link Draft#build()} and read by the node and by {@link NodeStartup}, immutable (nothing writes
 * the secret's array, which the draft copied when it was set).
 *
 * <p>{@code advertiseHost} is null when peers reach the node at its listen host, and {@code
 * advertisePort} 0 when they reach it at the bound port; {@code peers} is empty for a node that
 * starts alone. A {@code clientOnly} node listens nowhere: its {@code listenHost} is empty and its
 * {@code listenPort} -1, and its {@code peers} are never empty.
 */
@SuppressWarnings("ArrayRecordComponent") // never compared or hashed; Draft copied the secret
record NodeSettings(
    String listenHost,
    int listenPort,
    @Nullable String advertiseHost,
    int advertisePort,
    List<String> peers,
    int virtualNodes,
    Ticker ticker,
    Duration heartbeatInterval,
    Duration antiEntropyInterval,
    Duration maxClockSkew,
    @Nullable PeerTls tls,
    byte @Nullable [] clusterSecret,
    int maxConcurrentCallsPerPeer,
    int maxInboundMessageBytes,
    int maxConcurrentLoads,
    ReplicationLimits replicationLimits,
    int maxBatchBytes,
    int handlerThreads,
    int maxNonces,
    boolean clientOnly,
    int maxSubscribedClients) {

  /**
   * The settings of a node being built, and their rules; the state behind {@link
   * ShardcacheNode.Builder}, whose Javadoc states each rule to users. A setting is checked when it
   * is set, and a refused one is left as it was: null throws {@link NullPointerException} naming
   * the parameter, a second setting of a set-once setting {@link IllegalStateException} naming the
   * value already set, a value out of range {@link IllegalArgumentException} naming the range. The
   * limits ({@code maxConcurrentCallsPerPeer}, {@code maxConcurrentLoads}, {@code handlerThreads},
   * {@code maxNonces}, {@code maxInboundMessageBytes}) and the ticker may be set again; the last
   * value holds. Settings that contradict each other (a client-only node given a listen address)
   * are refused by {@link #build()}, which sees them all, whatever order they were set in. Not
   * thread-safe.
   */
  static final class Draft {
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
    private int maxConcurrentLoads = DEFAULT_MAX_CONCURRENT_LOADS;
    private int handlerThreads = DEFAULT_HANDLER_THREADS;
    private int maxNonces = DEFAULT_MAX_NONCES;
    private int maxBatchBytes = -1;
    private long maxHintBytesPerPeer = -1;
    private long maxHintBytes = -1;
    private boolean clientOnly;
    private int maxSubscribedClients = -1;

    void clientOnly() {
      checkState(!clientOnly, "clientOnly was already set");
      this.clientOnly = true;
    }

    void maxSubscribedClients(int max) {
      checkState(
          maxSubscribedClients == -1,
          "maxSubscribedClients was already set to %s",
          maxSubscribedClients);
      checkArgument(
          max >= 0 && max <= 100_000, "maxSubscribedClients must be in [0, 100000], got %s", max);
      this.maxSubscribedClients = max;
    }

    void tls(PeerTls tls) {
      requireNonNull(tls, "tls");
      checkState(this.tls == null, "tls was already set to %s", this.tls);
      this.tls = tls;
    }

    void clusterSecret(byte[] secret) {
      requireNonNull(secret, "secret");
      checkState(clusterSecret == null, "clusterSecret was already set");
      checkArgument(
          secret.length >= 16,
          "clusterSecret must be at least 16 bytes (128 bits), got %s; generate it randomly",
          secret.length);
      this.clusterSecret = secret.clone();
    }

    void maxConcurrentCallsPerPeer(int max) {
      checkArgument(
          max >= 1 && max <= 100_000,
          "maxConcurrentCallsPerPeer must be in [1, 100000], got %s",
          max);
      this.maxConcurrentCallsPerPeer = max;
    }

    void maxConcurrentLoads(int max) {
      checkArgument(
          max >= 1 && max <= 10_000, "maxConcurrentLoads must be in [1, 10000], got %s", max);
      this.maxConcurrentLoads = max;
    }

    void handlerThreads(int threads) {
      checkArgument(
          threads >= 1 && threads <= 10_000,
          "handlerThreads must be in [1, 10000], got %s",
          threads);
      this.handlerThreads = threads;
    }

    void maxNonces(int max) {
      checkArgument(
          max >= 1_000 && max <= 50_000_000, "maxNonces must be in [1000, 50000000], got %s", max);
      this.maxNonces = max;
    }

    void maxBatchBytes(int max) {
      checkState(maxBatchBytes == -1, "maxBatchBytes was already set to %s", maxBatchBytes);
      checkArgument(
          max >= MIN_BATCH_BYTES && max < MAX_MESSAGE_BYTES,
          "maxBatchBytes must be in [%s, %s), got %s",
          MIN_BATCH_BYTES,
          MAX_MESSAGE_BYTES,
          max);
      this.maxBatchBytes = max;
    }

    void maxHintBytesPerPeer(long max) {
      checkState(
          maxHintBytesPerPeer == -1,
          "maxHintBytesPerPeer was already set to %s",
          maxHintBytesPerPeer);
      checkArgument(
          max >= 64 * 1024 && max <= 1L << 40,
          "maxHintBytesPerPeer must be in [65536, 2^40], got %s",
          max);
      this.maxHintBytesPerPeer = max;
    }

    void maxHintBytes(long max) {
      checkState(maxHintBytes == -1, "maxHintBytes was already set to %s", maxHintBytes);
      checkArgument(
          max >= 64 * 1024 && max <= 1L << 40,
          "maxHintBytes must be in [65536, 2^40], got %s",
          max);
      this.maxHintBytes = max;
    }

    void maxInboundMessageBytes(int max) {
      checkArgument(
          max >= 64 * 1024 && max <= MAX_MESSAGE_BYTES,
          "maxInboundMessageBytes must be in [65536, %s], got %s",
          MAX_MESSAGE_BYTES,
          max);
      this.maxInboundMessageBytes = max;
    }

    void heartbeatInterval(Duration interval) {
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
    }

    void maxClockSkew(Duration skew) {
      requireNonNull(skew, "skew");
      checkState(maxClockSkew == null, "maxClockSkew was already set to %s", maxClockSkew);
      checkRange(skew, Duration.ofMillis(10), Duration.ofHours(1), "maxClockSkew", "[10 ms, 1 h]");
      this.maxClockSkew = skew;
    }

    void antiEntropyInterval(Duration interval) {
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
    }

    void listen(String host, int port) {
      requireNonNull(host, "host");
      checkState(
          this.host == null, "listen address was already set to %s:%s", this.host, this.port);
      checkArgument(
          !host.isBlank(), "listen host must not be blank; use 127.0.0.1 for a local node");
      checkArgument(port >= 0 && port <= 65_535, "listen port must be in [0, 65535], got %s", port);
      this.host = host.trim();
      this.port = port;
    }

    void advertiseHost(String host) {
      requireNonNull(host, "host");
      checkState(advertiseHost == null, "advertiseHost was already set to %s", advertiseHost);
      checkArgument(!host.isBlank(), "advertiseHost must not be blank");
      this.advertiseHost = host.trim();
    }

    void advertisePort(int port) {
      checkState(advertisePort == 0, "advertisePort was already set to %s", advertisePort);
      checkArgument(
          port >= 1 && port <= 65_535, "advertisePort must be in [1, 65535], got %s", port);
      this.advertisePort = port;
    }

    void peers(Collection<String> peers) {
      requireNonNull(peers, "peers");
      checkState(this.peers == null, "peers were already set to %s", this.peers);
      checkArgument(
          !peers.isEmpty(),
          "peers must not be empty; omit peers(...) to start a single node and add members later"
              + " with setPeers (a client-only node needs at least one member)");
      for (String peer : peers) {
        HostPort.parse(requireNonNull(peer, "peers must not contain null"));
      }
      this.peers = List.copyOf(peers);
    }

    void virtualNodes(int virtualNodes) {
      checkState(this.virtualNodes == -1, "virtualNodes was already set to %s", this.virtualNodes);
      checkArgument(
          virtualNodes >= 1 && virtualNodes <= 10_000,
          "virtualNodes must be in [1, 10000], got %s",
          virtualNodes);
      this.virtualNodes = virtualNodes;
    }

    void ticker(Ticker ticker) {
      this.ticker = requireNonNull(ticker, "ticker");
    }

    /**
     * Returns the settings, every default filled in. The draft may build again; once it has built,
     * the default number of virtual nodes counts as set.
     *
     * @throws IllegalStateException if {@link #listen} was not called, the listen host is a
     *     wildcard without {@link #advertiseHost}, {@code maxBatchBytes} is not below {@code
     *     maxInboundMessageBytes}, the hint budgets contradict each other (see {@link
     *     ReplicationLimits#forNode}), or a client-only node was given what only a listening member
     *     uses (see {@link #checkClientOnly})
     */
    NodeSettings build() {
      if (clientOnly) {
        checkClientOnly();
      }
      String listenHost = clientOnly ? "" : host;
      checkState(
          listenHost != null,
          "listen(host, port) is required; use listen(\"127.0.0.1\", 0) for a local node, or"
              + " clientOnly() for a node that holds no shard and only calls the members");
      if (!clientOnly && advertiseHost == null && HostPort.isWildcard(listenHost)) {
        throw new IllegalStateException(
            "listening on "
                + listenHost
                + " (all interfaces) needs"
                + " advertiseHost(...): the address peers use to reach this node");
      }
      if (virtualNodes == -1) {
        virtualNodes = HashRing.DEFAULT_VIRTUAL_NODES;
      }
      int batchBytes = maxBatchBytes;
      if (batchBytes == -1) {
        batchBytes = Math.min(DEFAULT_MAX_BATCH_BYTES, maxInboundMessageBytes / 2);
      } else if (batchBytes >= maxInboundMessageBytes) {
        throw new IllegalStateException(
            "maxBatchBytes ("
                + batchBytes
                + ") must be below maxInboundMessageBytes ("
                + maxInboundMessageBytes
                + "), or peers with the same settings refuse every full chunk: lower maxBatchBytes"
                + " (half of maxInboundMessageBytes is a good value) or raise"
                + " maxInboundMessageBytes on every member");
      }
      return new NodeSettings(
          listenHost,
          clientOnly ? -1 : port,
          advertiseHost,
          advertisePort,
          peers == null ? List.of() : peers,
          virtualNodes,
          ticker,
          heartbeatInterval == null ? DEFAULT_HEARTBEAT_INTERVAL : heartbeatInterval,
          antiEntropyInterval == null ? DEFAULT_ANTI_ENTROPY_INTERVAL : antiEntropyInterval,
          maxClockSkew == null ? DEFAULT_MAX_CLOCK_SKEW : maxClockSkew,
          tls,
          clusterSecret,
          maxConcurrentCallsPerPeer,
          maxInboundMessageBytes,
          maxConcurrentLoads,
          ReplicationLimits.forNode(batchBytes, maxHintBytesPerPeer, maxHintBytes),
          batchBytes,
          handlerThreads,
          maxNonces,
          clientOnly,
          maxSubscribedClients == -1 ? DEFAULT_MAX_SUBSCRIBED_CLIENTS : maxSubscribedClients);
    }

    /**
     * A client-only node opens no port and is on no ring, so a listen or advertised address, or a
     * bound on the clients subscribed to it, can only be a mistake; and it must know at least one
     * member to send its keys to.
     */
    private void checkClientOnly() {
      if (host != null) {
        throw new IllegalStateException(
            "a client-only node opens no port, but listen("
                + host
                + ", "
                + port
                + ") was set: remove listen(...), or remove clientOnly() to make this node a"
                + " member that holds a shard");
      }
      if (advertiseHost != null || advertisePort != 0) {
        throw new IllegalStateException(
            "a client-only node is on no ring, so nobody dials it: remove advertiseHost/"
                + "advertisePort ("
                + (advertiseHost != null ? advertiseHost : "")
                + (advertisePort != 0 ? ":" + advertisePort : "")
                + ")");
      }
      if (maxSubscribedClients != -1) {
        throw new IllegalStateException(
            "maxSubscribedClients bounds the client-only members subscribed to a member; a"
                + " client-only node serves none, so remove it");
      }
      if (peers == null) {
        throw new IllegalStateException(
            "a client-only node needs peers(...): the members it sends every read and write to,"
                + " as host:port");
      }
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
