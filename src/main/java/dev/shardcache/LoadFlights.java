package dev.shardcache;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;

/**
 * Single-flight on this node: at most one resolution of a missing key runs at a time, and every
 * caller that misses the key meanwhile, local or a peer's request, waits for that one. Together
 * with routing every miss of a key to its owner, this makes one loader call per key for the whole
 * cluster.
 *
 * <p>The flight runs on the node's executor, never on the caller's thread, so a gRPC handler that
 * joins a load returns at once and answers when the flight completes. A flight stays in the map
 * until its body has stored its result; the body re-reads the shard before loading, because of
 * this interleaving: (1) A misses the shard; (2) flight B stores the value and leaves the map;
 * (3) A finds no flight and starts one. Since B stores before leaving, A's re-read sees B's value.
 *
 * <p>A write on this node {@linkplain #detach detaches} the key's flight: readers that arrive after
 * the write start a new resolution instead of joining one that began before it (whose result the
 * write has made stale). The detached flight still completes for the readers that joined it, and
 * its result is merged by version, so it cannot overwrite the write.
 *
 * <p>Thread-safe.
 */
final class LoadFlights<K, V> {
  private final ConcurrentMap<K, CompletableFuture<@Nullable V>> flights = new ConcurrentHashMap<>();
  private final Executor executor;

  LoadFlights(Executor executor) {
    this.executor = executor;
  }

  /** Returns the flight of {@code key}, starting {@code body} on the executor if none is running. */
  CompletableFuture<@Nullable V> join(K key, Callable<@Nullable V> body) {
    CompletableFuture<@Nullable V> mine = new CompletableFuture<>();
    CompletableFuture<@Nullable V> running = flights.putIfAbsent(key, mine);
    if (running != null) {
      return running;
    }
    try {
      executor.execute(() -> {
        // Leave the map before completing: a caller woken by the completion that reads again must
        // not join this finished flight (a failure would be answered twice). The body has stored
        // its value by now, so a reader arriving in between finds it in the shard.
        @Nullable V value;
        try {
          value = body.call();
        } catch (Throwable t) {
          flights.remove(key, mine);
          mine.completeExceptionally(t);
          return;
        }
        flights.remove(key, mine);
        mine.complete(value);
      });
    } catch (RejectedExecutionException e) {
      flights.remove(key, mine);
      mine.completeExceptionally(new IllegalStateException("the node is closing", e));
    }
    return mine;
  }

  /** Readers arriving from now on start a new flight of {@code key}. */
  void detach(K key) {
    flights.remove(key);
  }

  /** Readers arriving from now on start new flights of every key. */
  void detachAll() {
    flights.clear();
  }

  /**
   * Waits for a flight at most {@code timeout}; the flight itself goes on after a timeout.
   *
   * @throws CacheLoadException if the wait timed out (or the flight failed that way)
   */
  static <T> T await(CompletableFuture<T> flight, Duration timeout, String cache) {
    try {
      return flight.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      throw PeerCalls.rethrow(e.getCause());
    } catch (TimeoutException e) {
      throw new CacheLoadException("a load of cache '" + cache + "' did not finish within"
          + " loadTimeout " + timeout + "; it goes on and is kept when it ends: retry later, or"
          + " raise loadTimeout", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ShardcacheException("interrupted while waiting for a load of cache '" + cache + "'", e);
    }
  }
}
