package dev.shardcache;

import dev.shardcache.ring.HashRing;

/**
 * This node's ring and its epoch, published together: a reader that takes both from one {@code
 * RingView} can never pair a new ring with an old epoch. (Published apart, a write routed under the
 * new ring could be followed, on the same thread, by a read that still saw the old epoch and
 * answered the key's old copy from the shard.) Immutable.
 *
 * @param epoch a number that grows with every change of the ring
 */
record RingView(HashRing ring, int epoch) {}
