package dev.shardcache;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.VersionedEntry;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;

/**
 * What the {@link Replicator} holds for one peer: writes (hints), cache-wide clears and near-cache
 * invalidations not yet delivered, and the state of the one call in flight to it. All of it goes
 * when the peer leaves the membership ({@link #retire}).
 *
 * <p><b>One item per key.</b> Items are kept per cache, in the order they were queued. A newer
 * write of a key replaces the queued one (and moves to the tail); an older one is ignored; the
 * latest clear of a cache replaces older ones and removes the entries it makes dead. So a queue
 * never holds more than one write per key, however often the key is written while the peer is away.
 *
 * <p><b>Bounded in bytes.</b> Each write and invalidation is counted at its serialized size plus
 * {@value #ITEM_OVERHEAD_BYTES} bytes for the objects that hold it, in this queue's {@link
 * #bytes()} and in the node's total ({@link Totals#bytes}). Past {@code maxBytes} the oldest items
 * are dropped, invalidations first (a lost one is bounded by the near cache's TTL), then writes
 * (anti-entropy repairs them); each drop is counted. Clears are not counted: one per cache at most.
 * Items taken for the call in flight leave the count until they are put back, at the tail: a batch
 * that failed is the newest to the budget, and is tried again after what was queued meanwhile.
 *
 * <p><b>A cache the peer lacks is parked, not the peer.</b> A cache whose batch the peer refused
 * waits ({@link #park}) while the other caches' items keep flowing.
 *
 * <p>Thread-safe: every method holds this queue's monitor, and none blocks or calls out.
 */
final class HintQueue {
  /** What a queued item costs on the heap beyond its serialized bytes, about: maps, records. */
  static final int ITEM_OVERHEAD_BYTES = 160;

  /** Counters shared by all the queues of one node. */
  static final class Totals {
    /** Bytes queued for all peers, as {@link HintQueue#bytes()} counts them. */
    final AtomicLong bytes = new AtomicLong();

    /** Items dropped, for any reason: budget, departed peer, refused for good. */
    final LongAdder dropped = new LongAdder();
  }

  private record Queued(VersionedEntry entry, long seq, int bytes) {}

  private record Invalidation(long seq, int bytes) {}

  /** One cache's items, and whether the peer is known to lack the cache. */
  private static final class CacheHints {
    final LinkedHashMap<ByteString, Queued> entries = new LinkedHashMap<>();
    final LinkedHashMap<ByteString, Invalidation> invalidations = new LinkedHashMap<>();
    long clearedBefore; // 0: none queued
    boolean parked;
    long parkedUntilNanos;
    boolean unknown; // the peer answered that it has no such cache
    long unknownSinceNanos;

    boolean isEmpty() {
      return entries.isEmpty() && invalidations.isEmpty() && clearedBefore == 0;
    }
  }

  private final long maxBytes;
  private final Totals totals;
  private final Map<String, CacheHints> caches = new LinkedHashMap<>();
  private final Set<String> noticed = new HashSet<>();
  private long bytes;
  private int items;
  private long nextSeq;
  private boolean retired;
  private boolean inFlight;
  private int inFlightItems;
  private long pausedUntilNanos;
  private boolean paused;
  private long requestLimit;
  private long exhaustedSinceNanos;
  private boolean exhausted;

  /** A queue of at most {@code maxBytes} whose calls carry at most {@code maxRequestBytes}. */
  HintQueue(long maxBytes, long maxRequestBytes, Totals totals) {
    this.maxBytes = maxBytes;
    this.requestLimit = maxRequestBytes;
    this.totals = totals;
  }

  // ---------------------------------------------------------------- queueing

