package dev.shardcache.jcache;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The keys this node has written or loaded into one JCache cache, at most {@code maximumSize} of
 * them: what its iterator and {@code removeAll()} can reach.
 *
 * <p>The core offers no way to list a cache's keys (not even this node's shard), so the JCache
 * layer remembers the keys that went through it. On a single node that is every key of the cache.
 * In a cluster, keys written through other nodes are missing; iteration then covers only this
 * node's writes. Keys whose entries have gone (evicted, invalidated elsewhere, expired) are dropped
 * when an iteration finds them absent.
 *
 * <p><b>Bounded.</b> Keys that are never iterated over would otherwise be remembered forever, so
 * the index holds at most {@code maximumSize} keys (JSR-107 property {@value
 * ManagerSettings#KEY_INDEX_MAXIMUM_SIZE}, default {@value #DEFAULT_MAXIMUM_SIZE}). At the bound,
 * adding a key forgets the key written or loaded longest ago (a key written again counts as new):
 * the one most likely gone from the shard already, whose size bound evicts too. A forgotten key
 * whose entry is still there is missed by iteration, and {@code removeAll()} still removes it (it
 * clears every member) but without its removal event. The first time the bound forgets a key it is
 * logged, once per index. Memory: about {@code maximumSize} keys' encoded bytes plus some 100 bytes
 * each.
 *
 * <p>Thread-safe: every method holds the index's lock, {@link #snapshot} for a copy of up to {@code
 * maximumSize} references. No method blocks otherwise.
 */
final class KeyIndex {
  private static final Logger logger = Logger.getLogger(KeyIndex.class.getName());

  /** The keys an index remembers when {@value ManagerSettings#KEY_INDEX_MAXIMUM_SIZE} is unset. */
  static final int DEFAULT_MAXIMUM_SIZE = 100_000;

  private final int maximumSize;

  // Insertion order, a re-added key moved to the end: the eldest is the one written longest ago.
  private final Map<KeyBytes, Boolean> keys; // guarded by this
  private boolean warned; // guarded by this

  /** An index of at most {@value #DEFAULT_MAXIMUM_SIZE} keys. */
  KeyIndex() {
    this(DEFAULT_MAXIMUM_SIZE);
  }

  /**
   * An index of at most {@code maximumSize} keys.
   *
   * @throws IllegalArgumentException if {@code maximumSize} is below 1
   */
  KeyIndex(int maximumSize) {
    checkArgument(maximumSize >= 1, "maximumSize must be at least 1, got %s", maximumSize);
    this.maximumSize = maximumSize;
    this.keys =
        new LinkedHashMap<>(16, 0.75f, /* accessOrder= */ true) {
          private static final long serialVersionUID = 1L;

          @Override
          protected boolean removeEldestEntry(Map.Entry<KeyBytes, Boolean> eldest) {
            boolean full = size() > KeyIndex.this.maximumSize;
            if (full) {
              forgotten();
            }
            return full;
          }
        };
  }

  private void forgotten() {
    if (!warned) {
      warned = true;
      logger.log(
          Level.INFO,
          "A JCache key index reached its bound of {0} keys: it forgets the oldest, so iteration"
              + " may miss entries written long ago; raise "
              + ManagerSettings.KEY_INDEX_MAXIMUM_SIZE
              + " if iteration must see more",
          maximumSize);
    }
  }

  synchronized void add(KeyBytes key) {
    keys.put(key, Boolean.TRUE);
  }

  synchronized void remove(KeyBytes key) {
    keys.remove(key);
  }

  synchronized void clear() {
    keys.clear();
  }

  /** The number of keys remembered, at most {@code maximumSize}. */
  synchronized int size() {
    return keys.size();
  }

  /** A snapshot of the keys, oldest first, for one iteration. */
  synchronized List<KeyBytes> snapshot() {
    return List.copyOf(keys.keySet());
  }
}
