package dev.shardcache;

import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.VersionedEntry;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Streams one cache's versioned entries to peers in {@code Replicate} calls bounded in bytes, for
 * hand-off and anti-entropy: a walk of the shard {@linkplain #add adds} entries as it finds them,
 * and they leave in chunks, one call at a time, so neither a message nor this node's memory grows
 * with the shard.
 *
 * <h2>Invariants</h2>
 *
 * <ul>
 *   <li><b>Bounded messages.</b> A call carries at most {@code maxBatchBytes} bytes (the whole
 *       serialized request) and at most {@value #MAX_BATCH} entries; an entry larger than that on
 *       its own goes alone.
 *   <li><b>Bounded memory.</b> Entries wait in one buffer per peer; when the buffers together hold
 *       more than twice the batch bound the largest is sent, so at most about that much is held
 *       however many peers there are.
 *   <li><b>A refused entry fails alone.</b> When a peer refuses a chunk (it answered an error:
 *       {@code INVALID_ARGUMENT} for an entry it will not take, {@code RESOURCE_EXHAUSTED} for a
 *       message over its inbound limit), the chunk is split in halves and each resent, down to the
 *       single entry it refuses, which is counted, logged (at most every 10 s) and skipped: its
 *       neighbours still arrive. After {@value #MAX_REFUSED_PER_PEER} refused entries the peer is
 *       given up for this stream, so a peer that refuses everything costs a few dozen calls, not
 *       two per entry.
 *   <li><b>A peer that fails is given up.</b> Unreachable, slow (its deadline passed), or without
 *       the cache ({@code NOT_FOUND}): nothing more is sent to it by this stream; the next pass
 *       retries.
 *   <li><b>Every entry gets one receipt</b>: {@link Receipts#delivered} once the peer acknowledged
 *       the call that carried it, or {@link Receipts#notDelivered}. Receipts run on the calling
 *       thread, possibly inside {@link #add}.
 * </ul>
 *
 * <p>Blocking (each call is awaited). Not thread-safe: one pass owns a stream.
 */
final class EntryStreams<K> {
  private static final Logger logger = Logger.getLogger(EntryStreams.class.getName());
  private static final long LOG_INTERVAL_MILLIS = 10_000;
  private static final AtomicLong lastRefusalLog = new AtomicLong(Long.MIN_VALUE);

  /** The most entries in one call, whatever their size. */
  static final int MAX_BATCH = 500;

  /** The deadline of a stream whose calls are bounded only by their own timeout. */
  static final long NO_DEADLINE = Long.MAX_VALUE;

  /** Entries a peer may refuse in one stream before the stream gives up on it. */
  static final int MAX_REFUSED_PER_PEER = 16;

  /** What became of the entries added for a peer. */
  interface Receipts<K> {
    /** {@code peer} acknowledged the call that carried the entries of these keys. */
    void delivered(String peer, List<K> keys);

    /** The entries of these keys did not reach {@code peer}: it failed, or refused them. */
    void notDelivered(String peer, List<K> keys);
  }

  /**
   * The settings of a stream.
   *
   * @param deadlineNanos a {@link System#nanoTime()} value after which nothing more is sent, or
   *     {@link #NO_DEADLINE}
   */
  record Target(
      String self,
      Function<String, @Nullable PeerClient> clients,
      String cache,
      LongSupplier clearedBefore,
      Duration timeout,
      int maxBatchBytes,
      long deadlineNanos) {}

  private final Target target;
  private final Receipts<K> receipts;
  private final LongAdder refused;
  private final long entryBudget;
  private final Map<String, Buffer<K>> buffers = new LinkedHashMap<>();
  private final Map<String, Integer> refusedByPeer = new HashMap<>();
  private final Set<String> failed = new HashSet<>();
  private long bufferedBytes;
  private long sentBytes;

  /**
   * @param refused counts the entries peers refused
   */
  EntryStreams(Target target, Receipts<K> receipts, LongAdder refused) {
    this.target = target;
    this.receipts = receipts;
    this.refused = refused;
    ReplicateRequest envelope =
        ReplicateRequest.newBuilder()
            .setCaller(target.self())
            .addBatches(
                CacheBatch.newBuilder()
                    .setCache(target.cache())
                    .setClearedBefore(Long.MAX_VALUE)) // the longest varint it can be
            .build();
    // The batch's length prefix grows by up to 4 bytes once entries fill it.
    this.entryBudget = Math.max(1, target.maxBatchBytes() - envelope.getSerializedSize() - 4);
  }

  /**
   * A stream of {@code scope}'s entries from this node, every call within {@code deadlineNanos} (a
   * {@link System#nanoTime()} value, or {@link #NO_DEADLINE}) and the cache's remote timeout.
   */
  static <K> EntryStreams<K> of(
      CacheScope<K, ?> scope, Cluster cluster, long deadlineNanos, Receipts<K> receipts) {
    return new EntryStreams<>(
        new Target(
            cluster.self(),
            cluster::client,
            scope.name(),
            () -> scope.shard().clearedBefore(),
            scope.config().remoteTimeout(),
            scope.maxBatchBytes(),
            deadlineNanos),
        receipts,
        scope.counters().refusedEntries);
  }

  /** Receipts that ignore every outcome. */
  static <K> Receipts<K> ignoringReceipts() {
    return new Receipts<>() {
      @Override
      public void delivered(String peer, List<K> keys) {}

      @Override
      public void notDelivered(String peer, List<K> keys) {}
    };
  }

  /** Whether this stream gave up on {@code peer}: entries added for it are not sent. */
  boolean failed(String peer) {
    return failed.contains(peer);
  }

  /** Serialized bytes of the calls peers acknowledged so far. */
  long sentBytes() {
    return sentBytes;
  }

  /** Queues {@code wire}, the entry of {@code key}, for {@code peer}; may send (and block). */
  void add(String peer, VersionedEntry wire, K key) {
    if (failed.contains(peer)) {
      receipts.notDelivered(peer, List.of(key));
      return;
    }
    Buffer<K> buffer = buffers.computeIfAbsent(peer, p -> new Buffer<>());
    int size = HashOrderedPage.wireBytes(wire);
    if (!buffer.isEmpty()
        && (buffer.bytes + size > entryBudget || buffer.entries.size() >= MAX_BATCH)) {
      send(peer);
      buffer = buffers.computeIfAbsent(peer, p -> new Buffer<>());
    }
    buffer.entries.add(wire);
    buffer.keys.add(key);
    buffer.bytes += size;
    bufferedBytes += size;
    if (buffer.bytes >= entryBudget) {
      send(peer);
    }
    while (bufferedBytes > 2 * entryBudget) {
      send(largest());
    }
  }

  /** Sends everything still buffered. */
  void finish() {
    while (!buffers.isEmpty()) {
      send(buffers.keySet().iterator().next());
    }
  }

  private String largest() {
    String largest = "";
    long most = -1;
    for (Map.Entry<String, Buffer<K>> buffer : buffers.entrySet()) {
      if (buffer.getValue().bytes > most) {
        most = buffer.getValue().bytes;
        largest = buffer.getKey();
      }
    }
    return largest;
  }

  private void send(String peer) {
    Buffer<K> buffer = buffers.remove(peer);
    if (buffer == null) {
      return;
    }
    bufferedBytes -= buffer.bytes;
    deliver(peer, buffer.entries, buffer.keys);
  }

  /** Sends one chunk, halving it down to the entry the peer refuses; see the class comment. */
  private void deliver(String peer, List<VersionedEntry> entries, List<K> keys) {
    long left =
        target.deadlineNanos() == NO_DEADLINE
            ? Long.MAX_VALUE
            : target.deadlineNanos() - System.nanoTime();
    if (failed.contains(peer) || left <= 0) {
      failed.add(peer);
      receipts.notDelivered(peer, keys);
      return;
    }
    ReplicateRequest request =
        ReplicateRequest.newBuilder()
            .setCaller(target.self())
            .addBatches(
                CacheBatch.newBuilder()
                    .setCache(target.cache())
                    .setClearedBefore(target.clearedBefore().getAsLong())
                    .addAllEntries(entries))
            .build();
    try {
      PeerCalls.await(
          PeerCalls.call(
              target.clients().apply(peer),
              peer,
              Duration.ofNanos(Math.min(left, target.timeout().toNanos())),
              PeerCalls.Counter.NONE,
              stub -> stub.replicate(request)));
    } catch (PeerCalls.PeerCallException e) {
      if (e.failure() != PeerCalls.Failure.REFUSED
          || e.status().getCode() == Status.Code.NOT_FOUND) {
        failed.add(peer); // unreachable, slow, or without the cache yet: the next pass retries
        receipts.notDelivered(peer, keys);
      } else if (entries.size() == 1) {
        refusedAlone(peer, entries.get(0), e);
        receipts.notDelivered(peer, keys);
      } else {
        int half = entries.size() / 2;
        deliver(peer, entries.subList(0, half), keys.subList(0, half));
        deliver(peer, entries.subList(half, entries.size()), keys.subList(half, keys.size()));
      }
      return;
    }
    sentBytes += request.getSerializedSize();
    receipts.delivered(peer, keys);
  }

  private void refusedAlone(String peer, VersionedEntry entry, PeerCalls.PeerCallException e) {
    refused.increment();
    int count = refusedByPeer.merge(peer, 1, Integer::sum);
    boolean givingUp = count >= MAX_REFUSED_PER_PEER;
    if (givingUp) {
      failed.add(peer);
    }
    long now = System.currentTimeMillis();
    long last = lastRefusalLog.get();
    if (givingUp
        || (now - last >= LOG_INTERVAL_MILLIS && lastRefusalLog.compareAndSet(last, now))) {
      logger.log(
          Level.WARNING,
          "Peer {0} refused an entry of cache ''{1}'' ({2} bytes) sent by hand-off or"
              + " anti-entropy: {3} {4}; it is skipped and stays on this node.{5} Check that"
              + " every member has the same maxInboundMessageBytes, maxValueBytes and"
              + " maxClockSkew (logged at most every 10 s)",
          new Object[] {
            peer,
            target.cache(),
            entry.getSerializedSize(),
            e.status().getCode(),
            e.status().getDescription(),
            givingUp
                ? " It refused "
                    + count
                    + " entries, so nothing more is sent to it until the next pass."
                : ""
          });
    }
  }

  /** What waits for one peer. */
  private static final class Buffer<K> {
    final List<VersionedEntry> entries = new ArrayList<>();
    final List<K> keys = new ArrayList<>();
    long bytes;

    boolean isEmpty() {
      return entries.isEmpty();
    }
  }
}
