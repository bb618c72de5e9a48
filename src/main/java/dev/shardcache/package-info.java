/**
 * Shardcache: one cache shared by the JVMs of a service, each holding one Caffeine shard.
 *
 * <h2>Design</h2>
 *
 * A {@link dev.shardcache.ShardcacheNode} runs in every JVM: a gRPC server on the node's address
 * ({@code NodeServer}; a {@code Get}, a ping and a health probe answered on the network thread,
 * every other call on at most {@code handlerThreads} threads of a {@code HandlerPool}, which
 * refuses a call that finds them all busy), one client per peer with a data connection and a
 * heartbeat connection ({@code PeerClient}), a failure detector fed by pings ({@code Heartbeats}),
 * the {@linkplain dev.shardcache.ring.HashRing consistent hash ring} of the live members ({@code
 * Cluster}), the sender of what needs no acknowledgement ({@code Replicator}: hints, loads,
 * repairs, near-cache invalidations, queued per peer in a {@code HintQueue} within a byte budget
 * per peer and per node, sent as {@code ReplicateBatch}es bounded in bytes, one call in flight per
 * peer and no thread waiting on any; a peer's refusal costs only what it refused, and no queue
 * outlives a member that left), and background upkeep ({@code Maintenance}). {@code NodeSettings}
 * holds what the node's builder was given and the rules each setting obeys; {@code NodeLifecycle}
 * owns the node's state (new, running, leaving, closed) and which view of the cluster each caller
 * gets in each; {@code NodeStartup} assembles the parts (a failed start leaves no port bound) and
 * {@code NodeShutdown} stops them in order within one deadline; {@code NodeCaches} holds the node's
 * named caches (one configuration per name) and the pool their loads run on. Each named {@link
 * dev.shardcache.DistributedCache} is a facade ({@code DefaultDistributedCache}) over parts that
 * each own one invariant:
 *
 * <ul>
 *   <li>{@code Shard}: versioned entries merged by last writer wins, bounded by count or bytes;
 *       tombstones kept apart from the size bound; cache-wide clears as a version; lifetimes on the
 *       receiver's clock;
 *   <li>{@code Router}/{@code KeyRoute}: a key's holders under this node's current ring, computed
 *       once per call; a held entry remembers the ring epoch at which holdership was confirmed, so
 *       hits stay free of hashing while moved keys stop being answered at once;
 *   <li>{@code LoadFlights}/{@code Loads}: one resolution of a miss per key at a time, on the
 *       node's executor (never a gRPC thread), asking other holders before loading ({@code
 *       HolderCopies}: one {@code Fetch} per holder, its answer bounded by {@code maxBatchBytes},
 *       the keys it leaves out asked for again, never taken for a holder without a copy); the
 *       misses of a {@code getAll} in one bulk, one call of the loader's {@code loadAll}, each key
 *       still in flight on its own;
 *   <li>{@code ReadPath} with {@code RemoteReads} and {@code NearCache}; {@code WritePath} with
 *       {@code Replication}: where reads are answered, and how writes are applied, replicated
 *       (bounded wait), acknowledged or forwarded; {@code BatchReads} and {@code BatchWrites}:
 *       {@code getAll}, {@code putAll} and {@code invalidateAll(keys)}, one call per holder ({@code
 *       HolderGroups}), each key under its single-key rules; a holder's {@code GetAll} answer is
 *       bounded by {@code maxBatchBytes} ({@code BoundedAnswer}, which bounds {@code Fetch} answers
 *       too), and the keys it leaves out are asked for again, never taken for absent;
 *   <li>{@code HotKeys} with {@code HotKeySketch}: which keys a holder serves peers most (a
 *       count-min sketch with aging, fed only by reads served to peers, never blocking a serving
 *       thread), marked in its answers (each {@code getAll} entry too) so the caller keeps them for
 *       1 s in its {@code NearCache}, and remembered so that a write of one sends near-cache
 *       invalidations;
 *   <li>{@code Refreshes}: refresh-ahead, one background reload of a due key for the whole cluster,
 *       on its first reachable holder, stored only over the version it started from;
 *   <li>{@code PeerRequests}: the serving side; {@code Rebalancer} and {@code AntiEntropy}:
 *       hand-off and repair, bounded in bytes and memory by the node's {@code maxBatchBytes}:
 *       entries leave in chunks through {@code EntryStreams} (a refused entry skipped alone), and a
 *       Digest answer comes in pages of the lowest key hashes that fit ({@code HashOrderedPage}),
 *       so no message and no pass holds more than about a chunk or a page, whatever the shard;
 *       {@code EntryCodec}: bytes, size limits and the clock-skew bound; {@code CacheCounters}:
 *       statistics;
 *   <li>{@code ScanPages} and {@code ClusterScan}: cluster-wide iteration ({@link
 *       dev.shardcache.DistributedCache#scan()}): each member answers the live entries it owns in
 *       pages after a key-hash cursor, built by the same {@code HashOrderedPage} as Digest pages
 *       and keeping nothing between pages; the caller asks the members one after another, a page
 *       only when the one before it is being consumed (back-pressure, about two pages of memory),
 *       and reports a member it cannot read ({@link dev.shardcache.ScanIncompleteException})
 *       instead of skipping it;
 *   <li>{@code PeerCalls}: the one policy every remote call goes through (acquire, count, deadline,
 *       classify, map). Its rule: <b>slow is not dead</b>. Only the failure detector removes a
 *       member from the ring; a call that outlives its deadline fails that call (a write with
 *       {@link dev.shardcache.OutcomeUnknownException}) but never routes around a live owner or
 *       loads a key a second time. Single-key reads go through it as any call, but travel on one
 *       long-lived {@code Reads} stream per peer ({@code StreamedReads}; served by {@code
 *       ServedReads}, each read bounded, answered and withdrawn as a call would be), so a remote
 *       read costs a message each way rather than an HTTP/2 stream; with a cluster secret they stay
 *       signed calls.
 * </ul>
 *
 * <h2>Client-only members</h2>
 *
 * A node built {@link dev.shardcache.ShardcacheNode.Builder#clientOnly() client-only} has the same
 * caches and data path with fewer parts: no {@code NodeServer} (it binds no port), a {@code
 * Cluster} whose ring is the live members without it (so every {@code KeyRoute} says it holds
 * nothing, and every read and write goes to the holders through {@code PeerCalls}), no upkeep of
 * shards, and {@code ReadPath} never loading for it (its members' loaders do). Because nobody lists
 * it as a peer, the near-cache invalidations members send each other cannot reach it; instead its
 * {@code Subscriptions} keep one {@code Subscribe} stream per member ({@code Subscription}), each
 * member's {@code Subscribers} push it the keys of the writes it applies ({@code Subscriber}: a
 * bounded queue behind gRPC's flow control; hot keys acknowledged, so writes wait for clients as
 * for members), and its {@code NearCache} keeps copies of a cache only while every member of its
 * ring has an open stream for that cache. Every change of that gate, and every stream that ends,
 * drops the copies, so a copy is never kept across a moment in which a write's invalidation could
 * have been missed (rule 17 of {@code docs/protocol.md}).
 *
 * <p>The wire protocol and the consistency rules are in {@code docs/protocol.md}.
 *
 * <h2>Why the parts are package-private here</h2>
 *
 * The internals stay in this package, package-private, as Caffeine keeps its cache internals in one
 * package: moving them to packages of their own would force them to be public, and users would come
 * to depend on them. The leaf packages without I/O ({@code ring}, {@code replication}, {@code
 * membership}, {@code objects}) are public because they are useful and stable on their own.
 *
 * <h2>Conventions</h2>
 *
 * Every type is non-null unless annotated {@link org.jspecify.annotations.Nullable}. Public types
 * are thread-safe unless their documentation says otherwise. Everything not public here is an
 * implementation detail; the {@code internal}, {@code replication} and {@code membership} packages
 * are not API.
 */
@NullMarked
package dev.shardcache;

import org.jspecify.annotations.NullMarked;
