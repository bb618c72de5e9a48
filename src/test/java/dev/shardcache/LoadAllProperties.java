package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.testing.TestCluster;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Whatever a loader's {@code loadAll} answers, a {@code getAll} caches exactly the keys it asked
 * that {@code loadAll} answered, each on its owner only: never a key the loader added unasked
 * (whether nobody asked for it, or another owner did), and never one it left out.
 *
 * <p>Two real nodes, started once for all tries; each try uses keys of its own. The loader (one
 * object behind both nodes) answers, for any keys asked, the values of the try's {@code answered}
 * keys: some asked, some not, some owned by the other node.
 */
class LoadAllProperties {
  private static final int UNIVERSE = 60;
  private static final AtomicInteger tries = new AtomicInteger();
  private static volatile Function<Set<? extends String>, Map<String, String>> script =
      keys -> Map.of();
  private static TestCluster cluster;

  @BeforeContainer
  static void start() {
    CacheLoader<String, String> loader =
        new CacheLoader<>() {
          @Override
          public String load(String key) {
            throw new AssertionError("a getAll must load in bulk, but load(" + key + ") ran");
          }

          @Override
          public Map<String, String> loadAll(Set<? extends String> keys) {
            return script.apply(keys);
          }
        };
    cluster =
        TestCluster.builder()
            .size(2)
            .cache(
                "scripted",
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).loader(loader).build())
            .build();
  }

  @AfterContainer
  static void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Property(tries = 40)
  void loadAllResultsAreNeverCachedForKeysNotAsked(
      @ForAll @IntRange(min = 1, max = 30) int askedCount,
      @ForAll @Size(max = 40) Set<@IntRange(min = 0, max = UNIVERSE - 1) Integer> answered,
      @ForAll @IntRange(min = 0, max = 1) int via) {
    String prefix = "t" + tries.incrementAndGet() + "-";
    List<String> universe = IntStream.range(0, UNIVERSE).mapToObj(i -> prefix + i).toList();
    List<String> asked = universe.subList(0, askedCount);
    Map<String, String> answer = new LinkedHashMap<>();
    answered.forEach(i -> answer.put(universe.get(i), "v" + universe.get(i)));
    script = keys -> answer;

    Map<String, String> result = cluster.cache(via).getAll(asked);

    Map<String, String> expected = new HashMap<>(answer);
    expected.keySet().retainAll(Set.copyOf(asked));
    assertThat(result).isEqualTo(expected);
    for (String key : universe) {
      int owner = cluster.indexOf(cluster.cache(0).ownerOf(key));
      for (int i = 0; i < 2; i++) {
        boolean held = TestClusters.internals(cluster, i).peek(key) != null;
        assertThat(held)
            .as(
                "node %s holds %s (asked: %s, answered: %s)",
                i, key, asked.contains(key), answer.containsKey(key))
            .isEqualTo(i == owner && expected.containsKey(key));
      }
    }
    Set<String> cached =
        universe.stream()
            .filter(key -> cluster.cache(1 - via).getIfPresent(key) != null)
            .collect(Collectors.toSet());
    assertThat(cached).isEqualTo(expected.keySet());
  }
}
