package dev.shardcache;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.MessageLite;
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
 * <p>Two answers page this way: Digest answers ({@code VersionedEntry}, see {@link AntiEntropy})
 * and ScanPage answers ({@code Entry}, see {@link ScanPages}).
 *
 * <p>Memory: the entries held, at most the budget plus one offer. Not thread-safe: one walk fills
 * one page.
 *
 * @param <M> the message type of one entry
 */
final class HashOrderedPage<M extends MessageLite> {
  /**
   * What an answer's cursor field (an {@code optional fixed64} such as {@code next_after_hash})
   * takes: a one-byte tag and eight bytes. An answer leaves this much of its bound to it.
   */
  static final int CURSOR_BYTES = 9;

  private final long budgetBytes;
  private final TreeMap<Long, List<M>> byHash = new TreeMap<>(Long::compareUnsigned);
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

  /**
   * The byte bound of one page answered to a caller that asked for at most {@code askedBytes} (0 or
   * less: no wish): the answering node's own {@code maxBatchBytes}, or the caller's if smaller, but
   * never under {@link ShardcacheNode#MIN_BATCH_BYTES}, so a tiny bound cannot make a caller ask
   * once per entry. So an answer never exceeds what the caller said it takes, which its build rule
   * keeps below its inbound message cap. The one rule for every answer a caller bounds: Digest and
   * ScanPage pages, and GetAll and Fetch answers ({@link BoundedAnswer}).
   */
  static int answerBytes(int ownBytes, int askedBytes) {
    return askedBytes <= 0
        ? ownBytes
        : Math.min(ownBytes, Math.max(ShardcacheNode.MIN_BATCH_BYTES, askedBytes));
  }

  /** The bytes one entry takes in a repeated message field: tag, length and the entry. */
  static int wireBytes(MessageLite entry) {
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
  void offer(long hash, M entry) {
    if (!wants(hash)) {
      return;
    }
    byHash.computeIfAbsent(hash, h -> new ArrayList<>(1)).add(entry);
    heldBytes += wireBytes(entry);
    while (heldBytes > budgetBytes && byHash.size() > 1) {
      Map.Entry<Long, List<M>> highest = byHash.pollLastEntry();
      for (M evicted : highest.getValue()) {
        heldBytes -= wireBytes(evicted);
      }
      limited = true;
      limit = highest.getKey();
    }
  }

  /** The page's entries, in ascending unsigned key-hash order. */
  List<M> entries() {
    List<M> entries = new ArrayList<>();
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
