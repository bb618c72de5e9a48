package dev.shardcache.jcache;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A value as a JCache cache stores it in the core: the encoded value behind an 8-byte expiry time.
 *
 * <p>JCache expiry is per entry and changes on creation, access and update (an {@link
 * javax.cache.expiry.ExpiryPolicy}), which the core's one fixed {@code expireAfterWrite} cannot
 * express. So the expiry time travels with the value: {@code [expireAt: 8 bytes, big-endian epoch
 * millis][value bytes]}, with {@link Long#MAX_VALUE} for "never". An entry whose time has come is
 * treated as absent by every read, and removed (with an EXPIRED event) by the node that sees it.
 * Times are wall-clock milliseconds so that every node reads them alike; nodes' clocks should agree
 * to well within the shortest expiry used.
 *
 * <p>Because {@link dev.shardcache.DistributedCache#compareAndSet} compares encoded bytes, a
 * compare-and-set on an envelope checks value and expiry time at once. Immutable; {@link #raw} must
 * not be modified.
 */
final class Envelope {
  /** The expiry time of an entry that never expires. */
  static final long ETERNAL = Long.MAX_VALUE;

  private final byte[] raw;

  private Envelope(byte[] raw) {
    this.raw = raw;
  }

  /** Wraps the encoded {@code value} with its expiry time. */
  static Envelope of(long expireAt, byte[] value) {
    return new Envelope(
        ByteBuffer.allocate(Long.BYTES + value.length).putLong(expireAt).put(value).array());
  }

  /**
   * Reads an envelope from the bytes the core holds; takes ownership of {@code raw}.
   *
   * @throws IllegalArgumentException if {@code raw} is too short to be an envelope
   */
  static Envelope wrap(byte[] raw) {
    if (raw.length <= Long.BYTES) {
      throw new IllegalArgumentException(
          "a JCache entry is at least 9 bytes, got "
              + raw.length
              + "; is a non-JCache cache using the same name?");
    }
    return new Envelope(raw);
  }

  /** The bytes stored in the core. */
  byte[] raw() {
    return raw;
  }

  long expireAt() {
    return ByteBuffer.wrap(raw).getLong(0);
  }

  /** Returns whether the entry has expired at {@code now} (epoch millis). */
  boolean isExpiredAt(long now) {
    return expireAt() <= now;
  }

  /** The encoded value. */
  byte[] value() {
    return Arrays.copyOfRange(raw, Long.BYTES, raw.length);
  }

  /** The same value with another expiry time. */
  Envelope withExpireAt(long expireAt) {
    byte[] copy = raw.clone();
    ByteBuffer.wrap(copy).putLong(0, expireAt);
    return new Envelope(copy);
  }
}
