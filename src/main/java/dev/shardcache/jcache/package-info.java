/**
 * JSR-107 (JCache, {@code javax.cache}) on Shardcache: a {@code CachingProvider} found by {@code
 * Caching.getCachingProvider()}, whose caches are distributed caches of a Shardcache node.
 *
 * <h2>Design</h2>
 *
 * <ul>
 *   <li><b>Manager = node.</b> Each {@link dev.shardcache.jcache.ShardcacheCacheManager} owns a
 *       {@link dev.shardcache.ShardcacheNode} (or is given one). The default URI starts a node
 *       alone on 127.0.0.1; a URI or properties with a listen address and peers make the managers
 *       of several JVMs one cluster ({@code ManagerSettings}).
 *   <li><b>Cache = distributed cache of bytes.</b> A JCache cache is a core cache of the same name
 *       whose keys and values are encoded ({@code ObjectCodec}: compact forms for strings and
 *       numbers, allow-listed Java serialization otherwise), which makes it store-by-value;
 *       store-by-reference is not supported.
 *   <li><b>Per-entry expiry in the value.</b> The core expires entries only a fixed time after
 *       writing, so each value carries its own expiry time ({@code Envelope}), set from the {@code
 *       ExpiryPolicy} on creation, access and update ({@code ExpiryTimes}).
 *   <li><b>Atomic operations by compare-and-set.</b> Every change is an optimistic read followed by
 *       {@link dev.shardcache.DistributedCache#compareAndSet} on the key's owner, retried on
 *       conflict; entry processors apply their net effect the same way ({@code ProcessorEntry}).
 *       Events and statistics are recorded by the node whose compare-and-set won. There is one
 *       retry loop ({@code AtomicUpdate}): it retries only a lost compare-and-set, never a failure
 *       such as an unreachable owner, and gives up after 1,000 retries on a key that keeps
 *       changing.
 *   <li><b>Batches on the core's batches.</b> {@code putAll} and {@code removeAll(keys)} write
 *       blind, with the core's {@link dev.shardcache.DistributedCache#putAll} and {@link
 *       dev.shardcache.DistributedCache#invalidateAll(Iterable)} (one call per holder), when no
 *       entry's previous state matters: no listener is registered, and for {@code putAll} the
 *       expiry policy is a built-in one that sets the same time on creation and update, for {@code
 *       removeAll} statistics are off. Otherwise each entry goes through the compare-and-set loop,
 *       so its event is right and counted once. Read-through {@code getAll} and {@code loadAll}
 *       load with the core's {@link dev.shardcache.DistributedCache#getAll(Iterable,
 *       dev.shardcache.CacheLoader) getAll(keys, loader)}: one call per owner, one call of the
 *       loader's {@code loadAll} here, single-flight with concurrent {@code get}s. The manager runs
 *       at most {@code shardcache.loadAll.threads} {@code loadAll} calls at once (default 8, 16
 *       times as many waiting, {@code LoadAllPool}); one past that fails through its {@code
 *       CompletionListener} with a {@code CacheException} naming the property.
 *   <li><b>Local listeners and statistics.</b> Listeners fire, and statistics count, on the node
 *       where an operation was invoked ({@code EventDispatcher}, {@code JCacheStatistics}),
 *       asynchronous ones on the manager's event threads, at most one at a time per registration;
 *       the {@code CacheMXBean} and {@code CacheStatisticsMXBean} of each cache are registered with
 *       the platform MBean server when management or statistics are enabled.
 *   <li><b>Iteration by cluster-wide scan.</b> The iterator and {@code removeAll()} read the core's
 *       {@link dev.shardcache.DistributedCache#scan()}: every member answers the entries it owns,
 *       in pages bounded in bytes, one member after another, so any node's iterator sees the whole
 *       cluster's entries, and nothing is remembered per key. It is weakly consistent (see {@link
 *       dev.shardcache.CacheScan}); a member that cannot be read fails the iteration with a {@link
 *       javax.cache.CacheException} rather than being skipped.
 * </ul>
 *
 * <h2>Parts</h2>
 *
 * {@link dev.shardcache.jcache.ShardcacheCache} is the facade of the {@code javax.cache.Cache} API:
 * it checks its arguments and that the cache is open, and delegates each operation to
 * package-private parts, one concern each:
 *
 * <ul>
 *   <li>{@code EntryStore}: the single steps on the owner (encode, read, one compare-and-set) and
 *       the recording of what a step that won changed (event, statistics).
 *   <li>{@code AtomicUpdate}: the retry loop around those steps, with its invariant.
 *   <li>{@code EntryReads} and {@code EntryWrites}: the reading and the changing operations, built
 *       from the two.
 *   <li>{@code ReadThrough} and {@code WriteThrough}: the {@code CacheLoader} and the {@code
 *       CacheWriter}, with the spec's rules for their failures.
 *   <li>{@code ProcessorInvoker}: entry processors, run on a snapshot and applied by their net
 *       effect; {@code EntryIterator}: iteration over the core's scan.
 * </ul>
 *
 * They share the cache's {@code ExpiryTimes}, {@code EventDispatcher} and {@code JCacheStatistics},
 * which the facade builds once per cache, and the immutable values {@code Envelope} and {@code
 * KeyBytes}.
 *
 * <h2>Conventions</h2>
 *
 * Non-null unless annotated {@link org.jspecify.annotations.Nullable}. The public types are
 * thread-safe. Only {@link dev.shardcache.jcache.ShardcacheCachingProvider}, {@link
 * dev.shardcache.jcache.ShardcacheCacheManager} and {@link dev.shardcache.jcache.ShardcacheCache}
 * are public; applications normally see only the {@code javax.cache} interfaces.
 */
@NullMarked
package dev.shardcache.jcache;

import org.jspecify.annotations.NullMarked;
