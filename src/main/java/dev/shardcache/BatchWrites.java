package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.KeyWrite;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.internal.proto.WriteAllRequest;
import dev.shardcache.internal.proto.WriteAllResponse;
import dev.shardcache.internal.proto.WriteFailure;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * The batch writes of one cache: {@code putAll} and {@code invalidateAll(keys)} from this node's
 * callers, and the {@code WriteAll} calls of peers.
 *
 * <h2>One call per holder, each key as its single write</h2>
 *
 * A batch is a set of independent single writes that share calls: the keys this node holds are
 * applied here, and the others are grouped by holder ({@link HolderGroups}) so that each holder
 * gets one {@code WriteAll} call for all of its keys, all holders at once. Each key keeps every
 * rule of {@link WritePath}: it is versioned and merged by a holder, sent to its other holders and
 * awaited (at most half of {@code remoteTimeout}, the entries of all keys to one replica in one
 * call) before the holder answers; a node that receives keys it does not hold passes them on once,
 * marked {@code forwarded}, grouped by holder in turn, and answers {@code ABORTED} for the keys it
 * could pass to nobody; a key whose holder is unreachable or answered {@code ABORTED} goes to its
 * next holder.
 *
 * <h2>Partial failure</h2>
 *
 * Every key and value is encoded and checked before anything is sent, so bad input fails the whole
 * call with nothing applied. After that, keys succeed or fail one by one: a key is <em>not
 * applied</em> when none of its holders could be reached or a holder refused the call (a receiver
 * checks a whole request before applying any of it), and of <em>unknown outcome</em> when a holder
 * received it but did not answer in time (or failed unexpectedly). The caller gets a {@link
 * BatchWriteException} naming both sets; every key it does not name was acknowledged.
 *
 * <p>Thread-safe; blocks for at most a few call deadlines, as single writes do.
 */
final class BatchWrites<K, V> {
  private final CacheScope<K, V> scope;
  private final LoadFlights<K, V> flights;
  private final LoadFlights<K, V> copies;
  private final RemoteReads<K, V> remote;
  private final Replication<K, V> replication;

