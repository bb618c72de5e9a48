package dev.shardcache;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import com.google.common.base.Ticker;
import dev.shardcache.ring.HashRing;
import java.io.IOException;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Set;

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
 * <p><b>Client-only members.</b> A node built with {@link Builder#clientOnly()} holds no shard,
 * opens no port and is on no ring, not even its own: it sends every read and write of every key to
 * the key's holders among the members in its peer list, with the same failover, deadlines and
 * authentication as a member, and need not be in anyone's peer list. Its near caches and hot-key
 * copies are kept fresh over one {@code Subscribe} stream per member, which pushes it the keys
 * writes change (see docs/protocol.md). It suits a fleet of short-lived or small JVMs (batch jobs,
 * serverless functions) that share a cache with the members without holding part of it:
 *
 * <pre>{@code
 * ShardcacheNode client = ShardcacheNode.builder()
 *     .clientOnly()
 *     .peers(List.of("10.0.0.1:7070", "10.0.0.2:7070", "10.0.0.3:7070"))
 *     .build();
 * DistributedCache<String, String> users = client.cache("users", sameConfigAsTheMembers);
 * client.start();
 * }</pre>
 *
 * <p>This class is thread-safe.
 */
public final class ShardcacheNode implements AutoCloseable {
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

  /** The largest gRPC message a node sends or accepts: 64 MiB. */
  static final int MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

  /** The default bound of loads running at once on a node. */
  public static final int DEFAULT_MAX_CONCURRENT_LOADS = 64;

  /** The default bound of threads serving peers' calls ({@link Builder#handlerThreads}). */
  public static final int DEFAULT_HANDLER_THREADS = 512;

  /** The default {@link Builder#maxNonces}: about 80 MB when full, 6,600 calls a second. */
  public static final int DEFAULT_MAX_NONCES = 500_000;

  /** The default bound of calls in progress from one host, and on one connection. */
  public static final int DEFAULT_MAX_CONCURRENT_CALLS_PER_PEER = 256;

  /**
   * The most hint bytes queued for one peer when {@link Builder#maxHintBytesPerPeer} is not set.
   */
  public static final long DEFAULT_MAX_HINT_BYTES_PER_PEER = 32L * 1024 * 1024;

  /** The most hint bytes queued for all peers when {@link Builder#maxHintBytes} is not set. */
  public static final long DEFAULT_MAX_HINT_BYTES = 128L * 1024 * 1024;

  /**
   * The largest message a node builds from many entries (replication request, hand-off chunk,
   * anti-entropy answer page, batch-write call, getAll answer, answer to a peer's copy fetch) when
   * {@link Builder#maxBatchBytes} is not set, unless half of {@link Builder#maxInboundMessageBytes}
   * is less: 4 MiB.
   */
  public static final int DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;

  /**
   * The most client-only members subscribed to a member's invalidations at once when {@link
   * Builder#maxSubscribedClients} is not set.
   */
  public static final int DEFAULT_MAX_SUBSCRIBED_CLIENTS = 256;

  /** The smallest {@link Builder#maxBatchBytes}: 16 KiB. */
  static final int MIN_BATCH_BYTES = 16 * 1024;

  /** The service name under which the gRPC health service reports the peer service. */
  public static final String PEER_SERVICE = "shardcache.v1.PeerService";

  private final NodeSettings settings;
  private final NodeLifecycle life;

  private ShardcacheNode(NodeSettings settings) {
    this.settings = settings;
    this.life = new NodeLifecycle(settings);
  }

  /** Returns a builder of a node. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Binds the server and joins the ring; a client-only node connects to its members instead (it
   * binds nothing). Returns this node.
   *
   * @throws IOException if the address cannot be bound (such as a port already in use), or the TLS
   *     certificates cannot be loaded
   * @throws IllegalStateException if the node was already started or closed
   */
  public ShardcacheNode start() throws IOException {
    life.start();
    return this;
  }

  /** Whether this node was built {@linkplain Builder#clientOnly() client-only}. */
  public boolean isClientOnly() {
    return settings.clientOnly();
  }

  /** Returns the seams tests in this package use to reach inside this node. */
  NodeTestHooks testHooks() {
    return life.testHooks();
  }

  /** Returns the writes, clears and near-cache invalidations queued for peers (hints included). */
  public long replicationBacklog() {
    return life.runningCluster().replicator().backlog();
  }

  /**
   * Returns how many queued replica writes and invalidations this node dropped undelivered since it
   * started: over {@link Builder#maxHintBytesPerPeer} or {@link Builder#maxHintBytes}, for a peer
   * that left, or refused by a peer for good. Each cause is logged once; anti-entropy repairs the
   * replicas.
   */
  public long replicationDropped() {
    return life.runningCluster().replicator().dropped();
  }

  /**
   * Returns how many entries rebalancing has handed to new holders since the node started: it rises
   * after each membership change while keys stream to the members that now hold them.
   */
  public long handedOffEntries() {
    return life.caches().handedOffEntries();
  }

  /** Returns the peers the failure detector currently suspects (out of the ring), sorted. */
  public Set<String> suspectedPeers() {
    return life.runningCluster().suspectedPeers();
  }

  /**
   * Returns this node's address as it appears on the ring, "host:port" with the bound port. A
   * client-only node has no address and is on no ring: this returns the name it gives its calls
   * ({@code client-<pid>-<random>}), for logs.
   *
   * @throws IllegalStateException if the node was not started
   */
  public String address() {
    return life.address();
  }

  /**
   * Makes {@code peers} plus this node the members of the ring, for example after a discovery
   * service reported a change. Keys whose owner changed are read from their new owner from now on
   * (loading them there on a first miss); peers no longer listed are disconnected. On a client-only
   * node, {@code peers} alone are the members.
   *
   * @throws IllegalArgumentException if an address is malformed, or a client-only node is given no
   *     member (nothing changes then)
   * @throws IllegalStateException if the node is not running
   */
  public void setPeers(Collection<String> peers) {
    requireNonNull(peers, "peers");
    life.runningCluster().setPeers(List.copyOf(peers));
  }

  /**
   * Returns the current ring: its members are the live peers and this node (on a client-only node,
   * the live peers alone).
   */
  public HashRing ring() {
    return life.runningCluster().ring();
  }

  /** Returns the addresses of the other members (not this node), sorted. */
  public Set<String> peers() {
    return life.runningCluster().peers();
  }

  /**
   * Returns the peers this node currently considers reachable (a subset of {@link #peers()}): those
   * whose last call did not fail for want of a connection.
   */
  public Set<String> reachablePeers() {
    return life.runningCluster().reachablePeers();
  }

  /** Returns the caches defined on this node, in no particular order. */
  public java.util.Collection<DistributedCache<?, ?>> caches() {
    return List.copyOf(life.caches().all());
  }

  /** Whether the node is started and not closed. */
  public boolean isRunning() {
    return life.isRunning();
  }

  /**
   * Returns the cache named {@code name}, defining it with {@code config} on the first call. Later
   * calls with an equal configuration return the same instance.
   *
   * @throws IllegalArgumentException if {@code name} is blank or longer than 256 characters
   * @throws IllegalStateException if a cache of that name exists with a different configuration, or
   *     the node is closed
   */
  public <K, V> DistributedCache<K, V> cache(String name, CacheConfig<K, V> config) {
    requireNonNull(name, "name");
    requireNonNull(config, "config");
    checkArgument(!name.isBlank(), "cache name must not be blank");
    checkArgument(
        name.length() <= 256, "cache name must be at most 256 characters, got %s", name.length());
    return life.define(name, config);
  }

  /**
   * Leaves the cluster in an orderly way and stops: takes this node out of its own ring, hands
   * every entry to its holders among the other members while still answering peers (so no key and
   * no acknowledged write is lost, and no peer's read misses a key on its way), stops serving
   * (ending the streams of the client-only members subscribed to it), flushes queued replication to
   * reachable peers, closes the channels to the peers and drops this node's shards, in at most five
   * seconds in all (each step gets part of what is left). A client-only node, which holds nothing,
   * cancels its subscriptions, flushes its queue and closes its channels. From the moment it is
   * called, this node's own API is closed. Idempotent; safe to call from any thread, also while
   * another thread is in {@link #start()}.
   */
  @Override
  public void close() {
    life.close();
  }

  @Override
  public String toString() {
    return "ShardcacheNode{" + life + "}";
  }

  /**
   * Builds a {@link ShardcacheNode}. Each setting may be set once; setting it again throws {@link
   * IllegalStateException} naming the value already set. Not thread-safe.
   */
  public static final class Builder {
    private final NodeSettings.Draft draft = new NodeSettings.Draft();

    private Builder() {}

    /**
     * Secures peer connections with TLS (mutual TLS unless {@code tls} says otherwise). Every
     * member must use TLS with certificates its peers trust. Without this the node serves
     * plaintext, which it logs as a warning at start: fine on a laptop, not on a shared network.
     */
    public Builder tls(PeerTls tls) {
      draft.tls(tls);
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
      draft.clusterSecret(secret);
      return this;
    }

    /**
     * With {@link #clusterSecret}: bounds the token nonces this node remembers, to refuse a
     * replayed token, to {@code max} (default {@value ShardcacheNode#DEFAULT_MAX_NONCES}). A nonce
     * is kept for the token window plus a margin, 75 s, and takes about 160 bytes, so the bound is
     * {@code max × 160} bytes and admits {@code max / 75} authenticated calls a second, sustained.
     * Past it the node refuses calls with {@code RESOURCE_EXHAUSTED} naming this setting until
     * nonces expire, rather than forget one early.
     *
     * @throws IllegalArgumentException if not in [1000, 50000000]
     */
    public Builder maxNonces(int max) {
      draft.maxNonces(max);
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
      draft.maxConcurrentCallsPerPeer(max);
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
      draft.maxConcurrentLoads(max);
      return this;
    }

    /**
     * Bounds the threads serving peers' calls to {@code threads} (default {@value
     * ShardcacheNode#DEFAULT_HANDLER_THREADS}), made on demand; a {@code Get} and a heartbeat never
     * take one. A write holds its thread for up to half its caller's remote timeout (the wait for
     * replicas). A call that finds every one busy is refused at once with {@code
     * RESOURCE_EXHAUSTED} naming this setting (the caller sees a {@link ShardcacheException}), and
     * never runs on a network thread instead.
     *
     * @throws IllegalArgumentException if not in [1, 10000]
     */
    public Builder handlerThreads(int threads) {
      draft.handlerThreads(threads);
      return this;
    }

    /**
     * Bounds every message this node builds from many entries to {@code max} bytes serialized,
     * framing included: each replication request (hints, loads and read repairs for replicas,
     * near-cache invalidations), each call of a batch write ({@code putAll}, {@code
     * invalidateAll(keys)}, and the replication of their entries), each hand-off chunk it sends
     * after a membership change (and before it leaves), each page of its answers to a peer's
     * anti-entropy digest, and each answer to a peer's {@code getAll} or to a peer's fetch of
     * copies before a bulk load (the smaller of both nodes' bounds; the keys left out are asked for
     * again). An entry larger than that on its own travels alone; it reaches a peer as long as its
     * cache's {@code maxKeyBytes} plus {@code maxValueBytes} stay below the peer's {@code
     * maxInboundMessageBytes} (a cache defined otherwise is logged as a warning). Default: {@value
     * ShardcacheNode#DEFAULT_MAX_BATCH_BYTES} bytes, or half of {@link #maxInboundMessageBytes} if
     * that is less. Keep it below the {@code maxInboundMessageBytes} of every member (ideally the
     * same settings everywhere): a message over a peer's limit is split until it fits, which costs
     * calls.
     *
     * @throws IllegalArgumentException if not in [16 KiB, 64 MiB)
     * @throws IllegalStateException if already set; and at {@link #build()}, if not below {@link
     *     #maxInboundMessageBytes}
     */
    public Builder maxBatchBytes(int max) {
      draft.maxBatchBytes(max);
      return this;
    }

    /**
     * Bounds the replica writes and near-cache invalidations queued for one peer that is down, slow
     * or refusing (hinted handoff) to about {@code max} bytes (default 32 MiB): each item counts
     * its serialized size plus {@value HintQueue#ITEM_OVERHEAD_BYTES} bytes. A newer write of a key
     * replaces the queued one; past the bound the oldest items are dropped, counted in {@link
     * ShardcacheNode#replicationDropped()}, logged once, and anti-entropy repairs the replica.
     *
     * @throws IllegalArgumentException if not in [64 KiB, 1 TiB]; {@link #build()} also requires it
     *     to be at most {@link #maxHintBytes}
     */
    public Builder maxHintBytesPerPeer(long max) {
      draft.maxHintBytesPerPeer(max);
      return this;
    }

    /**
     * Bounds what {@link #maxHintBytesPerPeer} counts over all peers together to {@code max} bytes
     * (default 128 MiB); past it the oldest items of the largest queue are dropped, counted and
     * logged once, and anti-entropy repairs the replicas.
     *
     * @throws IllegalArgumentException if not in [64 KiB, 1 TiB]
     */
    public Builder maxHintBytes(long max) {
      draft.maxHintBytes(max);
      return this;
    }

    /**
     * Bounds the size of one incoming message (default 64 MiB), a peer's request or a peer's answer
     * to this node alike; a larger one is refused with {@code RESOURCE_EXHAUSTED} without being
     * buffered whole, and the caller's error names this setting.
     *
     * @throws IllegalArgumentException if not in [64 KiB, 64 MiB]
     */
    public Builder maxInboundMessageBytes(int max) {
      draft.maxInboundMessageBytes(max);
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
      draft.heartbeatInterval(interval);
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
      draft.maxClockSkew(skew);
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
      draft.antiEntropyInterval(interval);
      return this;
    }

    /**
     * Listens on {@code host}:{@code port}; port 0 picks a free port (read it back with {@link
     * #address()} after start). Required, except on a {@link #clientOnly()} node, which refuses it.
     * A wildcard host ("0.0.0.0", "::") also needs {@link #advertiseHost}.
     *
     * @throws IllegalArgumentException if the port is outside [0, 65535] or the host is blank
     */
    public Builder listen(String host, int port) {
      draft.listen(host, port);
      return this;
    }

    /**
     * Sets the host peers use to reach this node, when it differs from the listen host (such as a
     * pod IP while listening on 0.0.0.0). The ring names this node {@code advertiseHost:port}.
     */
    public Builder advertiseHost(String host) {
      draft.advertiseHost(host);
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
      draft.advertisePort(port);
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
      draft.peers(peers);
      return this;
    }

    /**
     * Sets the virtual nodes per member (default {@value HashRing#DEFAULT_VIRTUAL_NODES}). Every
     * member must use the same number, or nodes disagree about owners.
     *
     * @throws IllegalArgumentException if outside [1, 10000]
     */
    public Builder virtualNodes(int virtualNodes) {
      draft.virtualNodes(virtualNodes);
      return this;
    }

    /**
     * Makes this node a client-only member: it holds no shard, opens no port (so {@link #listen},
     * {@link #advertiseHost} and {@link #advertisePort} must not be set) and is on no ring, not
     * even its own. Every read and write of every key goes to the key's holders among the members
     * in {@link #peers} (required, at least one), with the same failover to replicas, deadlines,
     * TLS and cluster secret as a member's calls; no member needs to list it. It still pings the
     * members, so a dead one is suspected and routed around as a member would.
     *
     * <p>A client never loads: a cache's {@link CacheConfig.Builder#loader loader} on a client is
     * never called, but its presence makes the client's reads ask the owner to load a missing key
     * with the owner's loader (single-flight for the whole cluster), as a member's reads do; so
     * define each cache on a client with the same configuration as on the members. When no holder
     * of a key can be reached, such a read fails with {@link PeerUnavailableException} instead of
     * loading here. The loader given to {@link DistributedCache#get(Object, CacheLoader)} is the
     * caller's own and runs here as on any node that does not hold the key.
     *
     * <p>Near caches and hot keys work as on a member: each member the client reads from pushes it
     * the keys of the writes it applies, over one stream per member; while a member's stream is not
     * open the client keeps no copy, and when one ends it drops its copies. Each member bounds its
     * subscribed clients by {@link #maxSubscribedClients}.
     *
     * @throws IllegalStateException if already set; and at {@link #build()}, if a listen or
     *     advertised address or {@link #maxSubscribedClients} was set, or {@link #peers} was not
     */
    public Builder clientOnly() {
      draft.clientOnly();
      return this;
    }

    /**
     * Bounds the client-only members subscribed to this member's invalidations at once (default
     * {@value ShardcacheNode#DEFAULT_MAX_SUBSCRIBED_CLIENTS}); the next is refused with {@code
     * RESOURCE_EXHAUSTED} naming this setting and keeps no near or hot copies until it gets in.
     * Each subscriber costs at most 256 KiB of queued invalidations (one that falls further behind
     * is dropped and subscribes again) and one stream on its connection. 0 refuses every client.
     *
     * @throws IllegalArgumentException if not in [0, 100000]
     * @throws IllegalStateException if already set; and at {@link #build()}, on a client-only node
     */
    public Builder maxSubscribedClients(int max) {
      draft.maxSubscribedClients(max);
      return this;
    }

    /** Replaces the clock used for peer back-off; for tests. */
    Builder ticker(Ticker ticker) {
      draft.ticker(ticker);
      return this;
    }

    /**
     * Returns the node, not yet started.
     *
     * @throws IllegalStateException if {@link #listen} was not called (on a member), the listen
     *     host is a wildcard without {@link #advertiseHost}, {@link #maxBatchBytes} is not below
     *     {@link #maxInboundMessageBytes}, {@link #maxHintBytesPerPeer} is above {@link
     *     #maxHintBytes}, or a {@link #clientOnly()} node was given a listen or advertised address
     *     or {@link #maxSubscribedClients}, or no {@link #peers}
     */
    public ShardcacheNode build() {
      return new ShardcacheNode(draft.build());
    }
  }
}
