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
   * be reached, until this node has loaded the value itself (a {@linkplain
   * ShardcacheNode.Builder#clientOnly() client-only} node never loads: it throws instead).
   *
   * @return the value, or {@code null} only if the cache has no loader and the key is absent
   * @throws CacheLoadException if the loader failed or returned {@code null}, or the load did not
   *     finish within {@code loadTimeout} (it goes on, and is kept when it ends)
   * @throws IllegalArgumentException if the encoded key is over {@link CacheConfig#maxKeyBytes()}
   * @throws ShardcacheException if the owner answered with an error (such as an unknown cache)
   * @throws PeerUnavailableException on a client-only node, if the cache has a loader and no holder
   *     of the key could be reached
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
   * in parallel.
   *
   * <p>Each owner loads the keys of the call that it misses together: with one call of the loader's
   * {@link CacheLoader#loadAll loadAll} (per 1,000 keys) if the loader overrides it, else with
   * {@link CacheLoader#load load} for each key, concurrently. Loads stay single-flight per key: a
   * key another read is already loading is awaited rather than loaded again, and a {@link #get} of
   * a key while a {@code getAll} loads it waits for that load.
   *
   * <p>Keys without a value are missing from the map: keys {@code loadAll} left out of its answer
   * (nothing is cached for them), and absent keys of a cache without a loader.
   *
   * @throws CacheLoadException if the loader failed for any of the keys; the values loaded for the
   *     others are kept
   */
  Map<K, V> getAll(Iterable<? extends K> keys);

  /**
   * Returns the values of {@code keys}, computing those no node holds with {@code loader}: {@link
   * #get(Object, CacheLoader)} for many keys, in the manner of Caffeine's {@code getAll(keys,
   * mappingFunction)}. The cache's own loader is not used.
   *
   * <p>The keys this node owns are loaded here, single-flight as by {@link #getAll(Iterable)}. The
   * others are asked of their owners, without loading (one call per owner); those still absent are
   * loaded on this node (the loader cannot travel), then stored on their owners if still absent
   * there (one compare-and-set per key), and the value that won is returned. All the keys this call
   * loads go to one {@code loader.loadAll} call (per 1,000 keys) if the loader overrides it, else
   * to {@code loader.load}, concurrently. Keys {@code loadAll} leaves out are missing from the map.
   *
   * @throws CacheLoadException if {@code loader} failed for any of the keys
   */
  Map<K, V> getAll(Iterable<? extends K> keys, CacheLoader<? super K, ? extends V> loader);

  /**
   * Stores {@code value} for {@code key} on the key's holders, replacing any value. Returns once a
   * holder applied it and every other holder confirmed it (or did not within half of {@code
   * remoteTimeout}; it then gets the write when it answers again).
   *
   * <p>If this node holds the key it keeps {@code value} itself, not a copy, as Caffeine does, and
   * answers its local reads with that object: do not change a value after putting it (other nodes
   * hold decoded copies of their own).
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
   * Stores every entry of {@code entries} as {@link #put} would, with one call per holder node
   * (split into calls of at most 1,000 keys and the node's {@code maxBatchBytes}) rather than one
   * per key; the calls to different holders run in parallel. Each key is applied by one of its
   * holders, replicated and acknowledged exactly as a {@code put}: see {@link BatchWriteException}
   * for what happens to the other keys when one holder fails.
   *
   * <p>Every key and value is encoded and checked before anything is sent: a null or a key or value
   * over its limit fails the call, and nothing is written.
   *
   * @throws NullPointerException if a key or value is null; nothing was written
   * @throws IllegalArgumentException if an encoded key or value is over its limit; nothing was
   *     written
   * @throws BatchWriteException if some keys were not applied or their outcome is unknown; it names
   *     them, and every other key was applied
   */
  void putAll(Map<? extends K, ? extends V> entries);

  /**
   * Removes each of {@code keys} from its holders as {@link #invalidate} would (a versioned delete,
   * which an older write arriving late cannot undo), with one call per holder node rather than one
   * per key, as {@link #putAll}, and with the same partial-failure contract. Not to be confused
   * with {@link #invalidateAll()}, which clears the whole cache.
   *
   * @throws NullPointerException if a key is null; nothing was removed
   * @throws IllegalArgumentException if an encoded key is over its limit; nothing was removed
   * @throws BatchWriteException if some keys were not removed or their outcome is unknown
   */
  void invalidateAll(Iterable<? extends K> keys);

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

  /**
   * Starts an iteration over every live entry of this cache in the whole cluster: each member of
   * this node's ring streams the entries it owns, in pages of at most {@code maxBatchBytes}, one
   * member after another, a page asked for only when the one before it is being consumed. Nothing
   * is loaded; replicas and near caches are not read. Weakly consistent: see {@link CacheScan} for
   * what it sees while entries are written and members join or leave, and for its costs. A member
   * that cannot be read is reported by {@link ScanIncompleteException}, never skipped.
   *
   * <p>This method does not block (the first page is asked for by the first {@link
   * CacheScan#hasNext()}); close the scan if it is not read to its end.
   *
   * @return a scan for one thread to read
   */
  CacheScan<K, V> scan();

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
