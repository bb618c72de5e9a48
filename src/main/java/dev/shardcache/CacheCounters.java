package dev.shardcache;

import java.util.concurrent.atomic.LongAdder;

/**
 * The counters of one cache on one node, written by every part of its data path and read as a
 * {@link CacheStats} snapshot. Each counter only grows. Thread-safe; increments never block.
 */
final class CacheCounters implements PeerCalls.Counter {
  final LongAdder hits = new LongAdder();
  final LongAdder misses = new LongAdder();
  final LongAdder evictions = new LongAdder();

  /** Values stored in this node's shard: writes, loads and copies from peers. */
  final LongAdder puts = new LongAdder();

  final LongAdder nearHits = new LongAdder();
  final LongAdder loadSuccesses = new LongAdder();
  final LongAdder loadFailures = new LongAdder();
  final LongAdder loadTimeNanos = new LongAdder();
  final LongAdder remoteCalls = new LongAdder();
  final LongAdder remoteFailures = new LongAdder();
  final LongAdder fallbackLoads = new LongAdder();
  final LongAdder peerRequests = new LongAdder();

  /** Fetch calls made by misses to ask other holders (now or recently) for a copy. */
  final LongAdder fetchCalls = new LongAdder();

  /** Copies taken from another holder instead of loading. */
  final LongAdder fetchedCopies = new LongAdder();

  /** Holders sent a newer copy by a read (read repair). */
  final LongAdder repairs = new LongAdder();

  /** Bytes of digests and entries in anti-entropy rounds this node started. */
  final LongAdder antiEntropyBytes = new LongAdder();

  /** Pages of Digest answers this node asked peers for (the first of each round included). */
  final LongAdder digestPages = new LongAdder();

  /** Entries a peer refused in hand-off or anti-entropy, each skipped alone (kept here). */
  final LongAdder refusedEntries = new LongAdder();

  /** Entries streamed to new holders by rebalancing, acknowledged. */
  final LongAdder handedOff = new LongAdder();

  /** Versions refused for being stamped further ahead than the maximum clock skew. */
  final LongAdder futureVersionsRefused = new LongAdder();

  /** Writes passed on to a holder by this node, which did not hold the key. */
  final LongAdder forwardedWrites = new LongAdder();

  /** Values this node reloaded ahead of time ({@code refreshAfterWrite}) and stored. */
  final LongAdder refreshes = new LongAdder();

  /** Reloads not stored because the key was written, deleted or cleared while they ran. */
  final LongAdder refreshesDropped = new LongAdder();

  /** Refreshes that failed (the loader, or the call to the key's holder); the old value stays. */
  final LongAdder refreshFailures = new LongAdder();

  /** {@code Refresh} calls this node sent to the holder that reloads the key. */
  final LongAdder refreshCalls = new LongAdder();

  /** ScanPage calls this node answered for peers' scans. */
  final LongAdder scanPagesServed = new LongAdder();

  /** Pages this node's scans took in (from peers, or read from its own shard). */
  final LongAdder scanPagesTaken = new LongAdder();

  @Override
  public void callStarted() {
    remoteCalls.increment();
  }

  @Override
  public void callFailed() {
    remoteFailures.increment();
  }

  CacheStats snapshot() {
    return new CacheStats(
        hits.sum(),
        misses.sum(),
        nearHits.sum(),
        loadSuccesses.sum(),
        loadFailures.sum(),
        loadTimeNanos.sum(),
        remoteCalls.sum(),
        remoteFailures.sum(),
        fallbackLoads.sum(),
        peerRequests.sum(),
        evictions.sum(),
        puts.sum());
  }
}
