package dev.shardcache;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.Versioned;
import dev.shardcache.ring.HashRing;
import dev.shardcache.ring.KeyHash;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Hands one cache's entries to their new holders after a ring change, and drops the entries this
 * node no longer holds once they were handed over.
 *
 * <h2>Invariants</h2>
 *
 * <ul>
 *   <li>A pass routes with the ring that is current <em>when it runs</em>, not the one current when
 *       it was queued: a late pass can neither send entries to members that have left nor drop an
 *       entry this node holds again.
 *   <li>An entry is sent to each current holder that may lack it: every one when this node no
 *       longer holds the key, otherwise those that did not hold it under {@code previous}. Sending
 *       twice is harmless (merge is idempotent).
 *   <li>An entry is dropped only when this node does not hold its key, every current holder
 *       acknowledged it, the ring has not changed since the pass began, and no newer copy arrived
 *       meanwhile. Until then it stays, unread (reads answer only keys this node holds), for the
 *       next pass; the periodic maintenance runs one.
 *   <li><b>Bounded in bytes and memory.</b> A pass walks the shard once and streams what it finds
 *       through {@link EntryStreams}: chunks of at most {@code maxBatchBytes}, buffers of about
 *       twice that for all holders together, and an entry a holder refuses skipped alone (it stays
 *       here). Nothing is collected per pass but the entries waiting in those buffers and, for the
 *       ones to drop, a reference to their version until every holder acknowledged them: so an
 *       entry is dropped as soon as its last holder acknowledged the chunk that carried it, not
 *       after the whole pass.
 * </ul>
 *
 * <p>Blocking; runs on the maintenance thread, one pass at a time. Thread-safe.
 */
final class Rebalancer<K, V> {
  private final CacheScope<K, V> scope;

  Rebalancer(CacheScope<K, V> scope) {
    this.scope = scope;
  }

  /**
   * Before this node leaves: sends every entry to its holders under {@code without}, the ring
   * without this node, so a member that is closed in an orderly way takes no key with it (with
   * replication factor 1 it is the only holder). Stops at {@code deadlineNanos}; nothing is
   * dropped, since the node is closing.
   */
  void handOffAll(Cluster cluster, HashRing without, long deadlineNanos) {
    EntryStreams<K> streams =
        EntryStreams.of(
            scope,
            cluster,
            deadlineNanos,
            new EntryStreams.Receipts<K>() {
              @Override
              public void delivered(String peer, List<K> keys) {
                scope.counters().handedOff.add(keys.size());
              }

              @Override
              public void notDelivered(String peer, List<K> keys) {}
            });
    scope
        .shard()
        .forEach(
            (key, stored) -> {
              if (deadlineNanos - System.nanoTime() <= 0) {
                return;
              }
              byte[] keyBytes = scope.router().heldKeyBytes(key);
              if (keyBytes == null) {
                return;
              }
              VersionedEntry wire = null;
              for (String holder : scope.router().holders(without, KeyHash.hash(keyBytes))) {
                if (streams.failed(holder)) {
                  continue;
                }
                if (wire == null) {
                  wire =
                      scope
                          .codec()
                          .toWire(
                              ByteString.copyFrom(keyBytes), stored.entry(), stored.ageMillis());
                }
                streams.add(holder, wire, key);
              }
            });
    streams.finish();
  }

  /**
   * One pass: copies entries to the members that became their holders since {@code previous} (pass
   * the current ring for a periodic pass), and drops what this node no longer holds.
   */
  void rebalance(HashRing previous) {
    Cluster cluster;
    try {
      cluster = scope.clusters().get();
    } catch (IllegalStateException closed) {
      return;
    }
    int epoch = cluster.ringEpoch();
    HashRing current = cluster.ring();
    boolean unchanged = previous.equals(current);
    Drops drops = new Drops(cluster, epoch);
    EntryStreams<K> streams = EntryStreams.of(scope, cluster, EntryStreams.NO_DEADLINE, drops);
    scope
        .shard()
        .forEach(
            (key, stored) -> {
              byte[] keyBytes = scope.router().heldKeyBytes(key);
              if (keyBytes == null) {
                return;
              }
              long hash = KeyHash.hash(keyBytes);
              List<String> now = scope.router().holders(current, hash);
              boolean stillHeld = now.contains(cluster.self());
              List<String> before = unchanged ? now : scope.router().holders(previous, hash);
              List<String> targets = new ArrayList<>(now.size());
              for (String holder : now) {
                if (!cluster.isSelf(holder) && !(stillHeld && before.contains(holder))) {
                  targets.add(holder);
                }
              }
              if (targets.isEmpty()) {
                return;
              }
              if (!stillHeld) {
                // Before the entry is added: a chunk may be acknowledged inside add().
                drops.expect(key, stored.entry(), targets.size());
              }
              VersionedEntry wire =
                  scope
                      .codec()
                      .toWire(ByteString.copyFrom(keyBytes), stored.entry(), stored.ageMillis());
              for (String holder : targets) {
                streams.add(holder, wire, key);
              }
            });
    streams.finish();
  }

  /**
   * The entries of one pass waiting to be dropped: each with the number of holders that have yet to
   * acknowledge it. Holds only entries still in a stream's buffers or in flight.
   */
  private final class Drops implements EntryStreams.Receipts<K> {
    private final Cluster cluster;
    private final int epoch;
    private final Map<K, Pending<V>> pending = new HashMap<>();

    Drops(Cluster cluster, int epoch) {
      this.cluster = cluster;
      this.epoch = epoch;
    }

    void expect(K key, Versioned<V> entry, int holders) {
      if (pending.putIfAbsent(key, new Pending<>(entry, holders)) != null) {
        // Seen twice in one walk (a value and a tombstone, racing): keep it for the next pass.
        pending.put(key, new Pending<>(entry, Integer.MAX_VALUE));
      }
    }

    @Override
    public void delivered(String peer, List<K> keys) {
      scope.counters().handedOff.add(keys.size());
      for (K key : keys) {
        Pending<V> waiting = pending.get(key);
        if (waiting != null && --waiting.holders == 0) {
          pending.remove(key);
          // A ring change since the pass began: the pass queued for it decides the drops.
          if (cluster.ringEpoch() == epoch) {
            scope.shard().removeIfUnchanged(key, waiting.entry);
          }
        }
      }
    }

    @Override
    public void notDelivered(String peer, List<K> keys) {
      for (K key : keys) {
        pending.remove(key); // a holder lacks it: it stays here for the next pass
      }
    }
  }

  /** An entry to drop once {@code holders} more holders acknowledged it. */
  private static final class Pending<V> {
    final Versioned<V> entry;
    int holders;

    Pending(Versioned<V> entry, int holders) {
      this.entry = entry;
      this.holders = holders;
    }
  }
}
