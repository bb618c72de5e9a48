package dev.shardcache;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.HybridLogicalClock;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Turns one cache's keys, values and versioned entries into bytes and back, enforcing the limits
 * every node must agree on: key and value sizes, and how far in the future a version may be
 * stamped.
 *
 * <p><b>Versions bounded by time.</b> A version whose physical time is further ahead of this node's
 * clock than the maximum clock skew is refused (and counted): accepted, it would win over every
 * write made here until real time caught up with it, never expire, and spread through anti-entropy.
 * The same bound caps how far a peer's timestamp pulls this node's hybrid clock.
 *
 * <p>Errors say which cache, which peer and what to do. Thread-safe; stateless but for counters.
 */
final class EntryCodec<K, V> {
  private static final Logger logger = Logger.getLogger(EntryCodec.class.getName());
  private static final long LOG_INTERVAL_MILLIS = 10_000;

  private final String cache;
  private final CacheConfig<K, V> config;
  private final Codec<K> keyCodec;
  private final Codec<V> valueCodec;
  private final CacheCounters counters;
  // One interval before time 0, so the first refusal logs (Long.MIN_VALUE overflowed now - last).
  private final LogRateLimit skewLog = new LogRateLimit(LOG_INTERVAL_MILLIS);

  EntryCodec(String cache, CacheConfig<K, V> config, CacheCounters counters) {
    this.cache = cache;
    this.config = config;
    this.keyCodec = config.keyCodec();
    this.valueCodec = config.valueCodec();
    this.counters = counters;
  }

  /** A copy received from a peer: the entry, and how long its value has already lived there. */
  record Incoming<V>(Versioned<V> entry, long ageMillis) {}

  byte[] encodeKey(K key) {
    byte[] bytes;
    try {
      bytes = keyCodec.encode(key);
    } catch (CodecException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new CodecException(
          "key codec " + keyCodec + " of cache '" + cache + "' failed: " + e, e);
    }
    if (bytes.length > config.maxKeyBytes()) {
      throw new IllegalArgumentException(
          "key of cache '"
              + cache
              + "' is "
              + bytes.length
              + " bytes encoded, over maxKeyBytes "
              + config.maxKeyBytes()
              + "; use a shorter key (such as a hash of it) or raise the limit on every node");
    }
    return bytes;
  }

  byte[] encodeValue(V value) {
    byte[] bytes;
    try {
      bytes = valueCodec.encode(value);
    } catch (CodecException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new CodecException(
          "value codec " + valueCodec + " of cache '" + cache + "' failed: " + e, e);
    }
    if (bytes.length > config.maxValueBytes()) {
      throw new IllegalArgumentException(
          "value of cache '"
              + cache
              + "' is "
              + bytes.length
              + " bytes encoded, over maxValueBytes "
              + config.maxValueBytes()
              + "; cache a smaller value or raise the limit on every node");
    }
    return bytes;
  }

  K decodeKey(ByteString keyBytes) {
    if (keyBytes.size() > config.maxKeyBytes()) {
      throw new IllegalArgumentException(
          "key for cache '"
              + cache
              + "' is "
              + keyBytes.size()
              + " bytes, over this node's maxKeyBytes "
              + config.maxKeyBytes()
              + "; configure the same limits on every member");
    }
    return decode(keyCodec, keyBytes, "key");
  }

  /** Decodes a value a peer sent, checking it against this node's size limit first. */
  V decodeValue(ByteString bytes, String peer) {
    checkValueSize(bytes);
    try {
      return decode(valueCodec, bytes, "value");
    } catch (CodecException e) {
      throw new CodecException(
          "value from peer "
              + peer
              + " cannot be decoded: "
              + e.getMessage()
              + "; do all nodes use the same value codec for cache '"
              + cache
              + "'?",
          e);
    }
  }

  private void checkValueSize(ByteString value) {
    if (value.size() > config.maxValueBytes()) {
      throw new IllegalArgumentException(
          "value for cache '"
              + cache
              + "' is "
              + value.size()
              + " bytes, over this node's maxValueBytes "
              + config.maxValueBytes()
              + "; configure the same limits on every member");
    }
  }

  private <T> T decode(Codec<T> codec, ByteString bytes, String what) {
    T decoded;
    try {
      decoded = Codecs.decodeOwned(codec, bytes.toByteArray()); // a fresh copy, ours alone
    } catch (CodecException e) {
      throw new CodecException(
          what + " for cache '" + cache + "' is malformed: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      throw new CodecException(what + " for cache '" + cache + "' is malformed: " + e, e);
    }
    if (decoded == null) {
      throw new CodecException(codec + " decoded a " + what + " of cache '" + cache + "' to null");
    }
    return decoded;
  }

  /** The wire form of an entry; {@code valueBytes} null for a tombstone. */
  static VersionedEntry toWire(
      ByteString key, byte @Nullable [] valueBytes, Version version, long ageMillis) {
    VersionedEntry.Builder wire =
        VersionedEntry.newBuilder()
            .setKey(key)
            .setTimestamp(version.timestamp())
            .setWriter(version.writer());
    if (valueBytes != null) {
      wire.setValue(ByteString.copyFrom(valueBytes));
    }
    if (ageMillis > 0) {
      wire.setAgeMillis(ageMillis);
    }
    return wire.build();
  }

  VersionedEntry toWire(ByteString key, Versioned<V> entry, long ageMillis) {
    V value = entry.value();
    return toWire(key, value == null ? null : valueCodec.encode(value), entry.version(), ageMillis);
  }

  /**
   * Reads a copy a peer sent, refusing a version stamped too far in the future and advancing this
   * node's clock past it.
   *
   * @throws IllegalArgumentException if the entry is malformed, too large or from the future
   */
  Incoming<V> fromWire(Cluster cluster, VersionedEntry entry, String from) {
    checkTimestamp(cluster, entry.getTimestamp(), from);
    if (entry.getAgeMillis() < 0) {
      throw new IllegalArgumentException("entry from " + from + " has a negative age");
    }
    cluster.clock().observe(entry.getTimestamp());
    Version version = new Version(entry.getTimestamp(), entry.getWriter());
    if (!entry.hasValue()) {
      return new Incoming<>(Versioned.tombstone(version), 0);
    }
    return new Incoming<>(
        Versioned.of(decodeValue(entry.getValue(), from), version), entry.getAgeMillis());
  }

  /**
   * Checks a timestamp a peer sent (an entry's version, or the time of a cache-wide clear).
   *
   * @throws IllegalArgumentException if it is negative or too far ahead of this node's clock
   */
  void checkTimestamp(Cluster cluster, long timestamp, String from) {
    if (timestamp < 0) {
      throw new IllegalArgumentException("entry from " + from + " has a negative timestamp");
    }
    long ahead = HybridLogicalClock.physicalMillis(timestamp) - System.currentTimeMillis();
    if (ahead > cluster.maxClockSkewMillis()) {
      counters.futureVersionsRefused.increment();
      String message =
          "a version of cache '"
              + cache
              + "' from "
              + from
              + " is stamped "
              + ahead
              + " ms ahead of this node's clock, over maxClockSkew "
              + cluster.maxClockSkewMillis()
              + " ms; it was refused: check that both nodes' clocks are synchronized (NTP)";
      if (skewLog.tryPass(System.currentTimeMillis())) {
        logger.log(Level.WARNING, message + " (logged at most every 10 s)");
      }
      throw new IllegalArgumentException(message);
    }
  }
}
