/**
 * Shardcache: one cache shared by the JVMs of a service, each holding one Caffeine shard.
 *
 * <h2>Design</h2>
 * A {@link dev.shardcache.ShardcacheNode} runs in every JVM: a gRPC server on the node's address,
 * one channel per peer, a failure detector fed by pings, and the
 * {@linkplain dev.shardcache.ring.HashRing consistent hash ring} of the live members (the
 * configured peers the detector does not suspect, plus the node itself). Each named
 * {@link dev.shardcache.DistributedCache} on a node is a Caffeine cache of versioned entries (the
 * node's <em>shard</em>) plus routing:
 * <ul>
 *   <li>the key is encoded with the cache's key {@link dev.shardcache.Codec} and hashed onto the
 *       ring; the first {@code replicationFactor} members found there hold it, the first owns it;
 *   <li>a node that holds a key answers from its shard; the owner loads a missing key once for all
 *       concurrent callers (single-flight), after asking the other holders for a copy;
 *   <li>any other node asks the holders in ring order over gRPC, coalescing its own concurrent
 *       callers of the same key into one call, and optionally keeps the answer in a small
 *       short-lived near cache;
 *   <li>writes are versioned by a hybrid logical clock, applied by the first reachable holder and
 *       replicated asynchronously through bounded per-peer queues (which keep hints for peers that
 *       are down); copies merge by last writer wins;
 *   <li>a request that arrives from a peer is served where it lands and never forwarded for an
 *       answer, so two nodes whose rings disagree for a while cannot bounce a request between them
 *       or wait on each other;
 *   <li>after membership changes entries stream to their new holders, and replicas compare
 *       digests periodically (anti-entropy), so copies converge after any fault.
 * </ul>
 * The wire protocol and the consistency rules are in {@code docs/protocol.md}.
 *
 * <h2>Conventions</h2>
 * Every type is non-null unless annotated {@link org.jspecify.annotations.Nullable}. Public types
 * are thread-safe unless their documentation says otherwise. Everything not public here is an
 * implementation detail; the {@code internal}, {@code replication} and {@code membership} packages
 * are not API.
 */
@NullMarked
package dev.shardcache;

import org.jspecify.annotations.NullMarked;
