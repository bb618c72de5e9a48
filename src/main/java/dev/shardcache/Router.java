package dev.shardcache;

import dev.shardcache.ring.HashRing;
import dev.shardcache.ring.KeyHash;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Maps keys of one cache to their holders under this node's current ring: encode, hash, look up the
 * first {@code replicationFactor} members. One node's view decides where a key lives: the answer is
 * always the current ring's, never a ring captured earlier.
 *
 * <p>The ring and its epoch are read together from one {@link RingView}, so a route's epoch is
 * exactly that of the ring it was computed on. Thread-safe; allocation is the key's bytes and the
 * holder list.
 */
final class Router<K> {
  private final EntryCodec<K, ?> codec;
  private final int replicationFactor;

  Router(EntryCodec<K, ?> codec, int replicationFactor) {
    this.codec = codec;
    this.replicationFactor = replicationFactor;
  }

  KeyRoute route(Cluster cluster, K key) {
    return route(cluster, codec.encodeKey(key));
  }

  KeyRoute route(Cluster cluster, byte[] keyBytes) {
    RingView view = cluster.ringView();
    long hash = KeyHash.hash(keyBytes);
    List<String> holders = view.ring().ownersOf(hash, replicationFactor);
    return new KeyRoute(keyBytes, hash, view.epoch(), holders, contains(cluster, holders));
  }

  /** Whether this node holds the key of {@code hash} under {@code ring}. */
  boolean holds(Cluster cluster, HashRing ring, long hash) {
    return contains(cluster, ring.ownersOf(hash, replicationFactor));
  }

  List<String> holders(HashRing ring, long hash) {
    return ring.ownersOf(hash, replicationFactor);
  }

  private static boolean contains(Cluster cluster, List<String> holders) {
    for (String holder : holders) {
      if (cluster.isSelf(holder)) {
        return true;
      }
    }
    return false;
  }

  /**
   * The bytes of a key this node holds, for hand-off and anti-entropy, or null if the codec cannot
   * encode it (such a key is skipped there rather than failing the whole pass).
   */
  byte @Nullable [] heldKeyBytes(K key) {
    try {
      return codec.encodeKey(key);
    } catch (RuntimeException e) {
      return null;
    }
  }
}
