/**
 * Spring's cache abstraction on a Shardcache cluster: a {@code CacheManager} and {@code Cache}
 * backed by {@link dev.shardcache.DistributedCache}, so that {@code @Cacheable} and friends, and
 * the JSR-107 annotations through Spring's JCache support, cache once for every instance of a
 * service.
 *
 * <h2>Design note</h2>
 *
 * <p><b>Mapping.</b> Each Spring operation maps onto one distributed operation (the table is on
 * {@link dev.shardcache.spring.ShardcacheCache}). The lookup of {@code @Cacheable} is {@code
 * getIfPresent}, which never loads; {@code sync = true} is {@code get(key, loader)}, whose loader
 * is the annotated method: single-flight on each node, and for the cluster when the caller is the
 * key's owner. {@code allEntries} eviction is {@code invalidateAll}, which clears every member.
 *
 * <p><b>Keys.</b> Spring hands the cache keys of any type: a method's single argument, a {@code
 * SimpleKey} of several, or whatever a SpEL {@code key} expression yields. They are turned into
 * {@link dev.shardcache.objects.StableKey}s, whose bytes are equal on every node exactly when the
 * keys are equal, so the same call on two instances finds the same owner. {@code SimpleKey} is
 * encoded as its argument list, the same bytes {@code dev.shardcache.annotation.CachingProxy} uses
 * for the same arguments. A key of a type that cannot be encoded by value fails with a message
 * naming it, rather than silently hashing differently on two nodes.
 *
 * <p><b>Values and nulls.</b> Values go through a {@code Codec<Object>}, by default Java
 * serialization behind an allow-list ({@link dev.shardcache.objects.ObjectCodecs#serializable}).
 * Spring's cached {@code null} is a one-byte marker added around that codec, so any codec works
 * with {@code allowNullValues}.
 *
 * <p><b>Lifecycle.</b> Caches are defined on the node when the manager is built (named caches) and
 * when the context's singletons exist ({@link dev.shardcache.spring.AnnotatedCacheRegistrar}), so
 * they exist on every node before the node serves peers. The manager neither starts nor closes the
 * node: whoever built it does (the Boot auto-configuration ties it to the context).
 *
 * <p>Nothing in {@code dev.shardcache} outside this package and its subpackages refers to Spring;
 * Spring is an optional dependency.
 */
@org.jspecify.annotations.NullMarked
package dev.shardcache.spring;
