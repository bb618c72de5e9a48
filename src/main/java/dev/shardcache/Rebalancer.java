package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.Versioned;
import dev.shardcache.ring.HashRing;
import dev.shardcache.ring.KeyHash;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
 *       acknowledged it, the ring did not change during the pass, and no newer copy arrived
 *       meanwhile. Until then it stays, unread (reads answer only keys this node holds), for the
 *       next pass; the periodic maintenance runs one.
 * </ul>
 *
 * <p>Blocking; runs on the maintenance thread, one pass at a time. Thread-safe.
 */
final class Rebalancer<K, V> {
  private final CacheScope<K, V> scope;
  private final Replication<K, V> replication;

  Rebalancer(CacheScope<K, V> scope, Replication<K, V> replication) {
    this.scope = scope;
    this.replication = replication;
  }

  /**
   * Before this node leaves: sends every entry to its holders under {@code without}, the ring
   * without this node, so a member that is closed in an orderly way takes no key with it (with
   * replication factor 1 it is the only holder). Stops at {@code deadlineNanos}; nothing is
   * dropped, since the node is closing.
   */
  void handOffAll(Cluster cluster, HashRing without, long deadlineNanos) {
    Map<String, List<VersionedEntry>> outgoing = new HashMap<>();
    scope
        .shard()
        .forEach(
            (key, stored) -> {
              byte[] keyBytes = scope.router().heldKeyBytes(key);
              if (keyBytes == null) {
                return;
              }
              VersionedEntry wire = null;
              for (String holder : scope.router().holders(without, KeyHash.hash(keyBytes))) {
                if (wire == null) {
                  wire =
                      scope
                          .codec()
                          .toWire(
                              ByteString.copyFrom(keyBytes), stored.entry(), stored.ageMillis());
                }
                outgoing.computeIfAbsent(holder, h -> new ArrayList<>()).add(wire);
              }
            });
    for (Map.Entry<String, List<VersionedEntry>> target : outgoing.entrySet()) {
      if (deadlineNanos - System.nanoTime() <= 0) {
        return;
      }
      if (replication.stream(cluster, target.getKey(), target.getValue())) {
        scope.counters().handedOff.add(target.getValue().size());
      }
    }
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
    Map<String, List<VersionedEntry>> outgoing = new HashMap<>();
    Map<K, Versioned<V>> toDrop = new HashMap<>();
    Map<K, List<String>> dropAfter = new HashMap<>();
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
              VersionedEntry wire = null;
              for (String holder : now) {
                if (cluster.isSelf(holder) || (stillHeld && before.contains(holder))) {
                  continue;
                }
                if (wire == null) {
                  wire =
                      scope
                          .codec()
                          .toWire(
                              ByteString.copyFrom(keyBytes), stored.entry(), stored.ageMillis());
                }
                outgoing.computeIfAbsent(holder, h -> new ArrayList<>()).add(wire);
              }
              if (!stillHeld) {
                toDrop.put(key, stored.entry());
                dropAfter.put(key, now);
              }
            });
    Set<String> delivered = new HashSet<>();
    outgoing.forEach(
        (holder, entries) -> {
          if (replication.stream(cluster, holder, entries)) {
            delivered.add(holder);
            scope.counters().handedOff.add(entries.size());
          }
        });
    if (cluster.ringEpoch() != epoch) {
      return; // the ring moved under this pass: the pass queued for that change decides drops
    }
    toDrop.forEach(
        (key, entry) -> {
          for (String holder : requireNonNull(dropAfter.get(key))) {
            if (!cluster.isSelf(holder) && !delivered.contains(holder)) {
              return;
            }
          }
          scope.shard().removeIfUnchanged(key, entry);
        });
  }
}