  /**
   * Queues a write of {@code cache}, replacing an older queued write of its key; returns how many
   * items the per-peer budget dropped to make room.
   */
  synchronized int addEntry(String cache, VersionedEntry entry) {
    if (retired) {
      totals.dropped.increment();
      return 0;
    }
    CacheHints hints = caches.computeIfAbsent(cache, c -> new CacheHints());
    Queued queued = hints.entries.get(entry.getKey());
    if (queued != null) {
      if (isNewer(queued.entry(), entry)) {
        return 0; // an even newer write of the key is already queued
      }
      hints.entries.remove(entry.getKey()); // re-inserted at the tail
      count(-1, -queued.bytes());
    }
    int size = entry.getSerializedSize() + ITEM_OVERHEAD_BYTES;
    hints.entries.put(entry.getKey(), new Queued(entry, nextSeq++, size));
    count(1, size);
    return trim();
  }

  /**
   * Queues the removal of {@code key} from the peer's near cache; returns how many were dropped.
   */
  synchronized int addInvalidation(String cache, ByteString key) {
    if (retired) {
      totals.dropped.increment();
      return 0;
    }
    CacheHints hints = caches.computeIfAbsent(cache, c -> new CacheHints());
    Invalidation queued = hints.invalidations.remove(key);
    if (queued != null) {
      count(-1, -queued.bytes());
    }
    int size = key.size() + ITEM_OVERHEAD_BYTES;
    hints.invalidations.put(key, new Invalidation(nextSeq++, size));
    count(1, size);
    return trim();
  }

  /** Queues a clear of {@code cache}; the latest clear replaces older ones. */
  synchronized void addClear(String cache, long clearedBefore) {
    if (retired) {
      return;
    }
    CacheHints hints = caches.computeIfAbsent(cache, c -> new CacheHints());
    if (hints.clearedBefore == 0) {
      items++;
    }
    hints.clearedBefore = Math.max(hints.clearedBefore, clearedBefore);
    dropOlderThan(cache, clearedBefore);
  }

  /** Removes the queued writes of {@code cache} versioned before {@code clearedBefore}: dead. */
  synchronized void dropOlderThan(String cache, long clearedBefore) {
    CacheHints hints = caches.get(cache);
    if (hints == null) {
      return;
    }
    Iterator<Queued> queued = hints.entries.values().iterator();
    while (queued.hasNext()) {
      Queued next = queued.next();
      if (next.entry().getTimestamp() < clearedBefore) {
        queued.remove();
        count(-1, -next.bytes());
      }
    }
  }

  /**
   * Drops the oldest invalidation, or else the oldest write, of any cache; returns false if there
   * was none.
   */
  synchronized boolean dropOldest() {
    CacheHints oldestIn = null;
    long oldest = Long.MAX_VALUE;
    for (CacheHints hints : caches.values()) {
      if (!hints.invalidations.isEmpty()) {
        long seq = hints.invalidations.values().iterator().next().seq();
        if (seq < oldest) {
          oldest = seq;
          oldestIn = hints;
        }
      }
    }
    if (oldestIn != null) {
      Iterator<Invalidation> first = oldestIn.invalidations.values().iterator();
      count(-1, -first.next().bytes());
      first.remove();
      totals.dropped.increment();
      return true;
    }
    for (CacheHints hints : caches.values()) {
      if (!hints.entries.isEmpty()) {
        long seq = hints.entries.values().iterator().next().seq();
        if (seq < oldest) {
          oldest = seq;
          oldestIn = hints;
        }
      }
    }
    if (oldestIn == null) {
      return false;
    }
    Iterator<Queued> first = oldestIn.entries.values().iterator();
    count(-1, -first.next().bytes());
    first.remove();
    totals.dropped.increment();
    return true;
  }

  /** Drops the oldest items until the queue is within its budget; returns how many. */
  private int trim() {
    int dropped = 0;
    while (bytes > maxBytes && dropOldest()) {
      dropped++;
    }
    return dropped;
  }

  /**
   * Empties the queue for good, counting what it held as dropped: its peer left. Whatever is added
   * or put back later is dropped and counted at once.
   */
  synchronized void retire() {
    retired = true;
    totals.dropped.add(items);
    count(-items, -bytes);
    caches.clear();
  }

