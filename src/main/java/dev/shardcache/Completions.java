package dev.shardcache;

import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;
import org.jspecify.annotations.Nullable;

/**
 * Runs a callback when a future completes, where the data path reacts to an answer (completes
 * another future, falls over, answers a peer). {@link CompletableFuture#whenComplete} returns a
 * stage that only repeats the future's outcome or the callback's own exception; the callbacks given
 * here complete other futures and never let an exception escape, so that stage carries nothing to
 * observe. Thread: the callback runs on the thread that completes the future, or the caller's if it
 * is already complete.
 */
final class Completions {
  private Completions() {}

  @SuppressWarnings("FutureReturnValueIgnored") // see the class documentation
  static <T extends @Nullable Object> void whenDone(
      CompletableFuture<T> future, BiConsumer<? super T, ? super @Nullable Throwable> callback) {
    future.whenComplete(callback);
  }
}
