package dev.shardcache;

import com.google.protobuf.CodedOutputStream;
import dev.shardcache.internal.proto.VersionedEntry;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One page of an answer that must list entries in key-hash order within a byte budget, collected
 * from entries offered in any order (a walk of a hash map), without holding more than the page.
 *
 * <h2>Idea</h2>
 *
 * The page keeps the offered entries of the <em>lowest</em> key hashes, read as unsigned 64-bit
 * numbers, whose sizes fit the budget. When an entry makes the page overflow, the entries of the
 * highest hash held are evicted (all of them: entries of one hash are never split between pages)
 * and that hash becomes the page's <em>limit</em>: every later offer at or above it is refused
 * before it is even encoded ({@link #wants}). Since evictions only ever take the highest hash held,
 * every entry below the final limit that was offered is in the page; the next page starts after the
 * page's {@linkplain #lastHash last hash}. Successive pages over an unchanged set of entries
 * therefore partition it in ascending hash order, each page's content depends on the set and not on
 * the order of offers, and a page is never empty while entries remain.
 *
 * <p>The entries of the lowest hash are kept even when they alone exceed the budget, so every page
 * makes progress; a page is over budget only then. A digest bucket is a range of key hashes (its
 * top bits), so ascending hash order is also ascending bucket order.
 *
 * <p>Memory: the entries held, at most the budget plus one offer. Not thread-safe: one walk fills
 * one page.
 */
final class HashOrderedPage {
  private final long budgetBytes;
  private final TreeMap<Long, List<VersionedEntry>> byHash = new TreeMap<>(Long::compareUnsigned);
  private long heldBytes;
  private boolean limited;
  private long limit;

  /**
   * @param budgetBytes the most bytes of entries the page holds (each counted as {@link
   *     #wireBytes}), unless the entries of its lowest hash alone are more
   */
  HashOrderedPage(long budgetBytes) {
    this.budgetBytes = budgetBytes;
  }

  /** The bytes one entry takes in a repeated message field: tag, length and the entry. */
  static int wireBytes(VersionedEntry entry) {
    int size = entry.getSerializedSize();
    return 1 + CodedOutputStream.computeUInt32SizeNoTag(size) + size;
  }

  /**
   * Whether an entry of key hash {@code hash} could still enter the page; check before encoding.
   */
  boolean wants(long hash) {
    return !limited || Long.compareUnsigned(hash, limit) < 0;
  }

  /** Offers an entry; it is kept if its hash is among the lowest that fit the budget. */
  void offer(long hash, VersionedEntry entry) {
    if (!wants(hash)) {
      return;
    }
    byHash.computeIfAbsent(hash, h -> new ArrayList<>(1)).add(entry);
    heldBytes += wireBytes(entry);
    while (heldBytes > budgetBytes && byHash.size() > 1) {
      Map.Entry<Long, List<VersionedEntry>> highest = byHash.pollLastEntry();
      for (VersionedEntry evicted : highest.getValue()) {
        heldBytes -= wireBytes(evicted);
      }
      limited = true;
      limit = highest.getKey();
    }
  }

  /** The page's entries, in ascending unsigned key-hash order. */
  List<VersionedEntry> entries() {
    List<VersionedEntry> entries = new ArrayList<>();
    byHash.values().forEach(entries::addAll);
    return entries;
  }

  /** Whether entries were left out: there is a next page, after {@link #lastHash()}. */
  boolean hasMore() {
    return limited;
  }

  /**
   * The highest key hash in the page: the next page holds only entries above it.
   *
   * @throws java.util.NoSuchElementException if the page is empty
   */
  long lastHash() {
    return byHash.lastKey();
  }

  boolean isEmpty() {
    return byHash.isEmpty();
  }

  /** The bytes of the entries held, as {@link #wireBytes} counts them. */
  long heldBytes() {
    return heldBytes;
  }
}
