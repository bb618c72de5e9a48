package dev.shardcache.replication;

import static com.google.common.base.Preconditions.checkArgument;
import static java.nio.charset.StandardCharsets.UTF_8;

import dev.shardcache.ring.KeyHash;

/**
 * The version of one write: a {@link HybridLogicalClock} timestamp and the id of the node that
 * wrote it. Immutable and thread-safe; a record, so equal components mean equal versions. No method
 * accepts or returns {@code null}.
 *
 * <p><b>Order.</b> Versions are ordered by timestamp, then by writer id (both as signed longs). The
 * order is total, and the writer id breaks the tie between two nodes that happen to issue the same
 * timestamp, so every node picks the same winner between any two versions. Two writes get equal
 * versions only if one node's clock issued the same timestamp twice (it does not while it runs; see
 * {@link HybridLogicalClock} for restarts) or two node addresses share a 64-bit hash (negligible);
 * {@link Versioned#merge} relies on that.
 *
 * <p><b>Ids.</b> A writer id is {@link #writerId(String)} of the node's address as named in the
 * ring ({@code "host:port"}): derived, not assigned, so every node knows every other node's id
 * without a message, and a node keeps its id across restarts.
 *
 * @param timestamp a hybrid logical clock timestamp; non-negative
 * @param writer the writing node's {@linkplain #writerId(String) id}; any value
 */
public record Version(long timestamp, long writer) implements Comparable<Version> {

  /**
   * The least version: timestamp 0 and writer {@link Long#MIN_VALUE}. No other version compares
   * below or equal to it, so it stands for "no write yet" and every real write is newer than it.
   */
  public static final Version ZERO = new Version(0, Long.MIN_VALUE);

  /**
   * Validates the components.
   *
   * @throws IllegalArgumentException if {@code timestamp} is negative
   */
  public Version {
    checkArgument(timestamp >= 0, "a version's timestamp is never negative: %s", timestamp);
  }

  /**
   * Returns the writer id of a node: the first 64 bits of MurmurHash3 x64_128 (seed 0) of the UTF-8
   * bytes of its address, the same hash that places keys on the ring ({@link KeyHash}). It is part
   * of the wire contract, like the ring hash: nodes of two versions must compute the same ids.
   *
   * @param nodeAddress the node's address as named in the ring, such as {@code "10.0.0.1:7070"}
   * @return the node's writer id
   * @throws NullPointerException if {@code nodeAddress} is null
   */
  public static long writerId(String nodeAddress) {
    return KeyHash.hash(nodeAddress.getBytes(UTF_8));
  }

  /**
   * Returns whether this version orders strictly after {@code other}: a write with this version
   * replaces a copy with {@code other}.
   *
   * @param other the version to compare with
   * @return {@code compareTo(other) > 0}
   * @throws NullPointerException if {@code other} is null
   */
  public boolean isNewerThan(Version other) {
    return compareTo(other) > 0;
  }

  /** Orders by {@link #timestamp}, then by {@link #writer}, both signed. */
  @Override
  public int compareTo(Version other) {
    int byTime = Long.compare(timestamp, other.timestamp);
    return byTime != 0 ? byTime : Long.compare(writer, other.writer);
  }

  /** Returns {@code "Version[<millis>.<logical> by <writer in hex>]"}. */
  @Override
  public String toString() {
    return "Version["
        + HybridLogicalClock.format(timestamp)
        + " by "
        + Long.toHexString(writer)
        + "]";
  }
}
