package dev.shardcache.faults;

import dev.shardcache.ShardcacheNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;

/**
 * Samples, every quarter of a millisecond on a daemon thread, whether each watched node still
 * counts each watched peer as reachable ({@link ShardcacheNode#reachablePeers()}), and records
 * every lapse: when it began, how long it lasted, and whether the failure detector suspected the
 * peer ({@link ShardcacheNode#suspectedPeers()}) or a failed call marked it down.
 *
 * <p>A call that marks a peer down is undone by the next heartbeat answer, within half a second
 * with the default settings, so a check made only at the end of a test misses it; sampling does
 * not. Nodes that are not running are skipped.
 */
final class ReachabilityWatch implements AutoCloseable {
  /** Between samples: a heartbeat answer can end a lapse a millisecond after it began. */
  private static final long SAMPLE_NANOS = 250_000;

  /** One period during which {@code observer} did not count {@code peer} as reachable. */
  record Lapse(String observer, String peer, long fromMillis, long toMillis, boolean suspected) {
    @Override
    public String toString() {
      return observer
          + " saw "
          + peer
          + " "
          + (suspected ? "suspected" : "marked down")
          + " from t="
          + fromMillis
          + " ms for "
          + (toMillis - fromMillis)
          + " ms";
    }
  }

  private final Map<ShardcacheNode, Function<ShardcacheNode, Set<String>>> watched;
  private final Map<String, String> names = new HashMap<>();
  private final long startNanos = System.nanoTime();
  private final Map<String, long[]> open = new HashMap<>(); // "observer>peer" -> {from, suspected}
  private final List<Lapse> lapses = new ArrayList<>();
  private final Thread sampler;
  private volatile boolean stopped;

  private ReachabilityWatch(
      Map<ShardcacheNode, Function<ShardcacheNode, Set<String>>> watched,
      List<ShardcacheNode> named) {
    this.watched = watched;
    for (int i = 0; i < named.size(); i++) {
      ShardcacheNode node = named.get(i);
      if (node.isRunning()) {
        names.put(node.address(), "node" + i + " (" + node.address() + ")");
      }
    }
    this.sampler = new Thread(this::run, "reachability-watch");
    sampler.setDaemon(true);
    sampler.start();
  }

  /**
   * Watches, on every node, every configured peer of that node. Nodes are named "node<i>" in
   * reports by their index in {@code nodes}.
   */
  static ReachabilityWatch allPeersOf(List<ShardcacheNode> nodes) {
    Map<ShardcacheNode, Function<ShardcacheNode, Set<String>>> watched = new LinkedHashMap<>();
    for (ShardcacheNode node : nodes) {
      watched.put(node, ShardcacheNode::peers);
    }
    return new ReachabilityWatch(watched, nodes);
  }

  /**
   * Watches, on {@code observer}, the peer {@code peer} only. Nodes are named "node<i>" in reports
   * by their index in {@code names}.
   */
  static ReachabilityWatch peerOf(
      ShardcacheNode observer, String peer, List<ShardcacheNode> names) {
    return new ReachabilityWatch(Map.of(observer, n -> Set.of(peer)), names);
  }

  private String name(String address) {
    return names.getOrDefault(address, address);
  }

  private void run() {
    while (!stopped && !Thread.currentThread().isInterrupted()) {
      sample();
      LockSupport.parkNanos(SAMPLE_NANOS);
    }
  }

  private synchronized void sample() {
    long now = (System.nanoTime() - startNanos) / 1_000_000;
    watched.forEach(
        (node, peersOf) -> {
          Set<String> peers;
          Set<String> reachable;
          Set<String> suspected;
          String self;
          try {
            if (!node.isRunning()) {
              return;
            }
            self = node.address();
            peers = peersOf.apply(node);
            reachable = node.reachablePeers();
            suspected = node.suspectedPeers();
          } catch (IllegalStateException closing) {
            return;
          }
          for (String peer : peers) {
            String key = self + ">" + peer;
            long[] lapse = open.get(key);
            if (!reachable.contains(peer)) {
              if (lapse == null) {
                open.put(key, new long[] {now, suspected.contains(peer) ? 1 : 0});
              } else if (suspected.contains(peer)) {
                lapse[1] = 1;
              }
            } else if (lapse != null) {
              open.remove(key);
              lapses.add(new Lapse(name(self), name(peer), lapse[0], now, lapse[1] == 1));
            }
          }
        });
  }

  /** The lapses seen so far, those still going included (ending now), in order of start. */
  synchronized List<Lapse> lapses() {
    long now = (System.nanoTime() - startNanos) / 1_000_000;
    List<Lapse> all = new ArrayList<>(lapses);
    open.forEach(
        (key, lapse) -> {
          int split = key.indexOf('>');
          all.add(
              new Lapse(
                  name(key.substring(0, split)),
                  name(key.substring(split + 1)),
                  lapse[0],
                  now,
                  lapse[1] == 1));
        });
    all.sort((a, b) -> Long.compare(a.fromMillis(), b.fromMillis()));
    return all;
  }

  /** Milliseconds since the watch started, on the clock of {@link Lapse#fromMillis()}. */
  long elapsedMillis() {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }

  @Override
  public void close() {
    stopped = true;
    sampler.interrupt();
    try {
      sampler.join(1_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    sample(); // one last look
  }
}
