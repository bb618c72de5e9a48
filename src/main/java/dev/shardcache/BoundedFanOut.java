package dev.shardcache;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Starts asynchronous tasks at most {@code limit} at a time, the next one as soon as one ends: a
 * batch of loads runs concurrently without flooding the node's bounded load pool. Tasks that finish
 * at once (hits) are run in a loop, not a recursion. Thread-safe.
 */
final class BoundedFanOut {
  private BoundedFanOut() {}

  /**
   * Starts the tasks and returns one future per task, in order; each completes as its task's future
   * does. A task that throws completes its future exceptionally.
   */
  static <T> List<CompletableFuture<T>> start(
      List<Supplier<CompletableFuture<T>>> tasks, int limit) {
    List<CompletableFuture<T>> results = new ArrayList<>(tasks.size());
    for (int i = 0; i < tasks.size(); i++) {
      results.add(new CompletableFuture<>());
    }
    AtomicInteger next = new AtomicInteger();
    Runnable[] worker = new Runnable[1];
    worker[0] =
        () -> {
          while (true) {
            int i = next.getAndIncrement();
            if (i >= tasks.size()) {
              return;
            }
            CompletableFuture<T> task = startOne(tasks.get(i));
            CompletableFuture<T> result = results.get(i);
            if (task.isDone()) {
              relay(task, result);
              continue;
            }
            Completions.whenDone(
                task,
                (value, failure) -> {
                  relay(task, result);
                  worker[0].run();
                });
            return;
          }
        };
    for (int i = 0; i < Math.min(limit, tasks.size()); i++) {
      worker[0].run();
    }
    return results;
  }

  private static <T> CompletableFuture<T> startOne(Supplier<CompletableFuture<T>> task) {
    try {
      return task.get();
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  private static <T> void relay(CompletableFuture<T> from, CompletableFuture<T> to) {
    Completions.whenDone(
        from,
        (value, failure) -> {
          if (failure != null) {
            to.completeExceptionally(failure);
          } else {
            to.complete(value);
          }
        });
  }
}
