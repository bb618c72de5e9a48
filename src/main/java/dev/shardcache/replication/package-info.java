/**
 * The pure, network-free rules of replication: how writes are versioned, how two copies of a key
 * are reconciled, and how two replicas find out cheaply where they differ.
 *
 * <p><b>Internal.</b> The types here are public only so that {@code dev.shardcache} can use them.
 * They are not API; they may change without notice. Applications should not use them.
 *
 * <h2>Design note</h2>
 *
 * <p><b>Versions from a hybrid logical clock.</b> Every write (a put, a load that is stored, or an
 * invalidate) is stamped with a {@link dev.shardcache.replication.Version}: a timestamp from the
 * writing node's {@link dev.shardcache.replication.HybridLogicalClock} and the writer's id. A
 * hybrid logical clock reads like a wall clock (its high bits are milliseconds), so "the latest
 * write" means what a person expects when clocks are roughly in sync, yet it also behaves like a
 * Lamport clock: a node that has seen a version never issues a smaller one, so a write made after
 * reading or replicating another write always orders after it, whatever the wall clocks say. A node
 * whose wall clock runs far ahead cannot drag the others with it: a remote timestamp more than a
 * configured drift ahead of the local clock is clamped.
 *
 * <p><b>Last writer wins.</b> Two copies of a key, as {@link dev.shardcache.replication.Versioned}
 * values, merge into the one with the higher version. The order on versions is total, so merging is
 * the maximum under a total order: commutative, associative and idempotent. Replicas may therefore
 * receive the same writes in any order, any number of times, through replication, hinted handoff,
 * read repair or anti-entropy, and still end up holding the same version. The price is the usual
 * one of last-writer-wins: of two concurrent writes to one key, one is kept and the other is
 * silently dropped. For a cache in front of a source of truth that is acceptable.
 *
 * <p><b>Deletes are tombstones.</b> An invalidate is a write of a tombstone (a versioned absence),
 * not a removal, so an older value that arrives late loses to it and the delete is not undone.
 * Tombstones cannot be kept forever; the store drops them after a configured lifetime. A write
 * older than a tombstone that arrives only after the tombstone was dropped can bring the key back.
 * The lifetime must therefore exceed the longest time a write can stay in flight (replication
 * queues, hints, a partition); beyond that the resurrection is possible, and bounded to such late
 * writes.
 *
 * <p><b>Digests by bucket.</b> To repair, two replicas compare {@link
 * dev.shardcache.replication.BucketDigest}s of the keys they share: a fixed number of buckets by
 * key-hash prefix, each the XOR of a 64-bit hash of (key, version) over its keys. Equal buckets
 * (almost surely) hold equal versions; only the keys of differing buckets need to be exchanged, so
 * the cost of a repair follows the size of the difference, not the size of the shard. XOR makes a
 * digest independent of the order of its entries and lets a store keep it up to date as it writes.
 */
@org.jspecify.annotations.NullMarked
package dev.shardcache.replication;
