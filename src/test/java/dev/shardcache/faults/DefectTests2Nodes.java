package dev.shardcache.faults;

import static org.awaitility.Awaitility.await;

import dev.shardcache.CacheConfig;
import dev.shardcache.CacheLoader;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.testing.TcpProxy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * Shared pieces of the fault tests of the defect-tests-2 branch: real nodes on 127.0.0.1, a loader
 * that blocks on its first call, a three-node cluster with one node behind a {@link TcpProxy}, and
 * waits on observable behaviour (membership, backlogs, served requests), never on elapsed time.
 */
final class DefectTests2Nodes {
  static final String CACHE = "kv";

  private DefectTests2Nodes() {}

  /** The port of a "host:port" address. */
  static int port(String address) {
    return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
  }

  /** A port on 127.0.0.1 that was free a moment ago (bound, then closed). */
  static int freePort() {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Starts {@code call} on a new daemon thread; the task's future and its thread. */
  static <T> Started<T> startThread(String name, Callable<T> call) {
    FutureTask<T> task = new FutureTask<>(call);
    Thread thread = new Thread(task, name);
    thread.setDaemon(true);
    thread.start();
    return new Started<>(task, thread);
  }

  /** A task running on its own thread. */
  record Started<T>(FutureTask<T> future, Thread thread) {
    /**
     * Waits until the task finished or its thread is parked (waiting for an answer, a flight or a
     * lock): the point at which it has joined whatever it is going to wait on.
     */
    void awaitDoneOrParked() {
      await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(5)).until(() -> {
        Thread.State state = thread.getState();
        return future.isDone() || state == Thread.State.WAITING
            || state == Thread.State.TIMED_WAITING || state == Thread.State.TERMINATED;
      });
    }

    /** The task's value, or "threw <exception>" if it failed; waits at most 20 s. */
    String outcome() {
      try {
        return String.valueOf(future.get(20, TimeUnit.SECONDS));
      } catch (java.util.concurrent.ExecutionException e) {
        return "threw " + e.getCause();
      } catch (java.util.concurrent.TimeoutException e) {
        thread.interrupt();
        return "still running after 20 s";
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return "interrupted";
      }
    }
  }

  /**
   * A loader whose first call signals {@link #entered} and then blocks until {@link #release()}
   * (at most 30 s), answering "v1"; the n-th call answers "vn" at once. Counts its calls.
   * Thread-safe.
   */
  static final class GatedLoader implements CacheLoader<String, String> {
    final CountDownLatch entered = new CountDownLatch(1);
    private final CountDownLatch released = new CountDownLatch(1);
    private final AtomicInteger calls = new AtomicInteger();

    @Override
    public String load(String key) throws InterruptedException {
      int call = calls.incrementAndGet();
      if (call == 1) {
        entered.countDown();
        released.await(30, TimeUnit.SECONDS);
      }
      return "v" + call;
    }

    void awaitEntered() throws InterruptedException {
      if (!entered.await(10, TimeUnit.SECONDS)) {
        throw new AssertionError("the loader was not called within 10 s");
      }
    }

    void release() {
      released.countDown();
    }

    int calls() {
      return calls.get();
    }
  }

  /**
   * Three nodes with a replicated cache {@value #CACHE} of UTF-8 strings and no loader; node 2 is
   * reached by its peers only through {@link #proxy} (its ring address is the proxy's port), so a
   * test can cut it off and heal it, or stop it and start an empty node at the same address.
   * Anti-entropy runs every 200 ms.
   *
   * <p>The cut is one-way, as {@link TcpProxy} allows: calls <em>to</em> node 2 fail, while node 2's
   * own calls to its peers still go through.
   */
  static final class ProxiedTrio implements AutoCloseable {
    final List<ShardcacheNode> nodes = new ArrayList<>();
    final List<DistributedCache<String, String>> caches = new ArrayList<>();
    final TcpProxy proxy;
    private final int replicationFactor;
    private final Duration heartbeatInterval;
    private final int hiddenPort;

    /**
     * Starts the three nodes and gives each all three addresses; {@code heartbeatInterval} is how
     * soon a silent node is suspected (a few intervals) and leaves the others' rings.
     */
    ProxiedTrio(int replicationFactor, Duration heartbeatInterval) {
      this.replicationFactor = replicationFactor;
      this.heartbeatInterval = heartbeatInterval;
      this.hiddenPort = freePort();
      TcpProxy started = null;
      try {
        started = TcpProxy.start(hiddenPort);
        for (int i = 0; i < 3; i++) {
          ShardcacheNode node = newNode(i == 2 ? started : null);
          nodes.add(node);
          caches.add(node.cache(CACHE, config()));
          node.start();
        }
        joinAll();
      } catch (IOException | RuntimeException e) {
        nodes.forEach(ShardcacheNode::close);
        if (started != null) {
          started.close();
        }
        throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
      }
      this.proxy = started;
    }

