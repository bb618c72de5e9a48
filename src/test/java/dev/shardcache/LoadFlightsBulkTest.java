package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Bulk flights ({@link LoadFlights#ticketsAll}) and how they share keys with single flights. */
class LoadFlightsBulkTest {
  private final ExecutorService executor = Executors.newFixedThreadPool(4);
  private final LoadFlights<String, String> flights = new LoadFlights<>(executor);
  private final List<List<String>> bodies = new CopyOnWriteArrayList<>();

  @AfterEach
  void tearDown() {
    executor.shutdownNow();
  }

  private LoadFlights.BulkBody<String, String> answering(CountDownLatch gate) {
    return keys -> {
      bodies.add(List.copyOf(keys));
      gate.await(10, TimeUnit.SECONDS);
      Map<String, LoadFlights.Outcome<String>> outcomes = new HashMap<>();
      keys.forEach(key -> outcomes.put(key, LoadFlights.Outcome.of("bulk " + key)));
      return outcomes;
    };
  }

  private static <T> T get(CompletableFuture<T> future) throws Exception {
    return future.get(10, TimeUnit.SECONDS);
  }

  @Test
  void aBulkRunsItsBodyOnceAndJoinsTheKeysAlreadyInFlight() throws Exception {
    CountDownLatch single = new CountDownLatch(1);
    CompletableFuture<String> running =
        flights.join(
            "a",
            () -> {
              single.await(10, TimeUnit.SECONDS);
              return "single a";
            });

    List<LoadFlights.Ticket<String>> tickets =
        flights.ticketsAll(List.of("a", "b", "c"), answering(new CountDownLatch(0)));
    single.countDown();

    assertThat(get(tickets.get(0).result())).isEqualTo("single a");
    assertThat(get(tickets.get(1).result())).isEqualTo("bulk b");
    assertThat(get(tickets.get(2).result())).isEqualTo("bulk c");
    assertThat(get(running)).isEqualTo("single a");
    assertThat(bodies).containsExactly(List.of("b", "c"));
  }

  @Test
  void aReadOfAKeyInABulkJoinsTheBulk() throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    List<LoadFlights.Ticket<String>> tickets =
        flights.ticketsAll(List.of("a", "b"), answering(gate));
    List<String> singleBodies = new CopyOnWriteArrayList<>();

    CompletableFuture<String> joined =
        flights.join(
            "b",
            () -> {
              singleBodies.add("b");
              return "single b";
            });
    gate.countDown();

    assertThat(get(joined)).isEqualTo("bulk b");
    assertThat(get(tickets.get(0).result())).isEqualTo("bulk a");
    assertThat(singleBodies).isEmpty();
    // Once the bulk ended, its keys are no longer in flight.
    assertThat(get(flights.join("b", () -> "again b"))).isEqualTo("again b");
  }

  @Test
  void eachKeyCompletesWithItsOwnOutcome() throws Exception {
    List<LoadFlights.Ticket<String>> tickets =
        flights.ticketsAll(
            List.of("ok", "bad", "nothing", "forgotten"),
            keys ->
                Map.of(
                    "ok", LoadFlights.Outcome.of("value"),
                    "bad", LoadFlights.Outcome.failed(new IllegalStateException("bad key")),
                    "nothing", LoadFlights.Outcome.of(null)));

    assertThat(get(tickets.get(0).result())).isEqualTo("value");
    assertThatThrownBy(() -> get(tickets.get(1).result()))
        .isInstanceOf(ExecutionException.class)
        .hasRootCauseMessage("bad key");
    assertThat(get(tickets.get(2).result())).isNull();
    assertThatThrownBy(() -> get(tickets.get(3).result()))
        .hasCauseInstanceOf(IllegalStateException.class);
  }

  @Test
  void aBodyThatThrowsFailsEveryKeyOfTheBulk() {
    List<LoadFlights.Ticket<String>> tickets =
        flights.ticketsAll(
            List.of("x", "y"),
            keys -> {
              throw new java.io.IOException("source down");
            });

    for (LoadFlights.Ticket<String> ticket : tickets) {
      assertThatThrownBy(() -> get(ticket.result())).hasRootCauseMessage("source down");
    }
  }

  @Test
  void keysEveryCallerAbandonedBeforeTheBulkStartedAreNotLoaded() throws Exception {
    ThreadPoolExecutor one =
        new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(10));
    try {
      LoadFlights<String, String> queued = new LoadFlights<>(one);
      CountDownLatch busy = new CountDownLatch(1);
      one.execute(
          () -> {
            try {
              busy.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          });
      List<LoadFlights.Ticket<String>> partly =
          queued.ticketsAll(List.of("p", "q"), answering(new CountDownLatch(0)));
      List<LoadFlights.Ticket<String>> wholly =
          queued.ticketsAll(List.of("r", "s"), answering(new CountDownLatch(0)));
      partly.get(0).release();
      wholly.forEach(LoadFlights.Ticket::release);

      assertThat(one.getQueue()).as("the wholly abandoned bulk left the queue").hasSize(1);
      busy.countDown();
      assertThat(get(partly.get(1).result())).isEqualTo("bulk q");
      assertThatThrownBy(() -> get(partly.get(0).result()))
          .isInstanceOf(CancellationException.class);
      assertThat(bodies).containsExactly(List.of("q"));
    } finally {
      one.shutdownNow();
    }
  }

  @Test
  void aFullExecutorFailsTheNewKeysOfABulkAtOnce() {
    ThreadPoolExecutor full =
        new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(1));
    try {
      CountDownLatch busy = new CountDownLatch(1);
      Runnable wait =
          () -> {
            try {
              busy.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          };
      full.execute(wait);
      full.execute(wait);
      LoadFlights<String, String> overloaded = new LoadFlights<>(full);

      List<LoadFlights.Ticket<String>> tickets =
          overloaded.ticketsAll(new ArrayList<>(List.of("m", "n")), answering(busy));

      for (LoadFlights.Ticket<String> ticket : tickets) {
        assertThatThrownBy(() -> LoadFlights.await(ticket.result(), Duration.ofSeconds(5), "c"))
            .isInstanceOf(OverloadedException.class);
      }
      busy.countDown();
    } finally {
      full.shutdownNow();
    }
  }
}
