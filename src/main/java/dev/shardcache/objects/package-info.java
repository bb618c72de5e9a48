/**
 * Arbitrary Java objects as keys and values of a distributed cache, for the annotation-driven
 * integrations ({@code dev.shardcache.spring}, {@code dev.shardcache.annotation}).
 *
 * <h2>Design note</h2>
 *
 * <p><b>Keys must hash the same on every node.</b> The owner of a key is found by hashing its
 * encoded bytes, so a key codec must give equal keys equal bytes on every node. Annotated methods
 * produce keys of any type (method arguments, Spring's {@code SimpleKey}), and the obvious generic
 * encodings fail that test: Java serialization writes a {@code HashMap} in bucket order, which
 * depends on capacity and insertion history; {@code toString()} makes {@code ("a, b")} and {@code
 * ("a", "b")} collide; identity hash codes differ between JVMs. {@link
 * dev.shardcache.objects.StableKeyEncoder} instead writes each key by value in a tagged,
 * self-delimiting layout ({@code StableKeyFormat}), sorting the elements of sets and maps by their
 * own encodings, and refuses types it cannot encode by value.
 *
 * <p><b>Keys are stored as bytes.</b> A shard stores keys as objects and compares them with {@code
 * equals}; a key that arrives from a peer is whatever the key codec decodes. Rebuilding an
 * application's key objects from bytes would need every key class to be decodable (and would
 * instantiate classes named by a peer). So the cache's key type is {@link
 * dev.shardcache.objects.StableKey}, the canonical bytes themselves: a local key and the same key
 * from a peer are equal because their bytes are, and decoding instantiates nothing.
 *
 * <p><b>Values are restricted.</b> {@link dev.shardcache.objects.ObjectCodecs#serializable} is Java
 * serialization behind the allow-list filter of {@code Codecs.serializable}; a value can only be
 * decoded into the JDK value classes and the classes the application names.
 */
@org.jspecify.annotations.NullMarked
package dev.shardcache.objects;
