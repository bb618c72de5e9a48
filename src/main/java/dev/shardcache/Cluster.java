package dev.shardcache;

import com.google.common.base.Ticker;
import com.google.common.collect.ImmutableSortedSet;
import dev.shardcache.replication.HybridLogicalClock;
import dev.shardcache.replication.Version;
import dev.shardcache.ring.HashRing;
import dev.shardcache.ring.KeyHash;
import io.grpc.ChannelCredentials;
import io.grpc.ClientInterceptor;
import io.grpc.InsecureChannelCredentials;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * This node's view of the cluster: its own address, the configured members, which of them are
 * currently considered alive, the ring of the live members, a client per configured peer, the
 * hybrid logical clock that versions its writes, and the replicator that ships them.
 *
 * <p>On a <em>client-only</em> node the ring never holds this node: it is the live configured
 * members alone (all configured members when the failure detector suspects every one, so a read or
 * write still has somebody to try, and fails fast as unreachable), and this node holds no key. A
 * client-only node must know at least one member.
 *
 * <p>Two member sets are kept apart. The <em>configured</em> members come from {@link
 * ShardcacheNode#setPeers} (static lists, discovery). The <em>live</em> members are the configured
 * ones the failure detector does not suspect. The ring holds the live members plus this node, so
 * routing skips dead nodes; a suspected member keeps its client and its queue of hinted writes, and
 * rejoins the ring when it answers heartbeats again.
 *
 * <p>The ring is an immutable snapshot swapped atomically on each change, so a lookup never sees
 * half a change. Each ring carries an <em>epoch</em>, a number that grows with every change: a
 * shard entry remembers the epoch at which this node last confirmed that it holds the key, so a hit
 * under an unchanged ring costs no encoding, hashing or ring lookup, and the first read after a
 * change re-checks. The last {@value #RING_HISTORY} rings are kept too: a new owner that misses a
 * key asks the key's holders under each of them before it loads, so a key is not reloaded (and a
 * write still being handed off is not overwritten by a load) after several quick changes.
 *
 * <p>Thread-safe; membership changes are serialized.
 */
final class Cluster implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(Cluster.class.getName());

  /** How many rings before the current one a miss consults before loading. */
  static final int RING_HISTORY = 4;

  /** How long after a ring change a miss still asks the key's earlier holders for a copy. */
  static final Duration RECENT_CHANGE_WINDOW = Duration.ofSeconds(60);

  private final String self;
  private final long writerId;
  private final int virtualNodes;
  private final boolean clientOnly;
  private final HybridLogicalClock clock;
  private final Replicator replicator;
  private final BiConsumer<HashRing, HashRing> onRingChange;
  private final Map<String, PeerClient> clients = new ConcurrentHashMap<>();
  private final Map<String, Departed> departed = new ConcurrentHashMap<>();
  private final Function<String, PeerClient> newClient;
  private final Set<String> suspected = ConcurrentHashMap.newKeySet();
  private volatile Set<String> configured = Set.of();
  private final long maxClockSkewMillis;
  private volatile RingView view;
  private volatile List<HashRing> history = List.of(); // newest first, excluding the current ring

  /** The history, plus the current ring without this node: where its keys were before it joined. */
  private volatile List<HashRing> recent = List.of();

  private volatile long lastRingChangeNanos;
  private boolean closed; // guarded by this
  private boolean leaving; // guarded by this

  /**
   * Creates the view of a node named {@code self}; {@code onRingChange} runs after each change of
   * the ring with the previous and the new ring, on the thread that made the change.
   */
  Cluster(
      String self,
      Collection<String> peers,
      int virtualNodes,
      Ticker ticker,
      Duration replicationTimeout,
      ReplicationLimits replicationLimits,
      BiConsumer<HashRing, HashRing> onRingChange) {
    this(
        self,
        peers,
        virtualNodes,
        ticker,
        replicationTimeout,
        replicationLimits,
        onRingChange,
        InsecureChannelCredentials.create(),
        List.of(),
        ShardcacheNode.DEFAULT_MAX_CLOCK_SKEW,
        ShardcacheNode.MAX_MESSAGE_BYTES,
        false);
  }

  Cluster(
      String self,
      Collection<String> peers,
      int virtualNodes,
      Ticker ticker,
      Duration replicationTimeout,
      ReplicationLimits replicationLimits,
      BiConsumer<HashRing, HashRing> onRingChange,
      ChannelCredentials credentials,
      List<ClientInterceptor> interceptors,
      Duration maxClockSkew,
      int maxInboundMessageBytes,
      boolean clientOnly) {
    this(
        self,
        peers,
        virtualNodes,
        replicationTimeout,
        replicationLimits,
        onRingChange,
        clientsOver(ticker, credentials, List.copyOf(interceptors), maxInboundMessageBytes),
        maxClockSkew,
        clientOnly);
  }

  /**
   * A view whose peer clients come from {@code newClient}, called with each canonical address as it
   * is configured; tests pass clients over in-process channels here.
   */
  Cluster(
      String self,
      Collection<String> peers,
      int virtualNodes,
      Duration replicationTimeout,
      ReplicationLimits replicationLimits,
      BiConsumer<HashRing, HashRing> onRingChange,
      Function<String, PeerClient> newClient,
      Duration maxClockSkew) {
    this(
        self,
        peers,
        virtualNodes,
        replicationTimeout,
        replicationLimits,
        onRingChange,
        newClient,
        maxClockSkew,
        false);
  }

  /**
   * As above; a {@code clientOnly} view is never on its own ring (see the class documentation).
   *
   * @throws IllegalArgumentException if {@code clientOnly} and {@code peers} names no member
   */
  Cluster(
      String self,
      Collection<String> peers,
      int virtualNodes,
      Duration replicationTimeout,
      ReplicationLimits replicationLimits,
      BiConsumer<HashRing, HashRing> onRingChange,
      Function<String, PeerClient> newClient,
      Duration maxClockSkew,
      boolean clientOnly) {
    this.clientOnly = clientOnly;
    this.newClient = newClient;
    this.self = self;
    this.writerId = Version.writerId(self);
    this.virtualNodes = virtualNodes;
    this.maxClockSkewMillis = maxClockSkew.toMillis();
    // The clock follows a peer's timestamp only as far as a version is accepted at all.
    this.clock = HybridLogicalClock.onSystemClock(maxClockSkew);
    this.onRingChange = onRingChange;
    this.view =
        new RingView(
            HashRing.of(clientOnly ? firstMember(peers, self) : List.of(self), virtualNodes), 0);
    this.replicator = new Replicator(self, clients::get, replicationTimeout, replicationLimits);
    setPeers(peers);
  }

  /**
   * Clients whose channels accept answers of at most {@code maxInboundMessageBytes}: the node's own
   * inbound cap, so answers are bounded by the same rule as requests.
   */
  private static Function<String, PeerClient> clientsOver(
      Ticker ticker,
      ChannelCredentials credentials,
      List<ClientInterceptor> interceptors,
      int maxInboundMessageBytes) {
    return address ->
        new PeerClient(address, ticker, credentials, interceptors, maxInboundMessageBytes);
  }

  /** The members a client-only view starts from before {@link #setPeers}: the first one. */
  private static List<String> firstMember(Collection<String> peers, String self) {
    for (String peer : peers) {
      String canonical = HostPort.parse(peer).toString();
      if (!canonical.equals(self)) {
        return List.of(canonical);
      }
    }
    throw new IllegalArgumentException(noMembers(self));
  }

  private static String noMembers(String self) {
    return "client-only node "
        + self
        + " needs at least one member to send its reads and writes to; give setPeers (or"
        + " ShardcacheNode.Builder.peers) the members' host:port";
  }

  String self() {
    return self;
  }

  /** Whether this node is client-only: on no ring, holding no key, serving nobody. */
  boolean isClientOnly() {
    return clientOnly;
  }

  long writerId() {
    return writerId;
  }

  HybridLogicalClock clock() {
    return clock;
  }

  Replicator replicator() {
    return replicator;
  }

  HashRing ring() {
    return view.ring();
  }

  /** A number that grows with every change of {@link #ring()}. */
  int ringEpoch() {
    return view.epoch();
  }

  /** The current ring with its epoch, read together (see {@link RingView}). */
  RingView ringView() {
    return view;
  }

  /** Up to {@value #RING_HISTORY} rings before the current one, newest first. */
  List<HashRing> ringHistory() {
    return history;
  }

  /**
   * Where a key may still be while entries travel to their new holders, if the latest change was
   * less than {@link #RECENT_CHANGE_WINDOW} ago (otherwise none): the rings before the current one,
   * newest first, and the current ring without this node. The last one matters to a node that just
   * joined, whose own history never held the cluster's previous ring: without it, the holders a key
   * had before the node joined are exactly the key's holders when this node is left out.
   */
  List<HashRing> recentRings() {
    if (System.nanoTime() - lastRingChangeNanos > RECENT_CHANGE_WINDOW.toNanos()) {
      return List.of();
    }
    return recent;
  }

  /** The ring before the latest change (the current ring if there was none). */
  HashRing previousRing() {
    List<HashRing> before = history;
    return before.isEmpty() ? view.ring() : before.get(0);
  }

  /** How far ahead of this node's clock a version may be stamped and still be accepted. */
  long maxClockSkewMillis() {
    return maxClockSkewMillis;
  }

  /** The owner of a key from its encoded bytes, under the current ring. Allocation-free. */
  String ownerOf(byte[] keyBytes) {
    return view.ring().ownerOf(KeyHash.hash(keyBytes));
  }

  boolean isSelf(String member) {
    // The ring hands back the very string it was built from, so identity is the common case.
    @SuppressWarnings("ReferenceEquality") // a shortcut before equals, not instead of it
    boolean same = member == self || member.equals(self);
    return same;
  }

  /** The client of configured peer {@code member}, or null if it is not configured. */
  @Nullable PeerClient client(String member) {
    return clients.get(member);
  }

  /** The configured peers (members other than this node), sorted. */
  Set<String> peers() {
    return ImmutableSortedSet.copyOf(configured);
  }

  /** The configured peers not currently marked down, sorted. */
  Set<String> reachablePeers() {
    ImmutableSortedSet.Builder<String> up = ImmutableSortedSet.naturalOrder();
    clients.forEach(
        (address, client) -> {
          if (client.isUp() && !suspected.contains(address)) {
            up.add(address);
          }
        });
    return up.build();
  }

  /** The configured peers the failure detector suspects, sorted. */
  Set<String> suspectedPeers() {
    return ImmutableSortedSet.copyOf(suspected);
  }

  /**
   * Makes {@code peers} plus this node the configured members. Addresses are validated and
   * canonicalized; this node's own address may be among them.
   *
   * @throws IllegalArgumentException if an address is malformed, or a client-only node is given no
   *     member (nothing changes then)
   */
  synchronized void setPeers(Collection<String> peers) {
    if (closed) {
      throw new IllegalStateException("the node is closed; start a new node to rejoin the cluster");
    }
    Set<String> next = new LinkedHashSet<>();
    for (String peer : peers) {
      String canonical = HostPort.parse(peer).toString();
      if (!canonical.equals(self)) {
        next.add(canonical);
      }
    }
    if (clientOnly && next.isEmpty()) {
      throw new IllegalArgumentException(noMembers(self));
    }
    for (String member : next) {
      Departed back = departed.remove(member);
      if (back != null) {
        clients.putIfAbsent(member, back.client());
      }
      clients.computeIfAbsent(member, newClient);
    }
    Set<String> previous = configured;
    configured = Set.copyOf(next);
    suspected.retainAll(next);
    rebuildRing();
    for (String member : previous) {
      if (!next.contains(member)) {
        PeerClient client = clients.remove(member);
        if (client != null) {
          // Kept for fetches during the recent-change window: a member that left may still hold
          // keys that are on their way to their new holders.
          departed.put(member, new Departed(client, System.nanoTime()));
        }
      }
    }
    replicator.retain(next); // hints for members that left are dropped; none can come back
    closeExpiredDeparted();
  }

  /** A client of a member that left, kept for fetches for {@link #RECENT_CHANGE_WINDOW}. */
  private record Departed(PeerClient client, long leftAtNanos) {}

  /**
   * The client of {@code member} for a fetch of copies: a configured peer's, or that of a member
   * that left less than {@link #RECENT_CHANGE_WINDOW} ago. Never used to route reads or writes.
   */
  @Nullable PeerClient recentClient(String member) {
    PeerClient client = clients.get(member);
    if (client != null) {
      return client;
    }
    Departed left = departed.get(member);
    return left == null || System.nanoTime() - left.leftAtNanos() > RECENT_CHANGE_WINDOW.toNanos()
        ? null
        : left.client();
  }

  /** Closes the clients of members that left longer ago than the recent-change window. */
  void closeExpiredDeparted() {
    long now = System.nanoTime();
    departed
        .entrySet()
        .removeIf(
            entry -> {
              if (now - entry.getValue().leftAtNanos() <= RECENT_CHANGE_WINDOW.toNanos()) {
                return false;
              }
              entry.getValue().client().close();
              return true;
            });
  }

  /**
   * Marks a configured peer as suspected dead (out of the ring) or alive (back in it), as the
   * failure detector decides. Returns whether anything changed.
   */
  synchronized boolean setAlive(String member, boolean alive) {
    if (closed || !configured.contains(member)) {
      return false;
    }
    boolean changed = alive ? suspected.remove(member) : suspected.add(member);
    if (changed) {
      logger.log(
          alive ? Level.INFO : Level.WARNING,
          alive
              ? "Node {0}: peer {1} answers heartbeats again; it rejoins the ring"
              : "Node {0}: peer {1} missed its heartbeats; it leaves the ring until it answers again",
          new Object[] {self, member});
      rebuildRing();
    }
    return changed;
  }

  /**
   * Takes this node out of its own ring before it leaves the cluster, if another member is there to
   * take its keys: from now on it holds no key, so it forwards the writes and reads peers send it
   * to the keys' holders without it, while it still serves copies of what it has until its entries
   * are handed off. Returns whether the ring changed. The end of an orderly close; there is no way
   * back.
   */
  synchronized boolean leave() {
    if (closed || leaving) {
      return false;
    }
    leaving = true;
    int before = view.epoch();
    rebuildRing();
    return view.epoch() != before;
  }

  private void rebuildRing() {
    List<String> others = new ArrayList<>();
    for (String member : configured) {
      if (!suspected.contains(member)) {
        others.add(member);
      }
    }
    List<String> members = new ArrayList<>();
    if (clientOnly) {
      // Never on a ring; with every member suspected, calls still go to one and fail fast.
      members.addAll(others.isEmpty() ? configured : others);
    } else {
      if (!leaving || others.isEmpty()) {
        members.add(self); // a node that leaves stays its own keys' holder only if nobody else is
      }
      members.addAll(others);
    }
    HashRing next = HashRing.of(members, virtualNodes);
    HashRing current = view.ring();
    if (current.nodes().equals(next.nodes())) {
      return;
    }
    List<HashRing> older = new ArrayList<>(RING_HISTORY);
    older.add(current);
    for (HashRing before : history) {
      if (older.size() == RING_HISTORY) {
        break;
      }
      older.add(before);
    }
    history = List.copyOf(older);
    List<HashRing> withoutSelf = new ArrayList<>(older);
    if (!others.isEmpty()) {
      withoutSelf.add(others.size() == members.size() ? next : HashRing.of(others, virtualNodes));
    }
    recent = List.copyOf(withoutSelf);
    lastRingChangeNanos = System.nanoTime();
    view = new RingView(next, view.epoch() + 1); // one write: see RingView
    logger.log(Level.INFO, "Node {0}: ring members are now {1}", new Object[] {self, next.nodes()});
    onRingChange.accept(current, next);
  }

  @Override
  public void close() {
    close(Duration.ofSeconds(2));
  }

  /**
   * Stops membership changes, flushes queued replication to reachable peers for at most {@code
   * grace}, then closes the channels. The flush runs outside this object's lock: gRPC callbacks
   * (heartbeat answers) take it, and must never wait for a flush.
   */
  void close(Duration grace) {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    replicator.close(grace);
    clients.values().forEach(PeerClient::close);
    departed.values().forEach(left -> left.client().close());
  }

  /** Waits, at most {@code timeout} in all, for the channels to terminate. */
  void awaitTermination(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    for (PeerClient client : clients.values()) {
      client.awaitTermination(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
    }
    clients.clear();
  }
}
