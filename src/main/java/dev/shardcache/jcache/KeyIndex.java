package dev.shardcache.jcache;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The keys this node has written or loaded into one JCache cache: what its iterator and {@code
 * removeAll()} can reach.
 *
 * <p>The core offers no way to list a cache's keys (not even this node's shard), so the JCache
 * layer remembers the keys that went through it. On a single node that is every key of the cache.
 * In a cluster, keys written through other nodes are missing; iteration then covers only this
 * node's writes. Keys whose entries have gone (evicted, invalidated elsewhere, expired) are dropped
 * when an iteration finds them absent. Thread-safe.
 */
final class KeyIndex {
  private final Set<KeyBytes> keys = ConcurrentHashMap.newKeySet();

  void add(KeyBytes key) {
    keys.add(key);
  }

  void remove(KeyBytes key) {
    keys.remove(key);
  }

  void clear() {
    keys.clear();
  }

  /** A snapshot of the keys, for one iteration. */
  List<KeyBytes> snapshot() {
    return List.copyOf(keys);
  }
}
