package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The default {@link CacheLoader#loadAll}: {@code load} for each key, concurrently but bounded. */
class LoadEachTest {

  @Test
  void loadsEveryKeyAndLeavesNullsOut() throws Exception {
    CacheLoader<String, String> loader = key -> key.startsWith("none") ? nothing() : "v" + key;
    Set<String> keys = new LinkedHashSet<>(List.of("a", "none-1", "b", "none-2", "c"));

    Map<String, String> values = new HashMap<>(loader.loadAll(keys));

    assertThat(values).containsExactlyInAnyOrderEntriesOf(Map.of("a", "va", "b", "vb", "c", "vc"));
  }

  @Test
  void runsAtMostEightLoadsAtOnceOnTheCallerAndThreadsOfItsOwn() throws Exception {
    AtomicInteger running = new AtomicInteger();
    AtomicInteger most = new AtomicInteger();
    List<String> threads = new CopyOnWriteArrayList<>();
    CacheLoader<Integer, Integer> loader =
        key -> {
          most.accumulateAndGet(running.incrementAndGet(), Math::max);
          threads.add(Thread.currentThread().getName());
          try {
            Thread.sleep(20);
            return key * 2;
          } finally {
            running.decrementAndGet();
          }
        };
    Set<Integer> keys = IntStream.range(0, 40).boxed().collect(Collectors.toSet());

    Map<Integer, Integer> values = new HashMap<>(loader.loadAll(keys));

    assertThat(values).hasSize(40).containsEntry(7, 14);
    assertThat(most.get()).isBetween(2, LoadEach.MAX_CONCURRENT);
    assertThat(threads).contains(Thread.currentThread().getName());
    assertThat(Set.copyOf(threads)).hasSizeLessThanOrEqualTo(LoadEach.MAX_CONCURRENT);
  }

  @Test
  void throwsTheFirstFailureInKeyOrderOnceEveryLoadHasEnded() {
    List<String> loaded = new CopyOnWriteArrayList<>();
    CacheLoader<String, String> loader =
        key -> {
          loaded.add(key);
          if (key.equals("b")) {
            throw new IOException("b is unreadable");
          }
          if (key.equals("d")) {
            throw new IllegalStateException("d is broken");
          }
          return key;
        };
    Set<String> keys = new LinkedHashSet<>(List.of("a", "b", "c", "d", "e"));

    assertThatThrownBy(() -> loader.loadAll(keys))
        .isInstanceOf(IOException.class)
        .hasMessage("b is unreadable");
    assertThat(loaded).containsExactlyInAnyOrderElementsOf(keys);
  }

  @SuppressWarnings("NullAway") // a loader that breaks load's contract, as loadAll allows
  private static String nothing() {
    return null;
  }
}
