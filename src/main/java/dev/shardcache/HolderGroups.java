package dev.shardcache;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.function.ToLongFunction;
import org.jspecify.annotations.Nullable;

/**
 * How the writes of a batch are shared out among holders, so that each holder gets one call for all
 * its keys rather than one per key: every write goes to the next holder of its key, in ring order
 * (the owner first), that is not this node; the writes bound for one holder travel together; and a
 * call carries at most {@value CacheConfig#MAX_KEYS_PER_BATCH} writes and about the node's {@code
 * maxBatchBytes} (half its {@code maxInboundMessageBytes} at most), so that no message nears a
 * receiver's limit when members share their settings, however low they set it. A write its holder
 * did not apply (unreachable, or not a holder under its own ring) is grouped again for the next
 * holder of its key, as a single write falls over.
 *
 * <p>Pure functions over the writes' holder lists (computed by the {@link Router}); no I/O. Not
 * thread-safe: a {@link Pending} belongs to one call.
 */
final class HolderGroups {
  private HolderGroups() {}

  /**
   * One write of a batch on its way to a holder: the write, its key's holders in ring order, and
   * which of them to try next.
   *
   * @param <W> what is sent
   */
  static final class Pending<W> {
    /** The write's position in the batch it came in. */
    final int index;

    final W write;
    private final List<String> holders;
    private int next;

    /** Why the last holder tried did not apply it; null until one did not. */
    PeerCalls.@Nullable PeerCallException last;

    Pending(int index, W write, List<String> holders) {
      this.index = index;
      this.write = write;
      this.holders = holders;
    }

    /** Returns the next holder that is not this node and moves past it; null if none is left. */
    @Nullable String advance(Predicate<String> isSelf) {
      while (next < holders.size()) {
        String holder = holders.get(next++);
        if (!isSelf.test(holder)) {
          return holder;
        }
      }
      return null;
    }

    List<String> holders() {
      return holders;
    }
  }

  /**
   * Groups {@code pending} by the holder each goes to next (see {@link Pending#advance}), in the
   * order of first appearance; the writes with no holder left are added to {@code exhausted}.
   */
  static <W> Map<String, List<Pending<W>>> byNextHolder(
      Collection<Pending<W>> pending, Predicate<String> isSelf, List<Pending<W>> exhausted) {
    Map<String, List<Pending<W>>> groups = new LinkedHashMap<>();
    for (Pending<W> write : pending) {
      String holder = write.advance(isSelf);
      if (holder == null) {
        exhausted.add(write);
      } else {
        groups.computeIfAbsent(holder, h -> new ArrayList<>()).add(write);
      }
    }
    return groups;
  }

  /**
   * Splits {@code items}, in order, into runs of at most {@code maxCount} items whose sizes add up
   * to at most {@code maxBytes}; an item larger than {@code maxBytes} alone makes a run of its own.
   */
  static <T> List<List<T>> chunks(
      List<T> items, ToLongFunction<? super T> size, int maxCount, long maxBytes) {
    List<List<T>> chunks = new ArrayList<>();
    List<T> chunk = new ArrayList<>();
    long bytes = 0;
    for (T item : items) {
      long itemBytes = size.applyAsLong(item);
      if (!chunk.isEmpty() && (chunk.size() == maxCount || bytes + itemBytes > maxBytes)) {
        chunks.add(chunk);
        chunk = new ArrayList<>();
        bytes = 0;
      }
      chunk.add(item);
      bytes += itemBytes;
    }
    if (!chunk.isEmpty()) {
      chunks.add(chunk);
    }
    return chunks;
  }
}
