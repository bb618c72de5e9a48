package dev.shardcache;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.VersionedEntry;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * What one {@code Replicate} call of the {@link Replicator} carries to one peer: for each cache,
 * its last clear, entries and near-cache invalidations, in that order, and at most a byte bound
 * once serialized.
 *
 * <p><b>Bounded in bytes.</b> Each item is counted at its exact serialized size with its field tag
 * and length prefix, and each cache's part at its largest framing (a five-byte length, a ten-byte
 * clear time), so the request serializes to at most {@link #bytes()}, which stays within the bound
 * given at construction. The one exception is a first item larger than the bound on its own: it is
 * taken alone, since it can travel in no smaller request. An entry is at most its cache's {@code
 * maxKeyBytes} plus {@code maxValueBytes} plus a few dozen bytes, so it reaches a peer whose {@code
 * maxInboundMessageBytes} is above that.
 *
 * <p>The request lists the parts in the order they were opened, so a peer's refusal, which names a
 * batch by its index in the request, is {@link #part(int)} of the same index.
 *
 * <p>Not thread-safe: filled under its {@link HintQueue}'s lock, then owned by the one call in
 * flight to its peer.
 */
final class ReplicateBatch {
  /** A cache part's framing at its largest: tag, a five-byte length, the clear time's field. */
  private static final int PART_FRAMING_BYTES =
      1 + 5 + CodedOutputStream.computeInt64Size(4, Long.MIN_VALUE);

  /** What a request of one entry carries besides the key and value bytes, at most. */
  static final int ONE_ENTRY_OVERHEAD_BYTES = 512;

  private static final Logger logger = Logger.getLogger(ReplicateBatch.class.getName());

  /**
   * Warns if an entry of {@code config}'s largest key and value would not fit in a message of
   * {@code maxInboundMessageBytes}: a peer with that limit could never receive it (a put through a
   * peer, a replica write), which the sender counts as dropped. Not an error: a single node, or one
   * that never writes such values, works.
   */
  static void warnIfTooLarge(String cache, CacheConfig<?, ?> config, int maxInboundMessageBytes) {
    long largest =
        (long) config.maxKeyBytes()
            + config.maxValueBytes()
            + ONE_ENTRY_OVERHEAD_BYTES
            + cache.length() * 3L;
    if (largest > maxInboundMessageBytes) {
      logger.log(
          Level.WARNING,
          "Cache ''{0}'' allows entries of up to {1} bytes (maxKeyBytes + maxValueBytes + framing),"
              + " over this node''s maxInboundMessageBytes {2}: a peer with the same limit refuses"
              + " larger ones, so they cannot be written through a peer or replicated (counted in"
              + " replicationDropped); lower maxValueBytes or raise maxInboundMessageBytes",
          new Object[] {cache, largest, maxInboundMessageBytes});
    }
  }

  /** One cache's share of the request; becomes one {@code CacheBatch}. */
  static final class Part {
    final String cache;
    long clearedBefore; // 0: no clear travels
    final List<VersionedEntry> entries = new ArrayList<>();
    final List<ByteString> invalidations = new ArrayList<>();

    Part(String cache) {
      this.cache = cache;
    }

    int items() {
      return entries.size() + invalidations.size() + (clearedBefore > 0 ? 1 : 0);
    }
  }

  private final String caller;
  private final long maxBytes;
  private final int maxItems;
  private final List<Part> parts = new ArrayList<>();
  private long bytes;
  private int items;

  /**
   * An empty batch from {@code caller} of at most {@code maxBytes} serialized and {@code maxItems}
   * items (clears, entries and invalidations).
   */
  ReplicateBatch(String caller, long maxBytes, int maxItems) {
    this.caller = caller;
    this.maxBytes = maxBytes;
    this.maxItems = maxItems;
    this.bytes =
        CodedOutputStream.computeStringSize(2, caller) + CodedOutputStream.computeBoolSize(3, true);
  }

  /** Adds the clear of {@code cache}, if the batch has room for it. */
  boolean tryAddClear(String cache, long clearedBefore) {
    Part part = room(cache, 0);
    if (part == null) {
      return false;
    }
    if (part.clearedBefore == 0) {
      items++;
    }
    part.clearedBefore = Math.max(part.clearedBefore, clearedBefore);
    return true;
  }

  /** Adds an entry of {@code cache}, if the batch has room for it. */
  boolean tryAddEntry(String cache, VersionedEntry entry) {
    Part part = room(cache, CodedOutputStream.computeMessageSize(2, entry));
    if (part == null) {
      return false;
    }
    part.entries.add(entry);
    items++;
    return true;
  }

  /** Adds a near-cache invalidation of {@code cache}, if the batch has room for it. */
  boolean tryAddInvalidation(String cache, ByteString key) {
    Part part = room(cache, CodedOutputStream.computeBytesSize(3, key));
    if (part == null) {
      return false;
    }
    part.invalidations.add(key);
    items++;
    return true;
  }

  /**
   * The part of {@code cache} with {@code itemBytes} more counted, or null if that would take the
   * batch over its bounds. An empty batch always has room: an item larger than the bound goes
   * alone.
   */
  private @Nullable Part room(String cache, int itemBytes) {
    Part last = parts.isEmpty() ? null : parts.get(parts.size() - 1);
    boolean open = last == null || !last.cache.equals(cache);
    long more =
        itemBytes + (open ? PART_FRAMING_BYTES + CodedOutputStream.computeStringSize(1, cache) : 0);
    if (items > 0 && (items >= maxItems || bytes + more > maxBytes)) {
      return null;
    }
    bytes += more;
    if (open) {
      last = new Part(cache);
      parts.add(last);
    }
    return last;
  }

  boolean isEmpty() {
    return items == 0;
  }

  /** Clears, entries and invalidations in the batch. */
  int items() {
    return items;
  }

  /** An upper bound of the request's serialized size. */
  long bytes() {
    return bytes;
  }

  List<Part> parts() {
    return parts;
  }

  /** The part the request lists at {@code index}, or null if there is none (a peer's bad index). */
  @Nullable Part part(int index) {
    return index >= 0 && index < parts.size() ? parts.get(index) : null;
  }

  /** The request, asking the peer to report refused parts rather than fail the call for them. */
  ReplicateRequest toRequest() {
    ReplicateRequest.Builder request =
        ReplicateRequest.newBuilder().setCaller(caller).setReportRefusals(true);
    for (Part part : parts) {
      CacheBatch.Builder batch =
          CacheBatch.newBuilder()
              .setCache(part.cache)
              .addAllEntries(part.entries)
              .addAllNearInvalidations(part.invalidations);
      if (part.clearedBefore > 0) {
        batch.setClearedBefore(part.clearedBefore);
      }
      request.addBatches(batch);
    }
    return request.build();
  }
}
