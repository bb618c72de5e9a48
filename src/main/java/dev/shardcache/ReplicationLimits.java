package dev.shardcache;

import static com.google.common.base.Preconditions.checkArgument;

import java.time.Duration;

/**
 * The bounds of a node's {@link Replicator}: how large one request may be, and how many bytes of
 * hints may wait, per peer and for the node.
 *
 * @param maxRequestBytes the most bytes one {@code Replicate} request carries, serialized
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
          ShardcacheNode.DEFAULT_MAX_REPLICATION_BATCH_BYTES,
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
   * The limits of a node built with these settings, each -1 where it was not set: the defaults of
   * {@link ShardcacheNode.Builder}, checked against each other.
   *
   * @throws IllegalStateException if the batch bound is not below {@code maxInboundMessageBytes},
   *     or the per-peer budget is above the node's
   */
  static ReplicationLimits forNode(
      int maxRequestBytes, long maxBytesPerPeer, long maxBytes, int maxInboundMessageBytes) {
    if (maxRequestBytes != -1 && maxRequestBytes >= maxInboundMessageBytes) {
      throw new IllegalStateException(
          "maxReplicationBatchBytes ("
              + maxRequestBytes
              + ") must be below maxInboundMessageBytes ("
              + maxInboundMessageBytes
              + "): peers with the same limit would refuse every full batch; lower the one or"
              + " raise the other");
    }
    if (maxBytes != -1 && maxBytesPerPeer > maxBytes) {
      throw new IllegalStateException(
          "maxHintBytesPerPeer ("
              + maxBytesPerPeer
              + ") must be at most maxHintBytes ("
              + maxBytes
              + "), the bound over all peers");
    }
    int batch =
        maxRequestBytes != -1
            ? maxRequestBytes
            : Math.min(DEFAULT.maxRequestBytes(), maxInboundMessageBytes / 4);
    long perPeer = maxBytesPerPeer != -1 ? maxBytesPerPeer : DEFAULT.maxBytesPerPeer();
    long total = maxBytes != -1 ? maxBytes : Math.max(DEFAULT.maxBytes(), perPeer);
    return new ReplicationLimits(batch, perPeer, total, REFUSAL_GRACE);
  }
}
