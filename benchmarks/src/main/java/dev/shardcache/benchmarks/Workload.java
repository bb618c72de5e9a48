package dev.shardcache.benchmarks;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The keys and values every system is loaded with, and the key sequences the caller threads walk.
 *
 * <p>Key {@code i} is {@code "key:" + i}; its value is {@link Settings#valueBytes()} bytes of a
 * pattern of its own ({@link #value}). The sequences are drawn before a cell starts, from
 * the run's seed, so the measured loop does no random-number work and every system of a run walks
 * the same kind of sequence.
 */
final class Workload {
  final String[] keys;
  final byte[][] values;
  private final Settings settings;
  private final Map<String, KeyChooser> choosers = new HashMap<>();

  Workload(Settings settings) {
    this.settings = settings;
    keys = new String[settings.keys()];
    values = new byte[settings.keys()][];
    for (int i = 0; i < keys.length; i++) {
      keys[i] = key(i);
      values[i] = value(i, settings.valueBytes());
    }
  }

  /** The name of key {@code i}. */
  static String key(int i) {
    return "key:" + i;
  }

  /** The index of the key named {@code key}. */
  static int index(String key) {
    return Integer.parseInt(key, "key:".length(), key.length(), 10);
  }

  /** The value of key {@code seed} (and, for negative seeds, the values caller threads put). */
  static byte[] value(int seed, int size) {
    byte[] value = new byte[size];
    for (int j = 0; j < size; j++) {
      value[j] = (byte) (seed * 31 + j);
    }
    return value;
  }

  /**
   * Per thread, a sequence of key indices (indices into {@link #keys}) drawn from {@code universe}
   * by {@code distribution}. Long enough that one thread alone covers the key list many times over
   * before it repeats (2^21 draws in all, at least 2^17 per thread).
   */
  int[][] sequences(int[] universe, Distribution distribution, int threads, long seed) {
    KeyChooser chooser = chooser(distribution, universe.length);
    int length = Math.max(1 << 17, (1 << 21) / threads);
    int[][] sequences = new int[threads][length];
    for (int t = 0; t < threads; t++) {
      SplittableRandom random = new SplittableRandom(seed * 1_000_003L + t);
      for (int i = 0; i < length; i++) {
        sequences[t][i] = universe[chooser.next(random)];
      }
    }
    return sequences;
  }

  /** Per thread, getAll batches of {@link Operation#BATCH_SIZE} distinct keys from {@code universe}. */
  Batch[][] batches(int[] universe, Distribution distribution, int threads, long seed) {
    KeyChooser chooser = chooser(distribution, universe.length);
    int count = Math.max(256, 2048 / threads);
    Batch[][] batches = new Batch[threads][count];
    for (int t = 0; t < threads; t++) {
      SplittableRandom random = new SplittableRandom(seed * 1_000_003L + t);
      for (int b = 0; b < count; b++) {
        Set<Integer> chosen = new LinkedHashSet<>();
        while (chosen.size() < Operation.BATCH_SIZE) {
          chosen.add(universe[chooser.next(random)]);
        }
        batches[t][b] = new Batch(chosen, keys);
      }
    }
    return batches;
  }

  private KeyChooser chooser(Distribution distribution, int size) {
    return choosers.computeIfAbsent(
        distribution + "/" + size,
        k -> KeyChooser.of(distribution, size, settings.zipfExponent(), settings.seed() + size));
  }

  /**
   * One getAll's keys in the forms the systems take: a list (Shardcache, Caffeine), a set
   * (Hazelcast's {@code getAll(Set)}), an array (Lettuce's {@code mget(K...)}), and their indices.
   */
  static final class Batch {
    final int[] indices;
    final List<String> list;
    final Set<String> set;
    final String[] array;

    Batch(Set<Integer> chosen, String[] keys) {
      indices = chosen.stream().mapToInt(Integer::intValue).toArray();
      List<String> names = new ArrayList<>(indices.length);
      for (int index : indices) {
        names.add(keys[index]);
      }
      list = List.copyOf(names);
      set = Set.copyOf(names);
      array = names.toArray(String[]::new);
    }
  }
}
