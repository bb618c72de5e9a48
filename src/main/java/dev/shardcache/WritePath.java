package dev.shardcache;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CompareAndSetRequest;
import dev.shardcache.internal.proto.InvalidateAllRequest;
import dev.shardcache.internal.proto.InvalidateAllResponse;
import dev.shardcache.internal.proto.InvalidateRequest;
import dev.shardcache.internal.proto.PutRequest;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * The writes of one cache: {@code put}, {@code invalidate}, {@code compareAndSet} and {@code
 * invalidateAll}, from this node's callers and from peers.
 *
 * <h2>Apply, replicate, acknowledge</h2>
 *
 * A write is applied by a holder of the key: versioned with that node's hybrid clock, merged into
 * its shard, sent to the other holders and awaited (at most half the caller's deadline, see {@link
 * Replication}), and only then acknowledged. Applying a write detaches the key's load flight and
 * remote read on that node, so no reader arriving after it gets an answer from before it.
 *
 * <h2>One node's view decides where a key lives</h2>
 *
 * A node asked by a peer to write a key it does not hold under its own ring passes the write on,
 * once, to a holder under its ring (marked {@code forwarded}, which the receiver applies whatever
 * its own ring says, so no write bounces). If it reaches no holder it refuses with {@code ABORTED}
 * (the caller's {@link PeerUnavailableException}: not applied, retry). A write is never
 * acknowledged while it sits only in a queue.
 *
 * <h2>The truth about outcomes</h2>
 *
 * {@link PeerUnavailableException}: not applied. {@link OutcomeUnknownException}: a holder received
 * the write but did not answer in time; it is slow, not down, and keeps its keys.
 *
 * <h2>Clears</h2>
 *
 * {@code invalidateAll} is a versioned clear: a hybrid-clock time after which the cache starts
 * over. Every member records it, entries versioned before it are dead wherever they are (held,
 * loading, in hint queues, in hand-off, in anti-entropy), and members that miss the call get it
 * from their hint queue or from the next digest.
 *
 * <p>Thread-safe; the methods block for at most the call deadlines.
 */
final class WritePath<K, V> {
  private final CacheScope<K, V> scope;
  private final LoadFlights<K, V> flights;
  private final LoadFlights<K, V> copies;
  private final RemoteReads<K, V> remote;
  private final Replication<K, V> replication;

  WritePath(
      CacheScope<K, V> scope,
      LoadFlights<K, V> flights,
      LoadFlights<K, V> copies,
      RemoteReads<K, V> remote,
      Replication<K, V> replication) {
    this.scope = scope;
    this.flights = flights;
    this.copies = copies;
    this.remote = remote;
    this.replication = replication;
  }

  /** The deadline of a write this node passes on: between its caller's and the replicas' wait. */
  private Duration forwardDeadline() {
    return scope.config().remoteTimeout().multipliedBy(3).dividedBy(4);
  }

  // ---------------------------------------------------------------- this node's callers

  void write(K key, @Nullable V value, String operation) {
    Cluster cluster = scope.clusters().get();
    KeyRoute route = scope.router().route(cluster, key);
    byte[] valueBytes = value == null ? null : scope.codec().encodeValue(value);
    detachReads(key);
    if (route.holdsHere()) {
      applyHere(cluster, key, route, value, valueBytes);
      return;
    }
    ByteString keyBytes = ByteString.copyFrom(route.keyBytes());
    if (valueBytes != null) {
      PutRequest request =
          PutRequest.newBuilder()
              .setCache(scope.name())
              .setKey(keyBytes)
              .setValue(ByteString.copyFrom(valueBytes))
              .setCaller(cluster.self())
              .build();
      sendToHolders(
          cluster, route, operation, scope.config().remoteTimeout(), stub -> stub.put(request));
    } else {
      InvalidateRequest request =
          InvalidateRequest.newBuilder()
              .setCache(scope.name())
              .setKey(keyBytes)
              .setCaller(cluster.self())
              .build();
      sendToHolders(
          cluster,
          route,
          operation,
          scope.config().remoteTimeout(),
          stub -> stub.invalidate(request));
    }
  }

  /**
   * Sends a write to the key's holders in ring order until one applies it. Unreachable holders and
   * holders that refuse as non-holders are skipped; a slow one ends the attempt (outcome unknown).
   */
  private <R> void sendToHolders(
      Cluster cluster, KeyRoute route, String operation, Duration deadline, PeerCalls.Rpc<R> rpc) {
    PeerCalls.PeerCallException last = null;
    for (String holder : route.holders()) {
      if (cluster.isSelf(holder)) {
        continue;
      }
      try {
        PeerCalls.await(
            PeerCalls.call(cluster.client(holder), holder, deadline, scope.counters(), rpc));
        return;
      } catch (PeerCalls.PeerCallException e) {
        last = e;
        if (!e.isUnreachable() && e.status().getCode() != Status.Code.ABORTED) {
          throw e.forWrite(scope.name(), operation, deadline);
        }
      }
    }
    throw new PeerUnavailableException(
        route.owner(),
        operation
            + " of cache '"
            + scope.name()
            + "' not applied: no holder of the key could be reached "
            + route.holders()
            + "; retry later",
        last);
  }

  /**
   * Versions a write with this node's clock, keeps it, sends it to the key's other holders and
   * waits for them (bounded), then returns: the caller may acknowledge.
   */
  private void applyHere(
      Cluster cluster, K key, KeyRoute route, @Nullable V value, byte @Nullable [] valueBytes) {
    Version version = new Version(cluster.clock().now(), cluster.writerId());
    Versioned<V> entry =
        value == null ? Versioned.tombstone(version) : Versioned.of(value, version);
    scope.shard().merge(key, entry, 0, route.holdsHere() ? route.epoch() : -1);
    flights.detach(key);
    copies.detach(key);
    remote.detach(key);
    afterApply(
        cluster,
        route,
        EntryCodec.toWire(ByteString.copyFrom(route.keyBytes()), valueBytes, version, 0));
  }

  private void afterApply(
      Cluster cluster, KeyRoute route, dev.shardcache.internal.proto.VersionedEntry wire) {
    boolean markedElsewhere = replication.sendBeforeAck(cluster, route.holders(), wire);
    replication.invalidateNearCaches(cluster, wire.getKey(), markedElsewhere);
  }

  boolean compareAndSet(K key, @Nullable V expected, @Nullable V update) {
    Cluster cluster = scope.clusters().get();
    KeyRoute route = scope.router().route(cluster, key);
    byte[] expectedBytes = expected == null ? null : scope.codec().encodeValue(expected);
    byte[] updateBytes = update == null ? null : scope.codec().encodeValue(update);
    detachReads(key);
    // Atomic on one node: the first reachable holder decides.
    String decider = ReadPath.firstReachableHolder(cluster, route);
    if (decider == null) {
      throw new PeerUnavailableException(
          route.owner(),
          "compareAndSet of cache '"
              + scope.name()
              + "' not applied: no holder of the key could be reached "
              + route.holders()
              + "; retry later",
          null);
    }
    if (cluster.isSelf(decider)) {
      return compareAndSetHere(cluster, key, route, expectedBytes, update, updateBytes);
    }
    CompareAndSetRequest.Builder request =
        CompareAndSetRequest.newBuilder()
            .setCache(scope.name())
            .setKey(ByteString.copyFrom(route.keyBytes()))
            .setCaller(cluster.self());
    if (expectedBytes != null) {
      request.setExpected(ByteString.copyFrom(expectedBytes));
    }
    if (updateBytes != null) {
      request.setUpdate(ByteString.copyFrom(updateBytes));
    }
    CompareAndSetRequest built = request.build();
    Duration deadline = scope.config().remoteTimeout();
    try {
      return PeerCalls.await(
              PeerCalls.call(
                  cluster.client(decider),
                  decider,
                  deadline,
                  scope.counters(),
                  stub -> stub.compareAndSet(built)))
          .getApplied();
    } catch (PeerCalls.PeerCallException e) {
      throw e.forWrite(scope.name(), "compareAndSet", deadline);
    }
  }

  private boolean compareAndSetHere(
      Cluster cluster,
      K key,
      KeyRoute route,
      byte @Nullable [] expectedBytes,
      @Nullable V update,
      byte @Nullable [] updateBytes) {
    Codec<V> valueCodec = scope.config().valueCodec();
    Versioned<V> applied =
        scope
            .shard()
            .compareAndSet(
                key,
                current ->
                    expectedBytes == null
                        ? current == null
                        : current != null
                            && Arrays.equals(valueCodec.encode(current), expectedBytes),
                () -> {
                  Version version = new Version(cluster.clock().now(), cluster.writerId());
                  return update == null
                      ? Versioned.tombstone(version)
                      : Versioned.of(update, version);
                },
                route.holdsHere() ? route.epoch() : -1);
    if (applied == null) {
      return false;
    }
    flights.detach(key);
    copies.detach(key);
    remote.detach(key);
    afterApply(
        cluster,
        route,
        EntryCodec.toWire(
            ByteString.copyFrom(route.keyBytes()), updateBytes, applied.version(), 0));
    return true;
  }

  void invalidateAll() {
    Cluster cluster = scope.clusters().get();
    Duration deadline = scope.config().remoteTimeout();
    // Round 1: learn every reachable member's clock, so the clear is stamped later than every
    // entry any of them holds, whatever their clocks' skew.
    InvalidateAllRequest prepare =
        InvalidateAllRequest.newBuilder()
            .setCache(scope.name())
            .setCaller(cluster.self())
            .setPrepare(true)
            .build();
    for (PeerCalls.Outcome<InvalidateAllResponse> outcome :
        PeerCalls.awaitAll(toMembers(cluster, prepare)).values()) {
      InvalidateAllResponse response = outcome.response();
      if (response != null && response.getClock() > 0) {
        try {
          scope.codec().checkTimestamp(cluster, response.getClock(), "a member's clock");
          cluster.clock().observe(response.getClock());
        } catch (IllegalArgumentException tooFarAhead) {
          // Logged and counted; that member's writes are refused everywhere anyway.
        }
      }
    }
    // Round 2: apply it everywhere; each member's clock moves past it, so no write made after this
    // call returns can be older than the clear.
    long clearedBefore = cluster.clock().now();
    clearHere(clearedBefore);
    InvalidateAllRequest apply =
        InvalidateAllRequest.newBuilder()
            .setCache(scope.name())
            .setCaller(cluster.self())
            .setClearedBefore(clearedBefore)
            .build();
    List<String> missed = new ArrayList<>();
    ShardcacheException refused = null;
    for (Map.Entry<String, PeerCalls.Outcome<InvalidateAllResponse>> outcome :
        PeerCalls.awaitAll(toMembers(cluster, apply)).entrySet()) {
      PeerCalls.PeerCallException failure = outcome.getValue().failure();
      if (failure == null) {
        continue;
      }
      if (failure.failure() == PeerCalls.Failure.REFUSED) {
        refused =
            refused != null ? refused : failure.forWrite(scope.name(), "invalidateAll", deadline);
      } else {
        // Delivered with the peer's hint queue, and spread by anti-entropy, when it answers.
        cluster.replicator().enqueueClear(outcome.getKey(), scope.name(), clearedBefore);
        missed.add(outcome.getKey());
      }
    }
    if (!missed.isEmpty()) {
      throw new PeerUnavailableException(
          missed.get(0),
          "invalidateAll of cache '"
              + scope.name()
              + "' did not reach "
              + missed
              + " (no confirmation); the other members are cleared,"
              + " and the clear is queued for these and applied when they answer",
          null);
    }
    if (refused != null) {
      throw refused;
    }
  }

  private Map<String, CompletableFuture<InvalidateAllResponse>> toMembers(
      Cluster cluster, InvalidateAllRequest request) {
    Map<String, CompletableFuture<InvalidateAllResponse>> calls = new LinkedHashMap<>();
    for (String member : cluster.peers()) {
      calls.put(
          member,
          PeerCalls.call(
              cluster.client(member),
              member,
              scope.config().remoteTimeout(),
              scope.counters(),
              stub -> stub.invalidateAll(request)));
    }
    return calls;
  }

  /** Readers arriving after a write made through this node never join a read from before it. */
  private void detachReads(K key) {
    flights.detach(key);
    copies.detach(key);
    remote.detach(key);
  }

  /**
   * Records a clear at {@code clearedBefore} on this node: shard, flights, reads, near cache; and,
   * the first time this node hears of it, tells the subscribed client-only members.
   */
  void clearHere(long clearedBefore) {
    if (scope.shard().clear(clearedBefore)) {
      scope.subscribers().pushClear(scope.name());
    }
    flights.detachAll();
    copies.detachAll();
    remote.detachAll();
    try {
      scope.clusters().get().replicator().dropOlderThan(scope.name(), clearedBefore);
    } catch (IllegalStateException closing) {
      // the node is closing: there are no queues left to clean
    }
  }

  // ---------------------------------------------------------------- peers' requests

  void servePut(PutRequest request) {
    Cluster cluster = scope.clusters().get();
    K key = scope.codec().decodeKey(request.getKey());
    V value = scope.codec().decodeValue(request.getValue(), request.getCaller());
    KeyRoute route = scope.router().route(cluster, request.getKey().toByteArray());
    if (route.holdsHere() || request.getForwarded()) {
      applyHere(cluster, key, route, value, request.getValue().toByteArray());
    } else {
      PutRequest forwarded =
          request.toBuilder().setForwarded(true).setCaller(cluster.self()).build();
      forward(cluster, route, "put", stub -> stub.put(forwarded));
    }
  }

  void serveInvalidate(InvalidateRequest request) {
    Cluster cluster = scope.clusters().get();
    K key = scope.codec().decodeKey(request.getKey());
    KeyRoute route = scope.router().route(cluster, request.getKey().toByteArray());
    if (route.holdsHere() || request.getForwarded()) {
      applyHere(cluster, key, route, null, null);
    } else {
      InvalidateRequest forwarded =
          request.toBuilder().setForwarded(true).setCaller(cluster.self()).build();
      forward(cluster, route, "invalidate", stub -> stub.invalidate(forwarded));
    }
  }

  boolean serveCompareAndSet(CompareAndSetRequest request) {
    Cluster cluster = scope.clusters().get();
    K key = scope.codec().decodeKey(request.getKey());
    V update = null;
    byte[] updateBytes = null;
    if (request.hasUpdate()) {
      update = scope.codec().decodeValue(request.getUpdate(), request.getCaller());
      updateBytes = request.getUpdate().toByteArray();
    }
    byte[] expected = request.hasExpected() ? request.getExpected().toByteArray() : null;
    KeyRoute route = scope.router().route(cluster, request.getKey().toByteArray());
    if (route.holdsHere() || request.getForwarded()) {
      return compareAndSetHere(cluster, key, route, expected, update, updateBytes);
    }
    CompareAndSetRequest forwarded =
        request.toBuilder().setForwarded(true).setCaller(cluster.self()).build();
    return forward(cluster, route, "compareAndSet", stub -> stub.compareAndSet(forwarded))
        .getApplied();
  }

  /**
   * Serves one round of a peer's clear: a prepare answers this node's clock and changes nothing; an
   * apply records the clear at the caller's stamp and moves this node's clock past it.
   */
  InvalidateAllResponse serveInvalidateAll(InvalidateAllRequest request) {
    Cluster cluster = scope.clusters().get();
    if (request.getPrepare()) {
      return InvalidateAllResponse.newBuilder().setClock(cluster.clock().now()).build();
    }
    long clearedBefore = request.getClearedBefore();
    if (clearedBefore <= 0) {
      throw new IllegalArgumentException(
          "an invalidateAll of cache '"
              + scope.name()
              + "' must carry the time of the clear; is "
              + request.getCaller()
              + " running a compatible version?");
    }
    scope.codec().checkTimestamp(cluster, clearedBefore, request.getCaller());
    cluster.clock().observe(clearedBefore);
    clearHere(clearedBefore);
    return InvalidateAllResponse.getDefaultInstance();
  }

  /**
   * Passes a peer's write of a key this node does not hold to the first holder under this node's
   * ring that answers, and returns its answer.
   *
   * @throws NotHolderException if no holder could be reached (sent as ABORTED: retry)
   * @throws io.grpc.StatusRuntimeException with the holder's status if it refused, or
   *     DEADLINE_EXCEEDED if it was slow (the caller's outcome is unknown)
   */
  private <R> R forward(Cluster cluster, KeyRoute route, String operation, PeerCalls.Rpc<R> rpc) {
    scope.counters().forwardedWrites.increment();
    for (String holder : route.holders()) {
      if (cluster.isSelf(holder)) {
        continue;
      }
      try {
        return PeerCalls.await(
            PeerCalls.call(
                cluster.client(holder), holder, forwardDeadline(), scope.counters(), rpc));
      } catch (PeerCalls.PeerCallException e) {
        if (!e.isUnreachable() && e.status().getCode() != Status.Code.ABORTED) {
          throw e.status()
              .withDescription(
                  "holder "
                      + holder
                      + " of the key, to which "
                      + cluster.self()
                      + " passed the "
                      + operation
                      + ", answered: "
                      + e.status().getDescription())
              .asRuntimeException();
        }
      }
    }
    throw new NotHolderException(
        "node "
            + cluster.self()
            + " does not hold the key under its"
            + " ring and could reach none of its holders "
            + route.holders()
            + "; the "
            + operation
            + " was not applied: retry");
  }
}
