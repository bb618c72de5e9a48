package dev.shardcache.faults;

import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** A task running on a daemon thread of its own, so a test can tell when it waits. */
record Started<T>(FutureTask<T> future, Thread thread) {

  /** Starts {@code call} on a new daemon thread named {@code name}. */
  static <T> Started<T> onNewThread(String name, Callable<T> call) {
    FutureTask<T> task = new FutureTask<>(call);
    Thread thread = new Thread(task, name);
    thread.setDaemon(true);
    thread.start();
    return new Started<>(task, thread);
  }

  /**
   * Waits until the task finished or its thread is parked (waiting for an answer, a flight or a
   * lock): the point at which it has joined whatever it is going to wait on.
   */
  void awaitDoneOrParked() {
    await()
        .atMost(Duration.ofSeconds(10))
        .pollInterval(Duration.ofMillis(5))
        .until(
            () -> {
              Thread.State state = thread.getState();
              return future.isDone()
                  || state == Thread.State.WAITING
                  || state == Thread.State.TIMED_WAITING
                  || state == Thread.State.TERMINATED;
            });
  }

  /** The task's value, or "threw <exception>" if it failed; waits at most 20 s. */
  String outcome() {
    try {
      return String.valueOf(future.get(20, TimeUnit.SECONDS));
    } catch (ExecutionException e) {
      return "threw " + e.getCause();
    } catch (TimeoutException e) {
      thread.interrupt();
      return "still running after 20 s";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }
}
