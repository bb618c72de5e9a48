package dev.shardcache;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.ReplicateResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * How one cache's versioned entries reach the key's other holders.
 *
 * <ul>
 *   <li>{@link #sendBeforeAck}: a write (or a stored refresh, see {@link Refreshes}) is sent to
 *       every other holder and awaited before it is acknowledged to its caller, so an acknowledged
 *       write is on every holder that answered. The wait is bounded by {@link #replicaTimeout()},
 *       half of {@code remoteTimeout}, so a paused replica cannot make the caller's own deadline (a
 *       full {@code remoteTimeout}) expire on a healthy owner. A holder that does not confirm in
 *       time gets the write from its hint queue (the {@link Replicator}) when it answers again.
 *   <li>{@link #enqueue}: loads, read repairs and copies that need no acknowledgement go through
 *       the hint queues only; a lost load is a reload, not a lost write.
 * </ul>
 *
 * <p>Hints wait in the {@link Replicator}'s per-peer queues, bounded in bytes per peer and per node
 * (what a bound drops is counted and repaired by anti-entropy), and travel in requests bounded in
 * bytes in which each entry the peer refuses is refused alone. {@link #sendBeforeAck} sends plain
 * requests, in which the first refusal fails the call: a refused write sent before acknowledgement
 * becomes a hint. Hand-off and anti-entropy stream whole ranges of entries through {@link
 * EntryStreams} instead.
 *
 * <p>Every batch carries the cache's last clear time, so a holder that missed an {@code
 * invalidateAll} applies it before the entries. Thread-safe.
 */
final class Replication<K, V> {
  private final CacheScope<K, V> scope;

  Replication(CacheScope<K, V> scope) {
    this.scope = scope;
  }

  /** The longest the applying node waits for replicas: half of the caller's deadline. */
  Duration replicaTimeout() {
    return scope.config().remoteTimeout().dividedBy(2);
  }

  /**
   * Sends {@code wire} to {@code holders} other than this node and waits (at most {@link
   * #replicaTimeout()}) for each to confirm; those that do not are sent it later from their hint
   * queues. Returns whether a holder that confirmed had marked the key hot in an answer a reader
   * may still keep: the caller then invalidates hot copies as if it had marked the key itself
   * ({@link #invalidateNearCaches(Cluster, List, boolean)}), because any holder applies a write it
   * receives, and the owner that counted the reads may not be the one applying it.
   */
  boolean sendBeforeAck(Cluster cluster, List<String> holders, VersionedEntry wire) {
    ReplicateRequest request = null;
    Map<String, CompletableFuture<ReplicateResponse>> sends = new LinkedHashMap<>();
    for (String holder : holders) {
      if (cluster.isSelf(holder)) {
        continue;
      }
      if (request == null) {
        request = request(cluster, CacheBatch.newBuilder().addEntries(wire));
      }
      ReplicateRequest built = request;
      sends.put(
          holder,
          PeerCalls.call(
              cluster.client(holder),
              holder,
              replicaTimeout(),
              PeerCalls.Counter.NONE,
              stub -> stub.replicate(built)));
    }
    boolean markedElsewhere = false;
    for (Map.Entry<String, PeerCalls.Outcome<ReplicateResponse>> sent :
        PeerCalls.awaitAll(sends).entrySet()) {
      ReplicateResponse response = sent.getValue().response();
      if (sent.getValue().failure() != null || response == null) {
        cluster.replicator().enqueue(sent.getKey(), scope.name(), wire);
      } else if (response.getHotKeysCount() > 0) {
        markedElsewhere = true;
      }
    }
    return markedElsewhere;
  }

  /**
   * {@link #sendBeforeAck} for the writes of a batch: sends each holder all its entries (one call,
   * split as {@link HolderGroups#chunks} allows), all holders at once, and waits for each at most
   * {@link #replicaTimeout()}; the entries of a call that was not confirmed are queued for its
   * holder.
   *
   * @param byHolder the entries each holder other than this node must get
   * @return the keys a holder that confirmed had marked hot (see {@link #sendBeforeAck})
   */
  List<ByteString> sendAllBeforeAck(Cluster cluster, Map<String, List<VersionedEntry>> byHolder) {
    List<Send> sends = new ArrayList<>();
    byHolder.forEach(
        (holder, entries) -> {
          for (List<VersionedEntry> chunk :
              HolderGroups.chunks(
                  entries,
                  VersionedEntry::getSerializedSize,
                  Replicator.MAX_BATCH,
                  scope.maxBatchBytes())) {
            ReplicateRequest request =
                request(cluster, CacheBatch.newBuilder().addAllEntries(chunk));
            sends.add(
                new Send(
                    holder,
                    chunk,
                    PeerCalls.call(
                        cluster.client(holder),
                        holder,
                        replicaTimeout(),
                        PeerCalls.Counter.NONE,
                        stub -> stub.replicate(request))));
          }
        });
    List<ByteString> markedElsewhere = new ArrayList<>();
    for (Send send : sends) {
      PeerCalls.Outcome<ReplicateResponse> outcome = PeerCalls.awaitOutcome(send.call());
      ReplicateResponse response = outcome.response();
      if (outcome.failure() != null || response == null) {
        for (VersionedEntry wire : send.entries()) {
          cluster.replicator().enqueue(send.holder(), scope.name(), wire);
        }
      } else {
        markedElsewhere.addAll(response.getHotKeysList());
      }
    }
    return markedElsewhere;
  }

  /** One replication call of a batch, to {@code holder}. */
  private record Send(
      String holder, List<VersionedEntry> entries, CompletableFuture<ReplicateResponse> call) {}

  /** Queues {@code wire} for {@code holders} other than this node, without waiting. */
  void enqueue(Cluster cluster, List<String> holders, VersionedEntry wire) {
    for (String holder : holders) {
      if (!cluster.isSelf(holder)) {
        cluster.replicator().enqueue(holder, scope.name(), wire);
      }
    }
  }

  /**
   * Removes {@code key} from every other member's near cache, if near caches are on (queued) or
   * this node marked the key hot in an answer that may still be kept ({@link HotKeys}): then sent
   * to every peer and awaited, at most {@link #replicaTimeout()}, so that a write acknowledged with
   * every member reachable is not followed by a read of a hot copy from before it; a peer that does
   * not confirm in time is sent it from its hint queue, and its copy is at most the hot keys' TTL
   * old meanwhile. The client-only members subscribed to the cache are pushed the same keys ({@link
   * Subscribers}): not awaited with near caches, acknowledged and awaited within the same bound
   * with hot keys; a client whose stream ends drops all its copies instead.
   */
  void invalidateNearCaches(Cluster cluster, ByteString key) {
    invalidateNearCaches(cluster, List.of(key), false);
  }

  /**
   * {@link #invalidateNearCaches(Cluster, ByteString)}, with the key's hot copies invalidated (and
   * awaited) also when another holder marked it, as {@link #sendBeforeAck} reported.
   */
  void invalidateNearCaches(Cluster cluster, ByteString key, boolean markedElsewhere) {
    invalidateNearCaches(cluster, List.of(key), markedElsewhere);
  }

  /**
   * {@link #invalidateNearCaches(Cluster, ByteString)} for the keys of one batch write: the hot
   * ones in one call per peer, awaited once, so a batch waits no longer for many hot keys than for
   * one.
   */
  void invalidateNearCaches(Cluster cluster, List<ByteString> keys) {
    invalidateNearCaches(cluster, keys, false);
  }

  /**
   * {@link #invalidateNearCaches(Cluster, List)}, with the keys' hot copies invalidated (and
   * awaited) also when {@code markedElsewhere}: another holder marked them.
   */
  void invalidateNearCaches(Cluster cluster, List<ByteString> keys, boolean markedElsewhere) {
    if (scope.config().nearCacheEnabled()) {
      for (ByteString key : keys) {
        for (String member : cluster.peers()) {
          cluster.replicator().enqueueNearInvalidation(member, scope.name(), key);
        }
      }
      CompletableFuture<Void> unused = scope.subscribers().push(scope.name(), keys, false);
      return;
    }
    List<ByteString> hot = new ArrayList<>();
    for (ByteString key : keys) {
      if (markedElsewhere || scope.hotKeys().marked(key)) {
        hot.add(key);
      }
    }
    if (!hot.isEmpty()) {
      invalidateHotCopies(cluster, hot);
    }
  }

  private void invalidateHotCopies(Cluster cluster, List<ByteString> keys) {
    long deadline = System.nanoTime() + replicaTimeout().toNanos();
    CompletableFuture<Void> clients = scope.subscribers().push(scope.name(), keys, true);
    ReplicateRequest request =
        request(cluster, CacheBatch.newBuilder().addAllNearInvalidations(keys));
    Map<String, CompletableFuture<ReplicateResponse>> sends = new LinkedHashMap<>();
    for (String member : cluster.peers()) {
      if (cluster.replicator().dropNearInvalidationsTo.test(member)) {
        continue; // a test's lossy network
      }
      sends.put(
          member,
          PeerCalls.call(
              cluster.client(member),
              member,
              replicaTimeout(),
              PeerCalls.Counter.NONE,
              stub -> stub.replicate(request)));
    }
    PeerCalls.awaitAll(sends)
        .forEach(
            (member, outcome) -> {
              if (outcome.failure() != null) {
                for (ByteString key : keys) {
                  cluster.replicator().enqueueNearInvalidation(member, scope.name(), key);
                }
              }
            });
    if (clients != null) {
      awaitClients(clients, deadline);
    }
  }

  /**
   * Waits until {@code deadline} at most for the subscribed clients' acknowledgements; a client
   * that has not confirmed by then keeps its copy at most the hot keys' TTL, as a member does.
   */
  private static void awaitClients(CompletableFuture<Void> acknowledged, long deadline) {
    try {
      acknowledged.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (TimeoutException | ExecutionException late) {
      // bounded like the peers' wait; the TTL bounds the copy
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** A request, from this node, carrying {@code batch} as this cache's, with its clear time. */
  private ReplicateRequest request(Cluster cluster, CacheBatch.Builder batch) {
    return ReplicateRequest.newBuilder()
        .setCaller(cluster.self())
        .addBatches(batch.setCache(scope.name()).setClearedBefore(scope.shard().clearedBefore()))
        .build();
  }
}
