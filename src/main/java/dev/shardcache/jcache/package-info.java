/**
 * JSR-107 (JCache, {@code javax.cache}) on Shardcache: a {@code CachingProvider} found by
 * {@code Caching.getCachingProvider()}, whose caches are distributed caches of a Shardcache node.
 *
 * <h2>Design</h2>
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
 *       writing, so each value carries its own expiry time ({@code Envelope}), set from the
 *       {@code ExpiryPolicy} on creation, access and update ({@code ExpiryTimes}).
 *   <li><b>Atomic operations by compare-and-set.</b> Every change is an optimistic read followed
 *       by {@link dev.shardcache.DistributedCache#compareAndSet} on the key's owner, retried on
 *       conflict; entry processors apply their net effect the same way ({@code ProcessorEntry}).
 *       Events and statistics are recorded by the node whose compare-and-set won.
 *   <li><b>Local listeners and statistics.</b> Listeners fire, and statistics count, on the node
 *       where an operation was invoked ({@code EventDispatcher}, {@code JCacheStatistics}); the
 *       {@code CacheMXBean} and {@code CacheStatisticsMXBean} of each cache are registered with the
 *       platform MBean server when management or statistics are enabled.
 *   <li><b>Iteration by index.</b> The core cannot list keys, so each node remembers the keys
 *       written or loaded through it ({@code KeyIndex}); iteration and {@code removeAll()} reach
 *       those. On a single node that is every entry; in a cluster, iteration misses entries written
 *       only through other nodes (a core call listing a member's shard would fix that).
 * </ul>
 *
 * <h2>Conventions</h2>
 * Non-null unless annotated {@link org.jspecify.annotations.Nullable}. The public types are
 * thread-safe. Only {@link dev.shardcache.jcache.ShardcacheCachingProvider},
 * {@link dev.shardcache.jcache.ShardcacheCacheManager} and
 * {@link dev.shardcache.jcache.ShardcacheCache} are public; applications normally see only the
 * {@code javax.cache} interfaces.
 */
@NullMarked
package dev.shardcache.jcache;

import org.jspecify.annotations.NullMarked;
