package dev.shardcache;

import com.google.common.base.Ticker;
import com.google.common.collect.ImmutableSortedSet;
import dev.shardcache.ring.HashRing;
import dev.shardcache.ring.KeyHash;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * This node's view of the cluster: its own address, the ring of the current members and a client
 * per peer.
 *
 * <p>The ring is an immutable snapshot swapped atomically on each membership change, so a lookup
 * never sees half a change; a peer's client is created before the ring that names it is published
 * and closed only after a ring without it is. A read that picked an owner from the old ring and
 * finds its client gone falls back like any read of an unreachable owner.
 *
 * <p>Thread-safe; membership changes are serialized.
 */
final class Cluster implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(Cluster.class.getName());

  private final String self;
  private final int virtualNodes;
  private final Ticker ticker;
  private final Map<String, PeerClient> clients = new ConcurrentHashMap<>();
  private final Runnable onRingChange;
  private volatile HashRing ring;
  private boolean closed; // guarded by this

  /**
   * Creates the view of a node named {@code self}; {@code onRingChange} runs after each change of
   * the members, on the thread that made it.
   */
  Cluster(String self, Collection<String> peers, int virtualNodes, Ticker ticker,
      Runnable onRingChange) {
    this.self = self;
    this.virtualNodes = virtualNodes;
    this.ticker = ticker;
    this.onRingChange = onRingChange;
    this.ring = HashRing.of(List.of(self), virtualNodes);
    setPeers(peers);
  }

  String self() {
    return self;
  }

  HashRing ring() {
    return ring;
  }

  /** The owner of a key from its encoded bytes, under the current ring. Allocation-free. */
  String ownerOf(byte[] keyBytes) {
    return ring.ownerOf(KeyHash.hash(keyBytes));
  }

  boolean isSelf(String member) {
    // The ring hands back the very string it was built from, so identity is the common case.
    return member == self || member.equals(self);
  }

  /** The client of {@code member}, or null if it is no longer a member. */
  @Nullable PeerClient client(String member) {
    return clients.get(member);
  }

  /** The peers (members other than this node), sorted. */
  Set<String> peers() {
    return ImmutableSortedSet.copyOf(clients.keySet());
  }

  /** The peers not currently marked down, sorted. */
  Set<String> reachablePeers() {
    ImmutableSortedSet.Builder<String> up = ImmutableSortedSet.naturalOrder();
    clients.forEach((address, client) -> {
      if (client.isUp()) {
        up.add(address);
      }
    });
    return up.build();
  }

  /**
   * Makes {@code peers} plus this node the members. Addresses are validated and canonicalized;
   * this node's own address may be among them.
   *
   * @throws IllegalArgumentException if an address is malformed
   */
  synchronized void setPeers(Collection<String> peers) {
    if (closed) {
      throw new IllegalStateException("the node is closed; start a new node to rejoin the cluster");
    }
    List<String> members = new ArrayList<>(peers.size() + 1);
    members.add(self);
    for (String peer : peers) {
      String canonical = HostPort.parse(peer).toString();
      if (!canonical.equals(self)) {
        members.add(canonical);
      }
    }
    HashRing next = HashRing.of(members, virtualNodes);
    for (String member : next.nodes()) {
      if (!isSelf(member)) {
        clients.computeIfAbsent(member, address -> new PeerClient(address, ticker));
      }
    }
    HashRing previous = ring;
    ring = next;
    List<PeerClient> removed = new ArrayList<>();
    for (String member : List.copyOf(clients.keySet())) {
      if (!next.contains(member)) {
        removed.add(clients.remove(member));
      }
    }
    removed.forEach(PeerClient::close);
    if (!previous.nodes().equals(next.nodes())) {
      logger.log(Level.INFO, "Node {0}: members are now {1}", new Object[] {self, next.nodes()});
      onRingChange.run();
    }
  }

  @Override
  public synchronized void close() {
    closed = true;
    clients.values().forEach(PeerClient::close);
  }

  void awaitTermination(Duration timeout) throws InterruptedException {
    for (PeerClient client : clients.values()) {
      client.awaitTermination(timeout);
    }
    clients.clear();
  }
}