  // ---------------------------------------------------------------- sending

  /**
   * Takes the next batch for {@code caller} to send, of at most {@code maxItems} items and this
   * queue's request limit in bytes, and marks a call in flight; returns null if a call is already
   * in flight, the queue is paused, or nothing is due. Caches take turns in leading a batch.
   */
  synchronized @Nullable ReplicateBatch take(String caller, int maxItems, long now) {
    if (inFlight || retired || (paused && now - pausedUntilNanos < 0)) {
      return null;
    }
    paused = false;
    ReplicateBatch batch = new ReplicateBatch(caller, requestLimit, maxItems);
    String leader = null;
    for (Map.Entry<String, CacheHints> next : caches.entrySet()) {
      CacheHints hints = next.getValue();
      if (hints.parked && now - hints.parkedUntilNanos < 0) {
        continue;
      }
      hints.parked = false;
      int before = batch.items();
      boolean room = fill(batch, next.getKey(), hints);
      if (leader == null && batch.items() > before) {
        leader = next.getKey();
      }
      if (!room) {
        break;
      }
    }
    if (leader != null) {
      caches.put(leader, caches.remove(leader)); // the next batch starts with another cache
    }
    caches.values().removeIf(hints -> hints.isEmpty() && !hints.parked && !hints.unknown);
    if (batch.isEmpty()) {
      return null;
    }
    inFlight = true;
    inFlightItems = batch.items();
    return batch;
  }

  /**
   * Moves the items of one cache into {@code batch}, clear first; returns false once the batch is
   * full.
   */
  private boolean fill(ReplicateBatch batch, String cache, CacheHints hints) {
    if (hints.clearedBefore > 0) {
      if (!batch.tryAddClear(cache, hints.clearedBefore)) {
        return false;
      }
      hints.clearedBefore = 0;
      items--;
    }
    Iterator<Queued> entries = hints.entries.values().iterator();
    while (entries.hasNext()) {
      Queued queued = entries.next();
      if (!batch.tryAddEntry(cache, queued.entry())) {
        return false;
      }
      entries.remove();
      count(-1, -queued.bytes());
    }
    Iterator<Map.Entry<ByteString, Invalidation>> invalidations =
        hints.invalidations.entrySet().iterator();
    while (invalidations.hasNext()) {
      Map.Entry<ByteString, Invalidation> queued = invalidations.next();
      if (!batch.tryAddInvalidation(cache, queued.getKey())) {
        return false;
      }
      invalidations.remove();
      count(-1, -queued.getValue().bytes());
    }
    return true;
  }

  /** Ends the call in flight: the next {@link #take} may start another. */
  synchronized void callEnded() {
    inFlight = false;
    inFlightItems = 0;
  }

  synchronized boolean inFlight() {
    return inFlight;
  }

  /**
   * Returns a part that was not delivered, unless newer writes of its keys were queued meanwhile;
   * returns how many items the budget dropped to make room.
   */
  synchronized int putBack(ReplicateBatch.Part part) {
    if (retired) {
      totals.dropped.add(part.items());
      return 0;
    }
    CacheHints hints = caches.computeIfAbsent(part.cache, c -> new CacheHints());
    if (part.clearedBefore > 0) {
      if (hints.clearedBefore == 0) {
        items++;
      }
      hints.clearedBefore = Math.max(hints.clearedBefore, part.clearedBefore);
    }
    for (VersionedEntry entry : part.entries) {
      Queued queued = hints.entries.get(entry.getKey());
      if (queued == null || isNewer(entry, queued.entry())) {
        if (queued != null) {
          count(-1, -queued.bytes());
        }
        int size = entry.getSerializedSize() + ITEM_OVERHEAD_BYTES;
        hints.entries.put(entry.getKey(), new Queued(entry, nextSeq++, size));
        count(1, size);
      }
    }
    for (ByteString key : part.invalidations) {
      if (!hints.invalidations.containsKey(key)) {
        int size = key.size() + ITEM_OVERHEAD_BYTES;
        hints.invalidations.put(key, new Invalidation(nextSeq++, size));
        count(1, size);
      }
    }
    return trim();
  }

