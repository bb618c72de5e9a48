package dev.shardcache;

import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * One named cache shared by every node of a cluster. Get it from {@link
 * ShardcacheNode#cache(String, CacheConfig)}.
 *
 * <p>Each key has one <em>owner</em>, the node the consistent hash ring maps it to (and, with
 * {@link CacheConfig.Builder#replicationFactor replication}, further holders). Reads and writes of
 * a key go to its holders: on a holder they touch the local Caffeine shard; from any other node
 * they cost one gRPC call (or none, when a near cache holds the value). On a miss the owner calls
 * the {@link CacheLoader} once for all concurrent readers in the cluster.
 *
 * <p>Consistency is eventual: a read through another node may see a value up to the near cache's
 * TTL old, and a replica's copy may lag its owner's by the replication delay. Writing and reading a
 * key through the same node reads your writes, also while members join and leave.
 *
 * <p>Implementations are thread-safe. Keys and values are never {@code null}. The blocking methods
 * wait at most {@link CacheConfig#loadTimeout()} for a load (on this node or on the owner) and
 * {@link CacheConfig#remoteTimeout()} for any other peer call. A peer that is slow is waited for,
 * not routed around. They throw {@link IllegalStateException} if the node was not started or was
 * closed.
 *
 * @param <K> the key type
 * @param <V> the value type
 */
public interface DistributedCache<K, V> {

  /** The name this cache was defined with. */
  String name();

  /** The configuration this cache was defined with. */
  CacheConfig<K, V> config();

  /**
   * Returns the value of {@code key}, loading it on its owner if no node holds it. Blocks until the
   * owner answers (at most {@link CacheConfig#loadTimeout()} while it loads) or, if no holder can
   * be reached, until this node has loaded the value itself.
   *
   * @return the value, or {@code null} only if the cache has no loader and the key is absent
   * @throws CacheLoadException if the loader failed or returned {@code null}, or the load did not
   *     finish within {@code loadTimeout} (it goes on, and is kept when it ends)
   * @throws IllegalArgumentException if the encoded key is over {@link CacheConfig#maxKeyBytes()}
   * @throws ShardcacheException if the owner answered with an error (such as an unknown cache)
   */
  @Nullable V get(K key);

  /**
   * Returns the value of {@code key}, computing it with {@code loader} if no node holds it, in the
   * manner of Caffeine's {@code get(key, mappingFunction)} and Spring's {@code get(key, Callable)}.
   * The cache's own loader is not used.
   *
   * <p>On the owner this is single-flight like {@link #get}. On any other node the loader runs on
   * this node (it cannot travel), at most once at a time per key here; the result is stored on the
   * owner only if the key is still absent there, and the value that won is returned. So concurrent
   * callers on different nodes may each load once, and all of them return one value.
   *
   * @throws CacheLoadException if {@code loader} failed or returned {@code null}
   */
  V get(K key, CacheLoader<? super K, ? extends V> loader);

  /**
   * Returns the value of {@code key} if its owner holds it, without loading. When the owner cannot
   * be reached this returns {@code null}.
   */
  @Nullable V getIfPresent(K key);

  /**
   * Returns a future of {@link #get}: it completes with the value (or {@code null}, as for {@link
   * #get}), or exceptionally with the exception {@link #get} would throw. This method does not
   * block: loads on this node run on the node's executor.
   */
  CompletableFuture<@Nullable V> getAsync(K key);

  /**
   * Returns the values of {@code keys}, loading the absent ones, with one call per owner node
   * (split into batches of 1,000 keys) rather than one per key. The calls to different owners run
   * in parallel. Keys without a value (only possible without a loader) are missing from the map.
   *
   * @throws CacheLoadException if the loader failed for any of the keys
   */
  Map<K, V> getAll(Iterable<? extends K> keys);

  /**
   * Stores {@code value} for {@code key} on the key's holders, replacing any value. Returns once a
   * holder applied it and every other holder confirmed it (or did not within half of {@code
   * remoteTimeout}; it then gets the write when it answers again).
   *
   * @throws IllegalArgumentException if the encoded key or value is over its limit
   * @throws PeerUnavailableException if no holder could be reached; the write was not applied
   * @throws OutcomeUnknownException if a holder received the write but did not answer in time
   */
  void put(K key, V value);

  /**
   * Removes {@code key} from its holders (a versioned delete, which an older write arriving late
   * cannot undo). A load of the key that is in flight when the invalidation arrives is not stored,
   * and reads that start afterwards do not join it.
   *
   * @throws PeerUnavailableException if no holder could be reached; the key was not removed
   * @throws OutcomeUnknownException if a holder received the delete but did not answer in time
   */
  void invalidate(K key);

  /**
   * Atomically, on the key's owner: if the key's value is {@code expected} ({@code null}: if the
   * key is absent), replaces it with {@code update} ({@code null}: removes it). Values are compared
   * by their encoded bytes. Returns whether the replacement happened. Building block of {@code
   * putIfAbsent}, {@code replace} and conditional removes.
   *
   * <p>A value past its TTL counts as absent.
   *
   * @throws PeerUnavailableException if no holder could be reached; nothing was changed
   * @throws OutcomeUnknownException if the deciding holder did not answer in time; read the key to
   *     learn whether the replacement happened
   */
  boolean compareAndSet(K key, @Nullable V expected, @Nullable V update);

  /**
   * Removes every entry of this cache from every member, as a versioned clear: every entry written
   * before it is dead wherever it is or later arrives (held, loading, queued for a member that was
   * away, exchanged by anti-entropy), while writes made after this returns are kept. Also empties
   * this node's near cache; other nodes' near caches keep their entries until their TTL passes.
   * Blocks for two rounds of calls to every member, made in parallel.
   *
   * @throws PeerUnavailableException if a member did not confirm; the others were cleared, and the
   *     clear is queued for that member and applied when it answers again
   */
  void invalidateAll();

  /** Returns the "host:port" of the node that owns {@code key} under this node's current ring. */
  String ownerOf(K key);

  /** Returns the approximate number of entries in this node's shard (not the near cache). */
  long localSize();

  /**
   * Returns what this node's shard weighs, in bytes as {@link CacheConfig.Builder#maximumWeight}
   * counts them (encoded keys and values plus {@link CacheConfig#ENTRY_OVERHEAD_BYTES} per entry),
   * if the cache is bounded by weight; empty if it is bounded by count. Approximate like {@link
   * #localSize}, and a little behind: a write counts once the shard's cleanup has run after it
   * (Caffeine runs one asynchronously, usually within milliseconds), and entries past their
   * lifetime count until the cleanup that drops them.
   */
  OptionalLong localWeight();

  /** Returns a snapshot of this cache's counters on this node. */
  CacheStats stats();
}