  BatchWrites(
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

  /** One write of a batch, checked and routed under this node's ring. */
  @SuppressWarnings("ArrayRecordComponent") // never compared or hashed
  private record Write<K, V>(
      K key, KeyRoute route, @Nullable V value, byte @Nullable [] valueBytes) {}

  /** A write no holder acknowledged: the last failure, and whether every holder was tried. */
  private record Failed(PeerCalls.PeerCallException cause, boolean exhausted) {}

  /** One {@code WriteAll} call to {@code holder}, carrying {@code writes}. */
  private record Call(
      String holder,
      List<HolderGroups.Pending<KeyWrite>> writes,
      CompletableFuture<WriteAllResponse> answer) {}

  // ---------------------------------------------------------------- this node's callers

  void putAll(Map<? extends K, ? extends V> entries) {
    List<K> keys = new ArrayList<>(entries.size());
    List<@Nullable V> values = new ArrayList<>(entries.size());
    for (Map.Entry<? extends K, ? extends V> entry : entries.entrySet()) {
      keys.add(requireNonNull(entry.getKey(), "entries must not have a null key"));
      values.add(requireNonNull(entry.getValue(), "entries must not have a null value"));
    }
    writeAll(keys, values, "putAll");
  }

  void invalidateAll(Iterable<? extends K> keys) {
    Set<K> distinct = new LinkedHashSet<>();
    for (K key : keys) {
      distinct.add(requireNonNull(key, "keys must not contain null"));
    }
    List<@Nullable V> none = new ArrayList<>(distinct.size());
    distinct.forEach(key -> none.add(null));
    writeAll(new ArrayList<>(distinct), none, "invalidateAll");
  }

  /** Writes {@code values.get(i)} (null: a delete) for each {@code keys.get(i)}. */
  private void writeAll(List<K> keys, List<@Nullable V> values, String operation) {
    if (keys.isEmpty()) {
      return;
    }
    Cluster cluster = scope.clusters().get();
    // Check every write before any is applied or sent: bad input must leave the cache untouched.
    List<Write<K, V>> writes = new ArrayList<>(keys.size());
    for (int i = 0; i < keys.size(); i++) {
      K key = keys.get(i);
      V value = values.get(i);
      KeyRoute route = scope.router().route(cluster, key);
      writes.add(
          new Write<>(key, route, value, value == null ? null : scope.codec().encodeValue(value)));
    }
    List<Write<K, V>> here = new ArrayList<>();
    List<HolderGroups.Pending<KeyWrite>> away = new ArrayList<>();
    for (int i = 0; i < writes.size(); i++) {
      Write<K, V> write = writes.get(i);
      detach(write.key()); // no reader arriving after this write joins a read from before it
      if (write.route().holdsHere()) {
        here.add(write);
      } else {
        away.add(
            new HolderGroups.Pending<>(
                i, keyWrite(write.route(), write.valueBytes()), write.route().holders()));
      }
    }
    Duration deadline = scope.config().remoteTimeout();
    Map<Integer, Failed> failed =
        sendToHolders(cluster, away, deadline, false, () -> applyHere(cluster, here));
    if (!failed.isEmpty()) {
      throw failure(operation, keys, failed, deadline);
    }
  }

  private static KeyWrite keyWrite(KeyRoute route, byte @Nullable [] valueBytes) {
    KeyWrite.Builder write = KeyWrite.newBuilder().setKey(ByteString.copyFrom(route.keyBytes()));
    if (valueBytes != null) {
      write.setValue(ByteString.copyFrom(valueBytes));
    }
    return write.build();
  }

  private BatchWriteException failure(
      String operation, List<K> keys, Map<Integer, Failed> failed, Duration deadline) {
    List<K> notApplied = new ArrayList<>();
    List<K> unknown = new ArrayList<>();
    ShardcacheException first = null;
    for (Map.Entry<Integer, Failed> key : failed.entrySet()) {
      PeerCalls.PeerCallException cause = key.getValue().cause();
      if (isOutcomeUnknown(cause)) {
        unknown.add(keys.get(key.getKey()));
      } else {
        notApplied.add(keys.get(key.getKey()));
      }
      if (first == null) {
        first = cause.forWrite(scope.name(), operation, deadline);
      }
    }
    return new BatchWriteException(
        operation
            + " of cache '"
            + scope.name()
            + "': "
            + notApplied.size()
            + " of "
            + keys.size()
            + " keys not applied (retry them), "
            + unknown.size()
            + " of unknown outcome (read them, or repeat their writes); the other "
            + (keys.size() - failed.size())
            + " were applied. The first failure: "
            + (first == null ? "none" : first.getMessage()),
        notApplied,
        unknown,
        first);
  }

  /**
   * Whether a write that failed this way may have been applied: its holder was slow, or failed
   * unexpectedly. Any other answer of a holder is given before it applies anything (it checks the
   * whole request first), and an unreachable holder got nothing.
   */
  private static boolean isOutcomeUnknown(PeerCalls.PeerCallException cause) {
    return switch (cause.failure()) {
      case SLOW -> true;
      case UNREACHABLE -> false;
      case REFUSED ->
          switch (cause.status().getCode()) {
            case INTERNAL, UNKNOWN, DATA_LOSS -> true;
            default -> false;
          };
    };
  }

  /**
   * Applies writes of keys this node holds (or was sent as their holder): versions each with this
   * node's clock, merges it, then sends each other holder its entries in one call and waits for
   * them (bounded), as {@link WritePath} does for one write.
   */
  private void applyHere(Cluster cluster, List<Write<K, V>> writes) {
    if (writes.isEmpty()) {
      return;
    }
    Map<String, List<VersionedEntry>> toHolders = new LinkedHashMap<>();
    List<ByteString> written = new ArrayList<>(writes.size());
    for (Write<K, V> write : writes) {
      Version version = new Version(cluster.clock().now(), cluster.writerId());
      V value = write.value();
      Versioned<V> entry =
          value == null ? Versioned.tombstone(version) : Versioned.of(value, version);
      KeyRoute route = write.route();
      scope.shard().merge(write.key(), entry, 0, route.holdsHere() ? route.epoch() : -1);
      detach(write.key());
      VersionedEntry wire =
          EntryCodec.toWire(ByteString.copyFrom(route.keyBytes()), write.valueBytes(), version, 0);
      for (String holder : route.holders()) {
        if (!cluster.isSelf(holder)) {
          toHolders.computeIfAbsent(holder, h -> new ArrayList<>()).add(wire);
        }
      }
      written.add(wire.getKey());
    }
    replication.invalidateNearCaches(cluster, written);
    List<ByteString> markedElsewhere = replication.sendAllBeforeAck(cluster, toHolders);
    if (!markedElsewhere.isEmpty()) {
      replication.invalidateNearCaches(cluster, markedElsewhere, true);
    }
  }

  private void detach(K key) {
    flights.detach(key);
    copies.detach(key);
    remote.detach(key);
  }

  /**
   * Sends {@code pending} to their holders, one {@code WriteAll} call per holder (and chunk), all
   * at once, running {@code meanwhile} once the first calls are out; then sends the writes that a
   * holder did not apply (unreachable, or {@code ABORTED}: not a holder) to their next holders, and
   * so on until every write was applied or failed. Returns the failed ones by their index.
   */
  private Map<Integer, Failed> sendToHolders(
      Cluster cluster,
      List<HolderGroups.Pending<KeyWrite>> pending,
      Duration deadline,
      boolean forwarded,
      Runnable meanwhile) {
    Map<Integer, Failed> failed = new TreeMap<>();
    Collection<HolderGroups.Pending<KeyWrite>> round = pending;
    boolean first = true;
    while (true) {
      List<HolderGroups.Pending<KeyWrite>> exhausted = new ArrayList<>();
      List<Call> calls = new ArrayList<>();
      HolderGroups.byNextHolder(round, cluster::isSelf, exhausted)
          .forEach(
              (holder, writes) -> {
                for (List<HolderGroups.Pending<KeyWrite>> chunk :
                    HolderGroups.chunks(
                        writes,
                        write -> write.write.getSerializedSize(),
                        CacheConfig.MAX_KEYS_PER_BATCH,
                        scope.maxBatchBytes())) {
                  calls.add(call(cluster, holder, chunk, deadline, forwarded));
                }
              });
      for (HolderGroups.Pending<KeyWrite> write : exhausted) {
        failed.put(write.index, new Failed(lastFailure(cluster, write), true));
      }
      if (first) {
        meanwhile.run();
        first = false;
      }
      if (calls.isEmpty()) {
        return failed;
      }
      Set<HolderGroups.Pending<KeyWrite>> next = new LinkedHashSet<>();
      for (Call call : calls) {
        PeerCalls.Outcome<WriteAllResponse> outcome = PeerCalls.awaitOutcome(call.answer());
        PeerCalls.PeerCallException callFailure = outcome.failure();
        if (callFailure != null) {
          for (HolderGroups.Pending<KeyWrite> write : call.writes()) {
            retryOrFail(write, callFailure, next, failed);
          }
          continue;
        }
        for (WriteFailure keyFailure : requireNonNull(outcome.response()).getFailuresList()) {
          if (keyFailure.getIndex() < 0 || keyFailure.getIndex() >= call.writes().size()) {
            continue; // names no write of the call: not an answer about any of them
          }
          Status status =
              Status.fromCodeValue(keyFailure.getCode())
                  .withDescription(keyFailure.getDescription());
          retryOrFail(
              call.writes().get(keyFailure.getIndex()),
              new PeerCalls.PeerCallException(call.holder(), PeerCalls.classify(status), status),
              next,
              failed);
        }
      }
      round = next;
    }
  }

  /** A write its holder did not apply goes to the next holder; any other failure is final. */
  private static void retryOrFail(
      HolderGroups.Pending<KeyWrite> write,
      PeerCalls.PeerCallException failure,
      Set<HolderGroups.Pending<KeyWrite>> next,
      Map<Integer, Failed> failed) {
    if (failure.isUnreachable() || failure.status().getCode() == Status.Code.ABORTED) {
      write.last = failure;
      next.add(write);
    } else {
      failed.put(write.index, new Failed(failure, false));
    }
  }

  private static PeerCalls.PeerCallException lastFailure(
      Cluster cluster, HolderGroups.Pending<KeyWrite> write) {
    PeerCalls.PeerCallException last = write.last;
    if (last != null) {
      return last;
    }
    return new PeerCalls.PeerCallException(
        cluster.self(),
        PeerCalls.Failure.UNREACHABLE,
        Status.UNAVAILABLE.withDescription(
            "no holder of the key other than this node " + write.holders()));
  }

  private Call call(
      Cluster cluster,
      String holder,
      List<HolderGroups.Pending<KeyWrite>> writes,
      Duration deadline,
      boolean forwarded) {
    WriteAllRequest.Builder request =
        WriteAllRequest.newBuilder()
            .setCache(scope.name())
            .setCaller(cluster.self())
            .setForwarded(forwarded);
    for (HolderGroups.Pending<KeyWrite> write : writes) {
      request.addWrites(write.write);
    }
    WriteAllRequest built = request.build();
    return new Call(
        holder,
        writes,
        PeerCalls.call(
            cluster.client(holder),
            holder,
            deadline,
            scope.counters(),
            stub -> stub.writeAll(built)));
  }

  // ---------------------------------------------------------------- peers' requests

  /**
   * Serves a peer's batch: checks every write, applies those of keys this node holds (all of them
   * if the request was {@code forwarded}), passes the others on once to their holders under this
   * node's ring, and answers the writes that were not acknowledged.
   */
  WriteAllResponse serveWriteAll(WriteAllRequest request) {
    if (request.getWritesCount() > CacheConfig.MAX_KEYS_PER_BATCH) {
      throw new IllegalArgumentException(
          "a batch write of cache '"
              + scope.name()
              + "' carried "
              + request.getWritesCount()
              + " writes, over the batch limit of "
              + CacheConfig.MAX_KEYS_PER_BATCH
              + "; split the batch");
    }
    Cluster cluster = scope.clusters().get();
    List<Write<K, V>> writes = new ArrayList<>(request.getWritesCount());
    for (KeyWrite wire : request.getWritesList()) {
      K key = scope.codec().decodeKey(wire.getKey());
      V value =
          wire.hasValue() ? scope.codec().decodeValue(wire.getValue(), request.getCaller()) : null;
      KeyRoute route = scope.router().route(cluster, wire.getKey().toByteArray());
      writes.add(
          new Write<>(key, route, value, wire.hasValue() ? wire.getValue().toByteArray() : null));
    }
    List<Write<K, V>> here = new ArrayList<>();
    List<HolderGroups.Pending<KeyWrite>> away = new ArrayList<>();
    for (int i = 0; i < writes.size(); i++) {
      Write<K, V> write = writes.get(i);
      if (write.route().holdsHere() || request.getForwarded()) {
        here.add(write);
      } else {
        away.add(new HolderGroups.Pending<>(i, request.getWrites(i), write.route().holders()));
      }
    }
    scope.counters().forwardedWrites.add(away.size());
    Duration deadline = scope.config().remoteTimeout().multipliedBy(3).dividedBy(4);
    Map<Integer, Failed> failed =
        sendToHolders(cluster, away, deadline, true, () -> applyHere(cluster, here));
    WriteAllResponse.Builder response = WriteAllResponse.newBuilder();
    failed.forEach(
        (index, failure) -> response.addFailures(describe(cluster, index, failure, deadline)));
    return response.build();
  }

  /** How a write this node passed on failed, as the single write's forwarding would answer. */
  private static WriteFailure describe(
      Cluster cluster, int index, Failed failure, Duration deadline) {
    PeerCalls.PeerCallException cause = failure.cause();
    WriteFailure.Builder answer = WriteFailure.newBuilder().setIndex(index);
    if (failure.exhausted()) {
      return answer
          .setCode(Status.Code.ABORTED.value())
          .setDescription(
              "node "
                  + cluster.self()
                  + " does not hold the key under its ring and could reach none of its holders;"
                  + " the write was not applied: retry (last: "
                  + cause.getMessage()
                  + ")")
          .build();
    }
    String description =
        cause.failure() == PeerCalls.Failure.SLOW
            ? "did not answer within " + deadline
            : "answered: " + cause.status().getDescription();
    return answer
        .setCode(cause.status().getCode().value())
        .setDescription(
            "holder "
                + cause.peer()
                + " of the key, to which "
                + cluster.self()
                + " passed the write, "
                + description)
        .build();
  }
}
