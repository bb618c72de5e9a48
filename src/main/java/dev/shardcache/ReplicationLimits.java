package dev.shardcache;

import static com.google.common.base.Preconditions.checkArgument;

import java.time.Duration;

/**
 * The bounds of a node's {@link Replicator}: how large one request may be, and how many bytes of
 * hints may wait, per peer and for the node.
 *
 * @param maxRequestBytes the most bytes one {@code Replicate} request carries, serialized: the
 *     node's {@code maxBatchBytes}, the one bound of every message it builds from many entries
 * @param maxBytesPerPeer the most bytes queued for one peer, as {@link HintQueue} counts them
 * @param maxBytes the most bytes queued for all peers together
 * @param refusalGrace how long a peer may refuse a batch for reasons that may pass (no such cache
 *     yet, out of resources) before the batch is dropped
 */
record ReplicationLimits(
    int maxRequestBytes, long maxBytesPerPeer, long maxBytes, Duration refusalGrace) {

  /** How long a peer may keep refusing for reasons that may pass. */
  static final Duration REFUSAL_GRACE = Duration.ofSeconds(60);

  /** The node's defaults; see {@link ShardcacheNode.Builder}. */
  static final ReplicationLimits DEFAULT =
      new ReplicationLimits(
          ShardcacheNode.DEFAULT_MAX_BATCH_BYTES,
          ShardcacheNode.DEFAULT_MAX_HINT_BYTES_PER_PEER,
          ShardcacheNode.DEFAULT_MAX_HINT_BYTES,
          REFUSAL_GRACE);

  ReplicationLimits {
    checkArgument(maxRequestBytes > 0, "maxRequestBytes must be positive: %s", maxRequestBytes);
    checkArgument(maxBytesPerPeer > 0, "maxBytesPerPeer must be positive: %s", maxBytesPerPeer);
    checkArgument(maxBytes >= maxBytesPerPeer, "maxBytes below maxBytesPerPeer: %s", maxBytes);
    checkArgument(!refusalGrace.isNegative(), "refusalGrace is negative: %s", refusalGrace);
  }

  /**
   * The limits of a node whose {@code maxBatchBytes} is {@code maxRequestBytes} (already resolved
   * and checked against the inbound cap by {@link NodeSettings.Draft#build()}), with the hint
   * budgets -1 where they were not set: the defaults of {@link ShardcacheNode.Builder}, checked
   * against each other.
   *
   * @throws IllegalStateException if the per-peer budget is above the node's
   */
  static ReplicationLimits forNode(int maxRequestBytes, long maxBytesPerPeer, long maxBytes) {
    if (maxBytes != -1 && maxBytesPerPeer > maxBytes) {
      throw new IllegalStateException(
          "maxHintBytesPerPeer ("
              + maxBytesPerPeer
              + ") must be at most maxHintBytes ("
              + maxBytes
              + "), the bound over all peers");
    }
    long perPeer = maxBytesPerPeer != -1 ? maxBytesPerPeer : DEFAULT.maxBytesPerPeer();
    long total = maxBytes != -1 ? maxBytes : Math.max(DEFAULT.maxBytes(), perPeer);
    return new ReplicationLimits(maxRequestBytes, perPeer, total, REFUSAL_GRACE);
  }
}
