package dev.shardcache;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.Refusal;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.ReplicateResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import io.grpc.Status;
import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
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
 * batches, off the caller's thread, within a memory budget.
 *
 * <p><b>Queues.</b> Each member has one {@link HintQueue}: one item per (cache, key), a newer write
 * replacing the queued one. While a peer is unreachable or slow its queue is kept: that is the
 * <em>hinted handoff</em>, delivered when the peer answers again. Queues are bounded in bytes, per
 * peer ({@link ReplicationLimits#maxBytesPerPeer}) and for the node ({@link
 * ReplicationLimits#maxBytes}, trimmed from the largest queue); past a bound the oldest items are
 * dropped, counted and logged once, and the replica converges through anti-entropy instead.
 * Enqueuing never blocks. A queue exists only for a current member: {@link #retain} removes those
 * of members that left, and an enqueue racing it either lands in a queue {@code retain} then
 * removes, or finds the peer gone; either way the item is counted as dropped and nothing is left
 * behind.
 *
 * <p><b>One call in flight per peer, none blocking.</b> One thread ticks every few milliseconds;
 * for each peer with no call in flight it takes a batch and starts the call, and the call's
 * completion settles the outcome and asks for the next batch at once. No thread waits on a peer, so
 * a slow or refusing peer never delays another. Every call goes through {@link PeerCalls}: a peer
 * that is unreachable or slow keeps its queue and is not marked down by this class.
 *
 * <p><b>Batches.</b> A call carries at most {@value #MAX_BATCH} items and {@link
 * ReplicationLimits#maxRequestBytes} bytes serialized (see {@link ReplicateBatch}); an item larger
 * than that goes alone. A clear travels in front of its cache's entries, so a hint can never bring
 * back what a clear removed; a clear of a cache also removes the queued entries it makes dead
 * ({@link #dropOlderThan}).
 *
 * <p><b>Refusals.</b> Requests ask the peer to report refused parts instead of failing the call,
 * so:
 *
 * <ul>
 *   <li>an entry the peer refuses (malformed, too large, stamped too far ahead) is dropped alone,
 *       counted and logged once; its batch-mates are applied;
 *   <li>a cache the peer does not define (it is starting, or runs an older configuration) is parked
 *       for {@link #RETRY_PAUSE} and retried while the other caches flow; after {@link
 *       ReplicationLimits#refusalGrace} of such answers its items are dropped, counted and logged
 *       once (the <em>dead letter</em> rule), and anti-entropy repairs the replica once it defines
 *       the cache;
 *   <li>a request refused for want of resources (a peer with a smaller inbound message limit, or
 *       too many calls) is retried in halves after a pause; a single item refused so for the grace
 *       period is dropped;
 *   <li>any other refusal of a whole call (only older peers send those) drops its batch, counted.
 * </ul>
 *
 * <p>Memory: at most {@link ReplicationLimits#maxBytes} queued, plus one request in flight per
 * peer. Thread-safe.
 */
final class Replicator implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(Replicator.class.getName());

  /** The most items (clears, entries, invalidations) one call carries. */
  static final int MAX_BATCH = 500;

  /** How long a cache the peer lacks, or a peer out of resources, waits before a retry. */
  static final Duration RETRY_PAUSE = Duration.ofSeconds(1);

  private static final long DRAIN_INTERVAL_MILLIS = 5;

  private final String self;
  private final Function<String, @Nullable PeerClient> clients;
  private final Duration timeout;
  private final ReplicationLimits limits;
  private final Map<String, HintQueue> queues = new ConcurrentHashMap<>();
  private final HintQueue.Totals totals = new HintQueue.Totals();
  private final LongAdder refused = new LongAdder();
  private final LongAdder sent = new LongAdder();
  private final ScheduledExecutorService sender;
  private final ScheduledFuture<?> ticking; // ends with the sender
  private final Object settled = new Object(); // notified when a call ends, for the final flush
  private volatile Set<String> members = Set.of();
  private volatile boolean closed;

  Replicator(
      String self,
      Function<String, @Nullable PeerClient> clients,
      Duration timeout,
      ReplicationLimits limits) {
    this.self = self;
    this.clients = clients;
    this.timeout = timeout;
    this.limits = limits;
    this.sender =
        Executors.newSingleThreadScheduledExecutor(
            new ThreadFactoryBuilder()
                .setNameFormat("shardcache-replicator")
                .setDaemon(true)
                .build());
    this.ticking =
        sender.scheduleWithFixedDelay(
            this::tick, DRAIN_INTERVAL_MILLIS, DRAIN_INTERVAL_MILLIS, TimeUnit.MILLISECONDS);
  }

  // ---------------------------------------------------------------- membership

  /**
   * Makes {@code peers} the members items may be queued for, and drops (counted) the queues of
   * every other peer.
   */
  void retain(Collection<String> peers) {
    members = Set.copyOf(peers); // before the removals: see the class documentation
    for (String peer : queues.keySet()) {
      if (!members.contains(peer)) {
        forget(peer);
      }
    }
  }

  /** Drops, counted, what is queued for {@code peer}; a member gets a new queue when needed. */
  void forget(String peer) {
    HintQueue queue = queues.remove(peer);
    if (queue != null) {
      queue.retire();
    }
  }

  /** The queue of {@code peer}, made if it is a member; null if it is not, or this is closed. */
  private @Nullable HintQueue queueOf(String peer) {
    HintQueue queue = queues.get(peer);
    if (queue != null || closed) {
      return queue;
    }
    return queues.computeIfAbsent(
        peer,
        p ->
            members.contains(p)
                ? new HintQueue(limits.maxBytesPerPeer(), limits.maxRequestBytes(), totals)
                : null);
  }

  // ---------------------------------------------------------------- queueing

  /**
   * Queues a write of {@code cache} for {@code peer}, replacing an older queued write of the key.
   */
  void enqueue(String peer, String cache, VersionedEntry entry) {
    if (closed) {
      return;
    }
    HintQueue queue = queueOf(peer);
    if (queue == null) {
      totals.dropped.increment(); // not a member (any more): hand-off and anti-entropy cover it
      return;
    }
    overBudget(peer, queue, queue.addEntry(cache, entry));
  }

  /**
   * For tests: near-cache invalidations matching this are silently dropped, as a lossy network
   * would.
   */
  volatile java.util.function.Predicate<String> dropNearInvalidationsTo = peer -> false;

  /** Queues the removal of a key from {@code peer}'s near cache. */
  void enqueueNearInvalidation(String peer, String cache, ByteString key) {
    if (closed || dropNearInvalidationsTo.test(peer)) {
      return;
    }
    HintQueue queue = queueOf(peer);
    if (queue == null) {
      totals.dropped.increment();
      return;
    }
    overBudget(peer, queue, queue.addInvalidation(cache, key));
  }

  /**
   * Queues a cache-wide clear for {@code peer}; the latest clear of a cache replaces older ones.
   */
  void enqueueClear(String peer, String cache, long clearedBefore) {
    HintQueue queue = closed ? null : queueOf(peer);
    if (queue != null) {
      queue.addClear(cache, clearedBefore);
    }
  }

  /**
   * Removes queued entries of {@code cache} versioned before {@code clearedBefore}: they are dead.
   */
  void dropOlderThan(String cache, long clearedBefore) {
    for (HintQueue queue : queues.values()) {
      queue.dropOlderThan(cache, clearedBefore);
    }
  }

  /**
   * Logs (once per episode) what the per-peer budget dropped, then trims the node's total from the
   * largest queues.
   */
  private void overBudget(String peer, HintQueue queue, int droppedForPeer) {
    if (droppedForPeer > 0 && queue.firstNotice("peer budget")) {
      logger.log(
          Level.WARNING,
          "Node {0}: hints for {1} are over maxHintBytesPerPeer ({2} bytes); the oldest are"
              + " dropped, counted in replicationDropped, and anti-entropy repairs the replica"
              + " (logged once until the queue drains)",
          new Object[] {self, peer, limits.maxBytesPerPeer()});
    }
    while (totals.bytes.get() > limits.maxBytes()) {
      Map.Entry<String, HintQueue> largest = null;
      long most = 0;
      for (Map.Entry<String, HintQueue> candidate : queues.entrySet()) {
        long bytes = candidate.getValue().bytes();
        if (bytes > most) {
          most = bytes;
          largest = candidate;
        }
      }
      if (largest == null || !largest.getValue().dropOldest()) {
        return; // what is over is in flight, or another thread trimmed meanwhile
      }
      if (largest.getValue().firstNotice("node budget")) {
        logger.log(
            Level.WARNING,
            "Node {0}: hints for all peers are over maxHintBytes ({1} bytes); the oldest for {2},"
                + " the largest queue, are dropped, counted in replicationDropped, and"
                + " anti-entropy repairs the replica (logged once until the queue drains)",
            new Object[] {self, limits.maxBytes(), largest.getKey()});
      }
    }
  }

  // ---------------------------------------------------------------- reading

  /** Writes, clears and invalidations not yet delivered (queued or in flight), over all peers. */
  long backlog() {
    long total = 0;
    for (HintQueue queue : queues.values()) {
      total += queue.size();
    }
    return total;
  }

  /** Bytes queued over all peers, as {@link HintQueue} counts them. */
  long queuedBytes() {
    return totals.bytes.get();
  }

  /** The peers that have a queue now. */
  Set<String> queuedPeers() {
    return Set.copyOf(queues.keySet());
  }

  /**
   * Items dropped undelivered: over a budget, for a peer that left, or refused by a peer for good;
   * anti-entropy repairs what they carried.
   */
  long dropped() {
    return totals.dropped.sum();
  }

  /** Of {@link #dropped()}, the items peers refused. */
  long refused() {
    return refused.sum();
  }

  /** Items delivered. */
  long sent() {
    return sent.sum();
  }

  // ---------------------------------------------------------------- sending

  private void tick() {
    queues.forEach(this::pumpLogged);
  }

  private void pumpLogged(String peer, HintQueue queue) {
    try {
      pump(peer, queue, false, 0);
    } catch (RuntimeException e) {
      logger.log(Level.WARNING, "Replication to " + peer + " failed unexpectedly", e);
    }
  }

  /**
   * Starts the next call to {@code peer} if none is in flight and something is due; returns whether
   * one started. When {@code flushing}, only a peer that is up is called (no probe of a down one),
   * and the call ends by {@code flushDeadline}.
   */
  private boolean pump(String peer, HintQueue queue, boolean flushing, long flushDeadline) {
    if (queue.size() == 0 || queue.inFlight()) {
      return false;
    }
    PeerClient client = clients.apply(peer);
    if (client == null || !(flushing ? client.isUp() : client.tryAcquire())) {
      return false; // keep the hints until the peer answers again
    }
    long now = System.nanoTime();
    ReplicateBatch batch = queue.take(self, MAX_BATCH, now);
    if (batch == null) {
      return false;
    }
    Duration deadline =
        flushing ? Duration.ofNanos(Math.min(timeout.toNanos(), flushDeadline - now)) : timeout;
    ReplicateRequest request = batch.toRequest();
    PeerCalls.call(client, peer, deadline, PeerCalls.Counter.NONE, stub -> stub.replicate(request))
        .whenComplete((response, failure) -> settle(peer, queue, batch, response, failure));
    return true;
  }

  /** Settles a call's outcome, then lets the next batch for the peer go. Runs on gRPC threads. */
  private void settle(
      String peer,
      HintQueue queue,
      ReplicateBatch batch,
      @Nullable ReplicateResponse response,
      @Nullable Throwable failure) {
    try {
      if (failure == null && response != null) {
        delivered(peer, queue, batch, response);
      } else if (failure instanceof PeerCalls.PeerCallException failed) {
        failed(peer, queue, batch, failed);
      } else {
        putBack(peer, queue, batch);
        logger.log(Level.WARNING, "Replication to " + peer + " failed unexpectedly", failure);
      }
    } catch (RuntimeException e) {
      logger.log(Level.WARNING, "Settling a replication call to " + peer + " failed", e);
    } finally {
      queue.callEnded();
      next(peer, queue);
    }
  }

  /** Sends the peer's next batch now rather than at the next tick; wakes the final flush. */
  private void next(String peer, HintQueue queue) {
    if (closed) {
      synchronized (settled) {
        settled.notifyAll();
      }
      return;
    }
    try {
      sender.execute(() -> pumpLogged(peer, queue));
    } catch (RejectedExecutionException closing) {
      // The final flush takes over.
    }
  }

  /** The peer answered: everything it did not list as refused was applied. */
  private void delivered(
      String peer, HintQueue queue, ReplicateBatch batch, ReplicateResponse response) {
    long now = System.nanoTime();
    int notApplied = 0;
    Set<ReplicateBatch.Part> refusedWhole = new HashSet<>();
    for (Refusal refusal : response.getRefusedList()) {
      ReplicateBatch.Part part = batch.part(refusal.getBatch());
      if (part == null || refusedWhole.contains(part)) {
        continue; // an index this request does not have
      }
      if (refusal.hasEntry() || refusal.hasNearInvalidation()) {
        notApplied++;
        deadLetter(peer, queue, part.cache, 1, refusal.getCode(), refusal.getDescription());
        continue;
      }
      refusedWhole.add(part);
      notApplied += part.items();
      if (refusal.getCode() == Status.Code.NOT_FOUND.value()) {
        unknownCache(peer, queue, part, now, refusal.getDescription());
      } else {
        deadLetter(
            peer, queue, part.cache, part.items(), refusal.getCode(), refusal.getDescription());
      }
    }
    for (ReplicateBatch.Part part : batch.parts()) {
      if (!refusedWhole.contains(part)) {
        queue.knownCache(part.cache);
      }
    }
    sent.add(batch.items() - notApplied);
    queue.delivered(limits.maxRequestBytes());
  }

  /** The whole call failed. */
  private void failed(
      String peer, HintQueue queue, ReplicateBatch batch, PeerCalls.PeerCallException e) {
    if (e.failure() != PeerCalls.Failure.REFUSED) {
      putBack(peer, queue, batch); // unreachable or slow: keep the hints until it answers in time
      return;
    }
    long now = System.nanoTime();
    Status status = e.status();
    switch (status.getCode()) {
      case NOT_FOUND -> {
        // A peer that checks every cache before applying any: each part waits for its cache.
        for (ReplicateBatch.Part part : batch.parts()) {
          unknownCache(peer, queue, part, now, String.valueOf(status.getDescription()));
        }
      }
      case RESOURCE_EXHAUSTED -> {
        // Several items are tried again at once in smaller requests; one alone after a pause.
        boolean alone = batch.items() == 1;
        long refusingFor =
            queue.exhausted(batch.bytes(), now, alone ? now + RETRY_PAUSE.toNanos() : now);
        if (alone && refusingFor >= limits.refusalGrace().toNanos()) {
          ReplicateBatch.Part part = batch.parts().get(0);
          deadLetter(peer, queue, part.cache, 1, status.getCode().value(), describe(status));
        } else {
          putBack(peer, queue, batch); // in smaller requests, after a pause
        }
      }
      default -> {
        // Refused as a whole, by a peer that does not report refusals one by one.
        for (ReplicateBatch.Part part : batch.parts()) {
          deadLetter(
              peer, queue, part.cache, part.items(), status.getCode().value(), describe(status));
        }
      }
    }
  }

  /**
   * The peer has no cache {@code part.cache}: the part waits for a retry, unless the peer has been
   * answering so for the grace period; then it and the rest of the cache's queue are dropped.
   */
  private void unknownCache(
      String peer, HintQueue queue, ReplicateBatch.Part part, long now, String description) {
    queue.park(part.cache, now + RETRY_PAUSE.toNanos());
    if (queue.unknownCache(part.cache, now) < limits.refusalGrace().toNanos()) {
      overBudget(peer, queue, queue.putBack(part));
      return;
    }
    int dropped = part.items() + queue.dropCache(part.cache);
    totals.dropped.add(part.items());
    refused.add(dropped);
    if (queue.firstNotice("unknown cache " + part.cache)) {
      logger.log(
          Level.WARNING,
          "Node {0}: peer {1} has not defined cache ''{2}'' for {3}; its replicated writes to it"
              + " are dropped ({4} so far, counted in replicationDropped) until it does, and"
              + " anti-entropy repairs the replica then: define the cache on every member ({5})",
          new Object[] {self, peer, part.cache, limits.refusalGrace(), dropped, description});
    }
  }

  /** Drops {@code items} of {@code cache} the peer refused for good: counted, logged once. */
  private void deadLetter(
      String peer, HintQueue queue, String cache, int items, int code, String description) {
    totals.dropped.add(items);
    refused.add(items);
    if (queue.firstNotice("refused " + cache + " " + code)) {
      logger.log(
          Level.WARNING,
          "Node {0}: peer {1} refused replicated writes of cache ''{2}'' ({3}: {4}); they are"
              + " dropped, counted in replicationDropped, and anti-entropy repairs the replica"
              + " once the cause is fixed (logged once until the queue drains)",
          new Object[] {self, peer, cache, Status.fromCodeValue(code).getCode(), description});
    }
  }

  private void putBack(String peer, HintQueue queue, ReplicateBatch batch) {
    for (ReplicateBatch.Part part : batch.parts()) {
      overBudget(peer, queue, queue.putBack(part));
    }
  }

  private static String describe(Status status) {
    return status.getDescription() == null ? "" : status.getDescription();
  }

  // ---------------------------------------------------------------- closing

  /**
   * Stops the sender after one last attempt, of at most {@code grace} in all, to deliver what is
   * queued for reachable peers, so that a node closed in an orderly way leaves no replicated write
   * behind. Peers are flushed side by side, one call in flight each.
   */
  void close(Duration grace) {
    long deadline = System.nanoTime() + grace.toNanos();
    ticking.cancel(false); // a tick in progress finishes; no new one starts
    sender.shutdown();
    try {
      sender.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    closed = true;
    sender.shutdownNow();
    try {
      flush(deadline);
    } catch (RuntimeException e) {
      logger.log(Level.FINE, "Final replication flush failed", e);
    }
  }

  /** Sends what is queued for peers that are up until all is sent, or {@code deadline}. */
  private void flush(long deadline) {
    while (true) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return;
      }
      boolean busy = false;
      for (Map.Entry<String, HintQueue> entry : queues.entrySet()) {
        HintQueue queue = entry.getValue();
        busy |= queue.inFlight() || pump(entry.getKey(), queue, true, deadline);
      }
      if (!busy) {
        return;
      }
      if (queues.values().stream().noneMatch(HintQueue::inFlight)) {
        continue; // the calls started have already ended: start the next ones
      }
      synchronized (settled) {
        try {
          settled.wait(Math.max(1, Math.min(10, TimeUnit.NANOSECONDS.toMillis(left))));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  @Override
  public void close() {
    close(Duration.ZERO);
  }
}
