package dev.shardcache.examples.demo;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;
import java.util.stream.Collectors;

/**
 * How the demo prints: a line to stdout, flushed at once so the steps show as they run, and the
 * formats of its durations and per-node figures. Stateless; safe from any thread.
 */
final class Console {

  private Console() {}

  /** Prints a step's heading after a blank line. */
  static void header(String format, Object... args) {
    say("");
    say("== " + format + " ==", args);
  }

  /** Prints one line, formatted with {@code args} if there are any (in the root locale). */
  static void say(String format, Object... args) {
    System.out.println(args.length == 0 ? format : String.format(Locale.ROOT, format, args));
    System.out.flush();
  }

  /** Formats one number per item as "a/b/c". */
  static <T> String split(List<T> items, ToLongFunction<T> value) {
    return items.stream()
        .map(item -> String.valueOf(value.applyAsLong(item)))
        .collect(Collectors.joining("/"));
  }

  static long millisSince(long startNanos) {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
  }

  /** "250 ms" under a second, "1.5 s" from a second on. */
  static String duration(long ms) {
    return ms < 1_000 ? ms + " ms" : String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
  }
}