    private ShardcacheNode newNode(@Nullable TcpProxy hiddenBehind) {
      ShardcacheNode.Builder builder = ShardcacheNode.builder()
          .heartbeatInterval(heartbeatInterval)
          .antiEntropyInterval(Duration.ofMillis(200))
          .listen("127.0.0.1", hiddenBehind == null ? 0 : hiddenPort);
      if (hiddenBehind != null) {
        builder.advertisePort(hiddenBehind.port());
      }
      return builder.build();
    }

    private CacheConfig<String, String> config() {
      return CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
          .replicationFactor(replicationFactor)
          .remoteTimeout(Duration.ofSeconds(2))
          .build();
    }

    private void joinAll() {
      List<String> members = new ArrayList<>();
      nodes.forEach(node -> members.add(node.address()));
      nodes.stream().filter(ShardcacheNode::isRunning).forEach(node -> node.setPeers(members));
    }

    /** Stops node 2 (its shard, hints and clock are gone); calls to it are refused meanwhile. */
    void stopHidden() {
      nodes.get(2).close();
    }

    /**
     * Replaces node 2 by a new, empty node at the same address (same port behind the same proxy),
     * defining the cache before it serves, and gives every node all three addresses again.
     */
    void restartHidden() {
      String address = nodes.get(2).address();
      nodes.get(2).close();
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (true) {
        ShardcacheNode fresh = newNode(proxy);
        DistributedCache<String, String> cache = fresh.cache(CACHE, config());
        try {
          fresh.start();
          nodes.set(2, fresh);
          caches.set(2, cache);
          break;
        } catch (IOException e) { // the old server's port may take a moment to be free again
          fresh.close();
          if (System.nanoTime() - deadline > 0) {
            throw new UncheckedIOException("node 2 could not listen again on " + hiddenPort, e);
          }
          try {
            Thread.sleep(50);
          } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(interrupted);
          }
        }
      }
      if (!nodes.get(2).address().equals(address)) {
        throw new IllegalStateException("restarted node 2 is " + nodes.get(2).address()
            + ", not " + address);
      }
      joinAll();
    }

    /**
     * Waits (up to 20 s) until every node reaches every peer, suspects none and has delivered all
     * its replication, hints included.
     */
    void awaitSettled() {
      await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> {
        for (ShardcacheNode node : nodes) {
          if (!node.reachablePeers().equals(node.peers()) || !node.suspectedPeers().isEmpty()
              || node.replicationBacklog() > 0) {
            return false;
          }
        }
        return true;
      });
    }

    /**
     * Waits (up to 20 s) until every node has served at least {@code rounds} more requests per peer
     * than now: with nothing else going on, those are the peers' anti-entropy digests.
     */
    void awaitAntiEntropyRounds(int rounds) {
      long[] before = new long[nodes.size()];
      for (int i = 0; i < nodes.size(); i++) {
        before[i] = caches.get(i).stats().peerRequestCount();
      }
      long needed = (long) rounds * (nodes.size() - 1);
      await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> {
        for (int i = 0; i < nodes.size(); i++) {
          if (caches.get(i).stats().peerRequestCount() - before[i] < needed) {
            return false;
          }
        }
        return true;
      });
    }

    /** The local sizes of the nodes' shards, by node index (-1 for a stopped node). */
    List<Long> localSizes() {
      List<Long> sizes = new ArrayList<>();
      for (int i = 0; i < nodes.size(); i++) {
        sizes.add(nodes.get(i).isRunning() ? caches.get(i).localSize() : -1L);
      }
      return sizes;
    }

    /** How many of {@code keys} each node answers with a value through getIfPresent. */
    List<Integer> visibleCounts(List<String> keys) {
      List<Integer> counts = new ArrayList<>();
      for (DistributedCache<String, String> cache : caches) {
        int visible = 0;
        for (String key : keys) {
          if (cache.getIfPresent(key) != null) {
            visible++;
          }
        }
        counts.add(visible);
      }
      return counts;
    }

    /** The nodes' replication backlogs (hints included), by node index. */
    List<Long> backlogs() {
      List<Long> backlogs = new ArrayList<>();
      nodes.forEach(node -> backlogs.add(node.isRunning() ? node.replicationBacklog() : -1L));
      return backlogs;
    }

    @Override
    public void close() {
      nodes.forEach(ShardcacheNode::close);
      proxy.close();
    }
  }
}
