/**
 * The JSR-107 caching annotations on plain Java interfaces, with no container: {@link
 * dev.shardcache.annotation.CachingProxy} wraps an implementation in a dynamic proxy whose
 * annotated methods read and write a Shardcache cluster.
 *
 * <h2>Design note</h2>
 *
 * <p><b>Resolve once, run cheaply.</b> When a proxy is made, every method's annotations are read
 * into an immutable {@code CacheOperation} (cache, key argument positions, options), and every
 * misuse the annotations allow (two caching annotations, no {@code @CacheValue}, an unsupported
 * option) fails then, naming the method. A call looks its operation up in a map and does no
 * reflection on annotations.
 *
 * <p><b>Read through, once.</b> {@code @CacheResult} is the distributed cache's {@code get(key,
 * loader)} with the method as the loader, rather than the specification's get-call-put sequence:
 * same result, but concurrent calls of a key share one call of the method.
 *
 * <p><b>Keys are shared with Spring.</b> A call's key is built from its arguments as Spring's
 * {@code SimpleKeyGenerator} builds it and encoded by value ({@link
 * dev.shardcache.objects.StableKeyEncoder}), so the same arguments hash to the same owner on every
 * node, in this proxy and in {@code dev.shardcache.spring}.
 *
 * <p><b>Exceptions.</b> The annotations' exception filters follow the reference implementation:
 * when the method throws, a put or removal happens only for exceptions the filter names. Caching
 * exceptions themselves ({@code exceptionCacheName}) is not supported: an exception's serialized
 * form drags in classes (stack traces, causes) that an allow-listed value codec should not have to
 * admit.
 *
 * <p>The package needs {@code javax.cache:cache-api} on the class path (for the annotations) and
 * nothing else beyond the core.
 */
@org.jspecify.annotations.NullMarked
package dev.shardcache.annotation;