  /** Holds back the items of {@code cache} until {@code untilNanos}. */
  synchronized void park(String cache, long untilNanos) {
    CacheHints hints = caches.computeIfAbsent(cache, c -> new CacheHints());
    hints.parked = true;
    hints.parkedUntilNanos = untilNanos;
  }

  /**
   * Records that the peer has no cache {@code cache}; returns for how long it has been answering
   * so, in nanoseconds.
   */
  synchronized long unknownCache(String cache, long now) {
    CacheHints hints = caches.computeIfAbsent(cache, c -> new CacheHints());
    if (!hints.unknown) {
      hints.unknown = true;
      hints.unknownSinceNanos = now;
    }
    return now - hints.unknownSinceNanos;
  }

  /** Drops everything queued for {@code cache}, counted; returns how many items. */
  synchronized int dropCache(String cache) {
    CacheHints hints = caches.get(cache);
    if (hints == null) {
      return 0;
    }
    int dropped = hints.entries.size() + hints.invalidations.size();
    for (Queued queued : hints.entries.values()) {
      count(-1, -queued.bytes());
    }
    for (Invalidation queued : hints.invalidations.values()) {
      count(-1, -queued.bytes());
    }
    hints.entries.clear();
    hints.invalidations.clear();
    totals.dropped.add(dropped);
    return dropped;
  }

  /** Records that the peer applied a part of {@code cache}: it has the cache. */
  synchronized void knownCache(String cache) {
    CacheHints hints = caches.get(cache);
    if (hints != null) {
      hints.unknown = false;
    }
  }

  /**
   * Records that the peer refused a request of {@code requestBytes} for want of resources: the next
   * ones carry at most half as much, and none is sent before {@code untilNanos}. Returns for how
   * long the peer has been refusing so, in nanoseconds.
   */
  synchronized long exhausted(long requestBytes, long now, long untilNanos) {
    requestLimit = Math.max(1, Math.min(requestLimit, requestBytes / 2));
    paused = true;
    pausedUntilNanos = untilNanos;
    if (!exhausted) {
      exhausted = true;
      exhaustedSinceNanos = now;
    }
    return now - exhaustedSinceNanos;
  }

  /**
   * Records a delivered request: the request limit grows back towards {@code maxRequestBytes}, and
   * once the queue is empty the notices of {@link #firstNotice} may be given again.
   */
  synchronized void delivered(long maxRequestBytes) {
    exhausted = false;
    requestLimit = Math.min(maxRequestBytes, requestLimit * 2);
    if (items == 0) {
      noticed.clear();
    }
  }

  /**
   * Whether this is the first notice of {@code kind} since the queue was last empty: each kind of
   * trouble with a peer is logged once per episode.
   */
  synchronized boolean firstNotice(String kind) {
    return noticed.add(kind);
  }

  // ---------------------------------------------------------------- reading

  /**
   * Items not yet delivered: writes, invalidations and clears queued, and those of the call in
   * flight.
   */
  synchronized int size() {
    return items + inFlightItems;
  }

  /** Bytes queued, as the class documentation counts them. */
  synchronized long bytes() {
    return bytes;
  }

  private void count(int itemDelta, long byteDelta) {
    items += itemDelta;
    bytes += byteDelta;
    totals.bytes.addAndGet(byteDelta);
  }

  static boolean isNewer(VersionedEntry a, VersionedEntry b) {
    return a.getTimestamp() != b.getTimestamp()
        ? a.getTimestamp() > b.getTimestamp()
        : a.getWriter() > b.getWriter();
  }
}
