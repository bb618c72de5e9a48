package dev.shardcache;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.VersionedEntry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Sends versioned entries that need no acknowledgement (hints for holders that did not confirm a
 * write, loads, read repairs), cache-wide clears a peer missed, and near-cache invalidations, in
 * batches, off the caller's thread.
 *
 * <p>Each peer has one bounded outbound queue keyed by (cache, key): a newer write of a key
 * replaces the queued one, so the queue holds at most one entry per key and its size is bounded by
 * the number of distinct keys written, and by {@code capacityPerPeer}. While a peer is unreachable
 * or slow its queue is kept: that is the <em>hinted handoff</em>, delivered when the peer answers
 * again. When a queue is full the oldest entry is dropped and counted; the replica then converges
 * through anti-entropy instead. Enqueuing never blocks and memory never grows without bound.
 *
 * <p>A clear of a cache removes the queued entries it makes dead ({@link #dropOlderThan}), and a
 * clear queued for a peer travels in front of the entries of the same batch, so a hint can never
 * bring back what a clear removed.
 *
 * <p>Every call goes through {@link PeerCalls}: a slow peer keeps its queue and is not marked down.
 * One daemon thread drains all queues every few milliseconds, one batch of at most {@value
 * #MAX_BATCH} entries per call. Thread-safe.
 */
final class Replicator implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(Replicator.class.getName());

  static final int MAX_BATCH = 500;
  static final int DEFAULT_CAPACITY_PER_PEER = 100_000;
  private static final long DRAIN_INTERVAL_MILLIS = 5;
  private static final Duration NOT_FOUND_RETRY = Duration.ofSeconds(1);

  private final String self;
  private final Function<String, @Nullable PeerClient> clients;
  private final Duration timeout;
  private final int capacityPerPeer;
  private final Map<String, PeerQueue> queues = new ConcurrentHashMap<>();
  private final LongAdder dropped = new LongAdder();
  private final LongAdder sent = new LongAdder();
  private final ScheduledExecutorService sender;
  private final ScheduledFuture<?> draining; // ends with the sender
  private volatile boolean closed;

  Replicator(
      String self,
      Function<String, @Nullable PeerClient> clients,
      Duration timeout,
      int capacityPerPeer) {
    this.self = self;
    this.clients = clients;
    this.timeout = timeout;
    this.capacityPerPeer = capacityPerPeer;
    this.sender =
        Executors.newSingleThreadScheduledExecutor(
            new ThreadFactoryBuilder()
                .setNameFormat("shardcache-replicator")
                .setDaemon(true)
                .build());
    this.draining =
        sender.scheduleWithFixedDelay(
            this::drainAll, DRAIN_INTERVAL_MILLIS, DRAIN_INTERVAL_MILLIS, TimeUnit.MILLISECONDS);
  }

  /**
   * Queues a write of {@code cache} for {@code peer}, replacing an older queued write of the key.
   */
  void enqueue(String peer, String cache, VersionedEntry entry) {
    if (!closed) {
      queues.computeIfAbsent(peer, p -> new PeerQueue()).addEntry(cache, entry);
    }
  }

  /**
   * For tests: near-cache invalidations matching this are silently dropped, as a lossy network
   * would.
   */
  volatile java.util.function.Predicate<String> dropNearInvalidationsTo = peer -> false;

  /** Queues the removal of a key from {@code peer}'s near cache. */
  void enqueueNearInvalidation(String peer, String cache, ByteString key) {
    if (dropNearInvalidationsTo.test(peer)) {
      return;
    }
    if (!closed) {
      queues.computeIfAbsent(peer, p -> new PeerQueue()).addInvalidation(cache, key);
    }
  }

  /**
   * Queues a cache-wide clear for {@code peer}; the latest clear of a cache replaces older ones.
   */
  void enqueueClear(String peer, String cache, long clearedBefore) {
    if (!closed) {
      queues.computeIfAbsent(peer, p -> new PeerQueue()).addClear(cache, clearedBefore);
    }
  }

  /**
   * Removes queued entries of {@code cache} versioned before {@code clearedBefore}: they are dead.
   */
  void dropOlderThan(String cache, long clearedBefore) {
    for (PeerQueue queue : queues.values()) {
      queue.dropOlderThan(cache, clearedBefore);
    }
  }

  /** Forgets what is queued for a peer that left the membership. */
  void forget(String peer) {
    PeerQueue queue = queues.remove(peer);
    if (queue != null) {
      dropped.add(queue.size());
    }
  }

  /** Writes and invalidations queued and not yet delivered, over all peers. */
  long backlog() {
    long total = 0;
    for (PeerQueue queue : queues.values()) {
      total += queue.size();
    }
    return total;
  }

  /** Queued items dropped because a queue was full or its peer left; repaired by anti-entropy. */
  long dropped() {
    return dropped.sum();
  }

  /** Items delivered. */
  long sent() {
    return sent.sum();
  }

  private void drainAll() {
    for (Map.Entry<String, PeerQueue> entry : queues.entrySet()) {
      try {
        drain(entry.getKey(), entry.getValue());
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "Replication to " + entry.getKey() + " failed unexpectedly", e);
      }
    }
  }

  private void drain(String peer, PeerQueue queue) {
    if (!queue.due(System.nanoTime())) {
      return;
    }
    while (!closed && queue.size() > 0) {
      PeerClient client = clients.apply(peer);
      if (client == null || !client.tryAcquire()) {
        return; // keep the hints until the peer answers again
      }
      Batch batch = queue.take(MAX_BATCH);
      if (batch.isEmpty()) {
        return;
      }
      try {
        ReplicateRequest request = batch.toRequest(self);
        PeerCalls.await(
            PeerCalls.call(
                client, peer, timeout, PeerCalls.Counter.NONE, stub -> stub.replicate(request)));
        sent.add(batch.size());
      } catch (PeerCalls.PeerCallException e) {
        if (e.failure() != PeerCalls.Failure.REFUSED) {
          queue.putBack(batch); // unreachable or slow: keep the hints until it answers in time
          return;
        }
        if (e.status().getCode() == io.grpc.Status.Code.NOT_FOUND) {
          // The peer has not defined the cache yet (it is starting): keep the batch, retry later.
          queue.putBack(batch);
          queue.retryAfter(System.nanoTime() + NOT_FOUND_RETRY.toNanos());
          return;
        }
        // The peer refused the batch for another reason: retrying cannot help.
        dropped.add(batch.size());
        logger.log(
            Level.WARNING,
            "Peer {0} refused replicated writes: {1}",
            new Object[] {peer, e.status()});
      }
    }
  }

  /**
   * Stops the sender after one last attempt, of at most {@code grace}, to deliver what is queued
   * for reachable peers, so that a node closed in an orderly way leaves no replicated write behind.
   */
  void close(Duration grace) {
    long deadline = System.nanoTime() + grace.toNanos();
    draining.cancel(false); // a drain in progress finishes; no new one starts
    sender.shutdown();
    try {
      sender.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    closed = true;
    sender.shutdownNow();
    try {
      for (Map.Entry<String, PeerQueue> entry : queues.entrySet()) {
        if (deadline - System.nanoTime() <= 0) {
          break;
        }
        flush(entry.getKey(), entry.getValue(), deadline);
      }
    } catch (RuntimeException e) {
      logger.log(Level.FINE, "Final replication flush failed", e);
    }
  }

  /** Sends what is queued for a reachable peer, each call bounded by what is left of the grace. */
  private void flush(String peer, PeerQueue queue, long deadline) {
    PeerClient client = clients.apply(peer);
    if (client == null || !client.isUp()) {
      return;
    }
    while (queue.size() > 0) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return;
      }
      Batch batch = queue.take(MAX_BATCH);
      if (batch.isEmpty()) {
        return;
      }
      try {
        ReplicateRequest request = batch.toRequest(self);
        Duration callDeadline = Duration.ofNanos(Math.min(left, timeout.toNanos()));
        PeerCalls.await(
            PeerCalls.call(
                client,
                peer,
                callDeadline,
                PeerCalls.Counter.NONE,
                stub -> stub.replicate(request)));
        sent.add(batch.size());
      } catch (PeerCalls.PeerCallException e) {
        return;
      }
    }
  }

  @Override
  public void close() {
    close(Duration.ZERO);
  }

  /** (cache, key): the identity of a queued item. */
  private record Slot(String cache, ByteString key) {}

  /** What one call delivers. */
  private static final class Batch {
    final Map<Slot, VersionedEntry> entries = new LinkedHashMap<>();
    final List<Slot> invalidations = new ArrayList<>();
    final Map<String, Long> clears = new LinkedHashMap<>();

    boolean isEmpty() {
      return entries.isEmpty() && invalidations.isEmpty() && clears.isEmpty();
    }

    int size() {
      return entries.size() + invalidations.size() + clears.size();
    }

    ReplicateRequest toRequest(String caller) {
      Map<String, CacheBatch.Builder> byCache = new LinkedHashMap<>();
      clears.forEach(
          (cache, clearedBefore) ->
              byCache
                  .computeIfAbsent(cache, c -> CacheBatch.newBuilder().setCache(c))
                  .setClearedBefore(clearedBefore));
      entries.forEach(
          (slot, entry) ->
              byCache
                  .computeIfAbsent(slot.cache(), c -> CacheBatch.newBuilder().setCache(c))
                  .addEntries(entry));
      for (Slot slot : invalidations) {
        byCache
            .computeIfAbsent(slot.cache(), c -> CacheBatch.newBuilder().setCache(c))
            .addNearInvalidations(slot.key());
      }
      ReplicateRequest.Builder request = ReplicateRequest.newBuilder().setCaller(caller);
      byCache.values().forEach(request::addBatches);
      return request.build();
    }
  }

  /** The bounded queue of one peer. */
  private final class PeerQueue {
    private final LinkedHashMap<Slot, VersionedEntry> entries = new LinkedHashMap<>();
    private final LinkedHashMap<Slot, Boolean> invalidations = new LinkedHashMap<>();
    private final Map<String, Long> clears = new LinkedHashMap<>();
    private long retryAtNanos;
    private boolean waiting;

    synchronized void retryAfter(long nanos) {
      retryAtNanos = nanos;
      waiting = true;
    }

    synchronized boolean due(long now) {
      if (waiting && now - retryAtNanos < 0) {
        return false;
      }
      waiting = false;
      return true;
    }

    synchronized void addEntry(String cache, VersionedEntry entry) {
      Slot slot = new Slot(cache, entry.getKey());
      VersionedEntry queued = entries.get(slot);
      if (queued != null && isNewer(queued, entry)) {
        return; // an even newer write of the key is already queued
      }
      entries.remove(slot); // re-insert at the tail
      entries.put(slot, entry);
      trim();
    }

    synchronized void addInvalidation(String cache, ByteString key) {
      Slot slot = new Slot(cache, key);
      invalidations.remove(slot);
      invalidations.put(slot, Boolean.TRUE);
      trim();
    }

    synchronized void addClear(String cache, long clearedBefore) {
      clears.merge(cache, clearedBefore, Math::max);
      dropOlderThan(cache, clearedBefore);
    }

    synchronized void dropOlderThan(String cache, long clearedBefore) {
      entries
          .entrySet()
          .removeIf(
              e -> e.getKey().cache().equals(cache) && e.getValue().getTimestamp() < clearedBefore);
    }

    synchronized int size() {
      return entries.size() + invalidations.size() + clears.size();
    }

    synchronized Batch take(int max) {
      Batch batch = new Batch();
      batch.clears.putAll(clears); // always first: they must reach the peer before the entries
      clears.clear();
      Iterator<Map.Entry<Slot, VersionedEntry>> e = entries.entrySet().iterator();
      while (e.hasNext() && batch.size() < max) {
        Map.Entry<Slot, VersionedEntry> next = e.next();
        batch.entries.put(next.getKey(), next.getValue());
        e.remove();
      }
      Iterator<Slot> i = invalidations.keySet().iterator();
      while (i.hasNext() && batch.size() < max) {
        batch.invalidations.add(i.next());
        i.remove();
      }
      return batch;
    }

    /** Returns an undelivered batch, unless newer writes of its keys were queued meanwhile. */
    synchronized void putBack(Batch batch) {
      batch.entries.forEach(
          (slot, entry) -> {
            VersionedEntry queued = entries.get(slot);
            if (queued == null || isNewer(entry, queued)) {
              entries.put(slot, entry);
            }
          });
      batch.invalidations.forEach(slot -> invalidations.putIfAbsent(slot, Boolean.TRUE));
      batch.clears.forEach((cache, clearedBefore) -> clears.merge(cache, clearedBefore, Math::max));
      trim();
    }

    private void trim() {
      while (entries.size() + invalidations.size() > capacityPerPeer) {
        if (!invalidations.isEmpty()) {
          Iterator<Slot> oldest = invalidations.keySet().iterator();
          oldest.next();
          oldest.remove();
        } else {
          Iterator<Slot> oldest = entries.keySet().iterator();
          oldest.next();
          oldest.remove();
        }
        dropped.increment();
      }
    }
  }

  private static boolean isNewer(VersionedEntry a, VersionedEntry b) {
    return a.getTimestamp() != b.getTimestamp()
        ? a.getTimestamp() > b.getTimestamp()
        : a.getWriter() > b.getWriter();
  }
}
