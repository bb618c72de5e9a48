/**
 * Spring Boot auto-configuration: a Shardcache node and a Spring cache manager from {@code
 * shardcache.*} properties, started and stopped with the application context.
 *
 * <h2>Design note</h2>
 *
 * <p><b>Order of startup.</b> The node bean is built but not started; the cache manager defines the
 * configured caches on it; once every singleton exists, the {@link
 * dev.shardcache.spring.AnnotatedCacheRegistrar} defines the caches the annotations name and the
 * Micrometer binder is bound; only then does {@link
 * dev.shardcache.spring.boot.ShardcacheNodeLifecycle} bind the port, in a lifecycle phase before
 * the web server's. So a peer's first request always finds its cache defined, and the application
 * takes no request before its cache works. Shutdown runs the other way: the web server stops taking
 * requests, then the node closes.
 *
 * <p><b>Optional Spring.</b> Everything here is reached only through {@code
 * META-INF/spring/org.springframework.boot.autoconfigure.AutoConfiguration.imports}; the core never
 * refers to it, and Micrometer is configured only when it is on the class path. So are the
 * operations pieces, each by its own Boot module: the health indicator with {@code
 * spring-boot-health} (the Actuator), the cache meter binder provider with {@code
 * spring-boot-cache}; all are optional dependencies of this jar.
 *
 * <p><b>One set of cache meters.</b> When Boot's cache metrics are present they bind the Spring
 * caches (with the {@code cache.manager} and {@code name} tags Boot gives every cache), and {@link
 * dev.shardcache.micrometer.ShardcacheMetrics} keeps to the node's meters; otherwise it binds the
 * caches too, tagged {@code cache} only. Never both: two sets of {@code cache.gets} with different
 * tag keys would double sums and break registries that require one set of keys per name
 * (Prometheus).
 *
 * <p><b>Properties map onto the builders.</b> Each {@code shardcache.*} property is one setter of
 * {@code ShardcacheNode.Builder} or of {@link dev.shardcache.spring.CacheSettings} (and through it
 * {@code CacheConfig.Builder}); an unset property leaves the library's default, so the defaults are
 * documented once, on the builders.
 *
 * <p><b>Metadata for IDEs.</b> Spring Boot's configuration processor runs in the build and writes
 * {@code META-INF/spring-configuration-metadata.json} from {@link
 * dev.shardcache.spring.boot.ShardcacheProperties}: each field's Javadoc is the property's
 * description and its initial value the default. The library defaults an unset property leaves
 * (such as {@code maximum-size} 10000) are not visible to the processor, so {@code
 * META-INF/additional-spring-configuration-metadata.json} states them; {@code
 * ConfigurationMetadataTest} checks that every property is described. A map of caches cannot be
 * described key by key: {@code shardcache.caches.NAME.*} takes the keys documented under {@code
 * shardcache.cache-defaults.*}.
 */
@org.jspecify.annotations.NullMarked
package dev.shardcache.spring.boot;
