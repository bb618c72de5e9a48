/**
 * Shardcache: one cache shared by the JVMs of a service, each holding one Caffeine shard.
 *
 * <h2>Design</h2>
 * A {@link dev.shardcache.ShardcacheNode} runs in every JVM: a gRPC server on the node's address,
 * one channel per peer, and the {@linkplain dev.shardcache.ring.HashRing consistent hash ring} of
 * the current members (the peers plus the node itself). Each named
 * {@link dev.shardcache.DistributedCache} on a node is a Caffeine cache (the node's <em>shard</em>)
 * plus routing:
 * <ul>
 *   <li>the key is encoded with the cache's key {@link dev.shardcache.Codec} and hashed onto the
 *       ring; the member found there owns the key;
 *   <li>the owner answers from its shard, or calls the {@link dev.shardcache.CacheLoader} once
 *       for all concurrent callers (single-flight), stores the value and answers;
 *   <li>any other node forwards the read to the owner over gRPC, coalescing its own concurrent
 *       callers of the same key into one call, and optionally keeps the answer in a small
 *       short-lived near cache;
 *   <li>a request that arrives from a peer is served or loaded where it lands and is never
 *       forwarded again, so two nodes whose rings disagree for a while cannot bounce a request
 *       between them or wait on each other;
 *   <li>when the owner is unreachable, a read loads on the calling node and the peer is skipped
 *       for a back-off period, so a dead peer costs one timeout, not one per call.
 * </ul>
 * The wire protocol and its rules are in {@code docs/protocol.md}.
 *
 * <h2>Conventions</h2>
 * Every type is non-null unless annotated {@link org.jspecify.annotations.Nullable}. Public types
 * are thread-safe unless their documentation says otherwise. Everything not public here is an
 * implementation detail; {@code dev.shardcache.internal} packages are not API.
 */
@NullMarked
package dev.shardcache;

import org.jspecify.annotations.NullMarked;
