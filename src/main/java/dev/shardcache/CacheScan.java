package dev.shardcache;

import java.util.Iterator;
import java.util.Map;

/**
 * An iteration over every live entry of one cache, across the whole cluster: what {@link
 * DistributedCache#scan()} returns. Close it when done early, best with try-with-resources:
 *
 * <pre>{@code
 * try (CacheScan<String, String> scan = cache.scan()) {
 *   while (scan.hasNext()) {
 *     Map.Entry<String, String> entry = scan.next();
 *     // ...
 *   }
 * }
 * }</pre>
 *
 * <h2>What it sees</h2>
 *
 * Every member of this node's ring at the start (this node included) is asked for the live entries
 * it <em>owns</em> (is the first holder of under its own ring), one member after another, in pages
 * of at most {@code maxBatchBytes}; this node's own entries are read from its shard without a call.
 * Replicas, near caches and hot-key copies are never read, and nothing is loaded.
 *
 * <ul>
 *   <li><b>Weakly consistent.</b> An entry present and unchanged for the whole scan is seen exactly
 *       once. An entry written, removed or expired while the scan runs may or may not be seen, and
 *       if seen has one of the values it had meanwhile.
 *   <li><b>No duplicates while membership is stable.</b> Each key has one owner, so no key is seen
 *       twice while the members agree on the ring. During a membership change (a member joining,
 *       leaving, or suspected by some members and not others), an entry that moves between members
 *       as the scan passes them may be missed, or seen twice; scan again once membership has
 *       settled when every entry must be seen once. Members that join after the start are not
 *       asked; their keys were handed to them by members that may already have been scanned.
 *   <li><b>Never a silent skip.</b> If a member cannot be reached, does not answer a page within
 *       {@link CacheConfig#remoteTimeout()}, answers with an error, or sends an entry this node
 *       cannot decode, {@link #hasNext()} and {@link #next()} throw {@link ScanIncompleteException}
 *       naming the member and how many entries were already delivered, and keep throwing it; the
 *       scan is closed.
 * </ul>
 *
 * Keys and values are decoded copies (also those of this node's own shard): changing them changes
 * nothing in the cache. {@link #remove()} is not supported; call {@link
 * DistributedCache#invalidate} with the key.
 *
 * <h2>Costs</h2>
 *
 * <ul>
 *   <li><b>Back-pressure.</b> A page is asked for only when the one before it is being consumed: at
 *       most one page being consumed and one more on its way, so memory stays within about two
 *       pages whatever the size of the cache, and a slow consumer slows the scan instead of filling
 *       a buffer anywhere. Members keep nothing between pages.
 *   <li>Each page costs its member one walk of its shard; a member whose owned entries encode to S
 *       bytes answers about S / {@code maxBatchBytes} + 1 pages.
 * </ul>
 *
 * <p>Not thread-safe: use one scan from one thread (its {@link #close()} included). {@link
 * #hasNext()} and {@link #next()} block while a page is on its way (at most {@code remoteTimeout}
 * per page).
 *
 * @param <K> the key type
 * @param <V> the value type
 */
public interface CacheScan<K, V> extends Iterator<Map.Entry<K, V>>, AutoCloseable {

  /**
   * Returns whether another entry follows, waiting for the next page if need be.
   *
   * @throws ScanIncompleteException if a member's entries could not be read
   */
  @Override
  boolean hasNext();

  /**
   * Returns the next entry, an immutable key and value.
   *
   * @throws java.util.NoSuchElementException if no entry follows, or the scan was closed
   * @throws ScanIncompleteException if a member's entries could not be read
   */
  @Override
  Map.Entry<K, V> next();

  /**
   * Ends the scan: a page call on its way is cancelled, nothing more is asked of any member, and
   * {@link #hasNext()} answers false from then on (unless the scan had already failed). Idempotent;
   * never throws. A scan that was read to its end needs no closing, but closing it is harmless.
   */
  @Override
  void close();
}
