package dev.shardcache;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * Single-flight on this node: at most one resolution of a missing key runs at a time, and every
 * caller that misses the key meanwhile, local or a peer's request, waits for that one. Together
 * with routing every miss of a key to its owner, this makes one loader call per key for the whole
 * cluster.
 *
 * <p>The flight runs on the node's bounded load executor, never on the caller's thread, so a gRPC
 * handler that joins a load returns at once and answers when the flight completes. When the
 * executor is full (every load thread busy and the queue full) a new flight fails at once with
 * {@link OverloadedException} instead of queueing without bound.
 *
 * <p>A flight stays in the map until its body has stored its result; the body re-reads the shard
 * before loading, because of this interleaving: (1) A misses the shard; (2) flight B stores the
 * value and leaves the map; (3) A finds no flight and starts one. Since B stores before leaving,
 * A's re-read sees B's value.
 *
 * <p><b>Interest.</b> Each caller holds a {@link Ticket} on the flight it joined; a peer whose call
 * is cancelled releases its ticket. A flight whose every ticket was released before it started is
 * not started at all (the load of an abandoned request costs nothing); once started it runs to the
 * end, since other callers may join it. Sealing an unstarted flight and joining it are ordered by
 * one atomic counter, so a caller never joins a flight that will not run.
 *
 * <p>A write on this node {@linkplain #detach detaches} the key's flight: readers that arrive after
 * the write start a new resolution instead of joining one that began before it (whose result the
 * write has made stale). The detached flight still completes for the readers that joined it, and
 * its result is merged by version, so it cannot overwrite the write.
 *
 * <p><b>Bulk flights.</b> The misses of a {@code getAll} are resolved by one body for many keys
 * ({@link #ticketsAll}), so that the loader's {@code loadAll} is called once for them. Each key of
 * the bulk still has a flight of its own in the map: a reader of any one of them joins the bulk
 * instead of loading the key again, and a bulk joins the keys that are already in flight instead of
 * passing them to its body. Interest, abandonment and detaching work per key, as for a single
 * flight; the whole group takes one place on the executor.
 *
 * <p>Thread-safe.
 */
final class LoadFlights<K, V> {
  /** The interest count of a flight that was abandoned before it started. */
  private static final int SEALED = -1;

  private static final class Flight<V> {
    final CompletableFuture<@Nullable V> result = new CompletableFuture<>();
    final AtomicInteger interest = new AtomicInteger(1);

    /** Set by whichever comes first: the body starting, or the last caller abandoning it. */
    final AtomicBoolean started = new AtomicBoolean();

    /** Takes the flight out of the map and the pool's queue; set before anyone can release. */
    volatile Runnable abandon = () -> {};
  }

  /** One caller's stake in a flight. */
  static final class Ticket<V> {
    private final Flight<V> flight;
    private final AtomicBoolean released = new AtomicBoolean();

    private Ticket(Flight<V> flight) {
      this.flight = flight;
    }

    CompletableFuture<@Nullable V> result() {
      return flight.result;
    }

    /**
     * Gives up this caller's interest; idempotent. The last release of a flight that has not
     * started seals it (nobody joins it any more) and takes it out of the pool's queue at once, so
     * abandoned loads do not hold queue places either.
     */
    void release() {
      if (released.compareAndSet(false, true)
          && flight.interest.decrementAndGet() == 0
          && !flight.started.get() // a running flight stays joinable
          && flight.interest.compareAndSet(0, SEALED)
          && flight.started.compareAndSet(false, true)) {
        flight.abandon.run();
      }
    }
  }

  private final ConcurrentMap<K, Flight<V>> flights = new ConcurrentHashMap<>();
  private final Executor executor;

  LoadFlights(Executor executor) {
    this.executor = executor;
  }

  /**
   * Returns the flight of {@code key}, starting {@code body} on the executor if none is running.
   * The caller keeps its interest until the flight ends.
   */
  CompletableFuture<@Nullable V> join(K key, Callable<@Nullable V> body) {
    return ticket(key, body).result();
  }

  /** Like {@link #join}, for a caller that may go away: release the ticket when it does. */
  Ticket<V> ticket(K key, Callable<@Nullable V> body) {
    while (true) {
      Flight<V> mine = new Flight<>();
      Flight<V> running = flights.putIfAbsent(key, mine);
      if (running == null) {
        start(key, mine, body);
        return new Ticket<>(mine);
      }
      Ticket<V> joined = joinRunning(key, running);
      if (joined != null) {
        return joined;
      }
    }
  }

  /**
   * A ticket on {@code running}, or null if it was abandoned before it started (it is then taken
   * out of the map, and the caller starts afresh).
   */
  private @Nullable Ticket<V> joinRunning(K key, Flight<V> running) {
    int interest;
    do {
      interest = running.interest.get();
    } while (interest != SEALED && !running.interest.compareAndSet(interest, interest + 1));
    if (interest != SEALED) {
      return new Ticket<>(running);
    }
    flights.remove(key, running);
    return null;
  }

  /**
   * What a bulk body answers for one key: its value (null as for a single flight), or a failure.
   */
  record Outcome<V>(@Nullable V value, @Nullable Throwable failure) {
    static <V> Outcome<V> of(@Nullable V value) {
      return new Outcome<>(value, null);
    }

    static <V> Outcome<V> failed(Throwable failure) {
      return new Outcome<>(null, failure);
    }
  }

  /** The body of a flight of many keys: resolves them all in one go, on the executor. */
  @FunctionalInterface
  interface BulkBody<K, V> {
    /**
     * Resolves {@code keys} and answers an outcome for each of them; a key it leaves out fails. It
     * stores what it keeps before it returns, as a single flight's body does.
     */
    Map<K, Outcome<V>> resolve(List<K> keys) throws Exception;
  }

  /**
   * Joins the flight of each of {@code keys} that has one, and starts one flight for all the
   * others: {@code body} runs once, on the executor, with those of them still wanted when it starts
   * (see {@link Ticket#release}). Each of those keys is in flight from this call on, so a {@link
   * #join} of it meanwhile joins the bulk instead of loading the key again, just as this call joins
   * the keys already in flight instead of passing them to {@code body}. Each flight leaves the map
   * when {@code body} has returned, then completes with its key's outcome.
   *
   * @param keys distinct keys
   * @return a ticket per key, in the order of {@code keys}
   */
  List<Ticket<V>> ticketsAll(List<K> keys, BulkBody<K, V> body) {
    List<Ticket<V>> tickets = new ArrayList<>(keys.size());
    Map<K, Flight<V>> group = new LinkedHashMap<>();
    for (K key : keys) {
      while (true) {
        Flight<V> mine = new Flight<>();
        Flight<V> running = flights.putIfAbsent(key, mine);
        if (running == null) {
          group.put(key, mine);
          tickets.add(new Ticket<>(mine));
          break;
        }
        Ticket<V> joined = joinRunning(key, running);
        if (joined != null) {
          tickets.add(joined);
          break;
        }
      }
    }
    if (!group.isEmpty()) {
      startAll(group, body);
    }
    return tickets;
  }

  private void startAll(Map<K, Flight<V>> group, BulkBody<K, V> body) {
    Runnable[] task = new Runnable[1];
    AtomicInteger unabandoned = new AtomicInteger(group.size());
    group.forEach(
        (key, flight) ->
            flight.abandon =
                () -> {
                  flights.remove(key, flight);
                  // The group's task holds a queue place until every one of its flights is gone.
                  if (unabandoned.decrementAndGet() == 0
                      && executor instanceof ThreadPoolExecutor pool
                      && task[0] != null) {
                    pool.remove(task[0]);
                  }
                  flight.result.completeExceptionally(
                      new CancellationException("every caller went away before the load started"));
                });
    task[0] =
        () -> {
          Map<K, Flight<V>> started = new LinkedHashMap<>();
          group.forEach(
              (key, flight) -> {
                if (flight.started.compareAndSet(false, true)) {
                  started.put(key, flight); // the others were abandoned while they waited
                }
              });
          if (started.isEmpty()) {
            return;
          }
          Map<K, Outcome<V>> outcomes;
          try {
            outcomes = body.resolve(new ArrayList<>(started.keySet()));
          } catch (Throwable t) {
            started.forEach(
                (key, flight) -> {
                  flights.remove(key, flight);
                  flight.result.completeExceptionally(t);
                });
            return;
          }
          // As for a single flight: leave the map first, then complete (see start()).
          started.forEach((key, flight) -> flights.remove(key, flight));
          started.forEach(
              (key, flight) -> {
                Outcome<V> outcome = outcomes.get(key);
                if (outcome == null) {
                  flight.result.completeExceptionally(
                      new IllegalStateException("a bulk load answered nothing for a key"));
                } else if (outcome.failure() != null) {
                  flight.result.completeExceptionally(outcome.failure());
                } else {
                  flight.result.complete(outcome.value());
                }
              });
        };
    try {
      executor.execute(task[0]);
    } catch (RejectedExecutionException e) {
      RuntimeException overloaded = OverloadedException.of(executor, e);
      group.forEach(
          (key, flight) -> {
            flights.remove(key, flight);
            flight.result.completeExceptionally(overloaded);
          });
    }
  }

  private void start(K key, Flight<V> flight, Callable<@Nullable V> body) {
    Runnable[] task = new Runnable[1];
    flight.abandon =
        () -> {
          flights.remove(key, flight);
          if (executor instanceof ThreadPoolExecutor pool && task[0] != null) {
            pool.remove(task[0]);
          }
          flight.result.completeExceptionally(
              new CancellationException("every caller went away before the load started"));
        };
    task[0] =
        () -> {
          if (!flight.started.compareAndSet(false, true)) {
            return; // abandoned while it waited for a thread
          }
          // Leave the map before completing: a caller woken by the completion that reads again must
          // not join this finished flight (a failure would be answered twice). The body has stored
          // its value by now, so a reader arriving in between finds it in the shard.
          @Nullable V value;
          try {
            value = body.call();
          } catch (Throwable t) {
            flights.remove(key, flight);
            flight.result.completeExceptionally(t);
            return;
          }
          flights.remove(key, flight);
          flight.result.complete(value);
        };
    try {
      executor.execute(task[0]);
    } catch (RejectedExecutionException e) {
      flights.remove(key, flight);
      flight.result.completeExceptionally(OverloadedException.of(executor, e));
    }
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
      throw new CacheLoadException(
          "a load of cache '"
              + cache
              + "' did not finish within"
              + " loadTimeout "
              + timeout
              + "; it goes on and is kept when it ends: retry later, or"
              + " raise loadTimeout",
          e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ShardcacheException(
          "interrupted while waiting for a load of cache '" + cache + "'", e);
    }
  }
}
