/**
 * JMH benchmarks of the public {@link dev.shardcache.DistributedCache} API, run against real {@link
 * dev.shardcache.ShardcacheNode}s bound to 127.0.0.1 in the benchmark JVM:
 *
 * <ul>
 *   <li>{@link dev.shardcache.bench.HitPathBenchmark}: a local hit against raw Caffeine;
 *   <li>{@link dev.shardcache.bench.RemoteGetBenchmark}: a read served by another node over gRPC
 *       against the same read on the owner.
 * </ul>
 *
 * Each class documents its run command. They are compiled and run only with the {@code jmh} Maven
 * profile, for example {@code mvn -B -Pjmh test-compile exec:exec -Djmh.args="HitPathBenchmark"}.
 */
@org.jspecify.annotations.NullMarked
package dev.shardcache.bench;
