package dev.shardcache.benchmarks;

import java.util.SplittableRandom;

/**
 * Chooses positions in a key list of a given size, uniformly or by Zipf.
 *
 * <p>Zipf is sampled by inverting its cumulative distribution: a table of the n cumulative
 * probabilities, in which a uniform draw is found by binary search (about 17 steps for 100,000
 * keys). That is too slow for the measured loop, which is why callers draw whole sequences before a
 * cell starts ({@link Workload}). The rank a draw lands on is then mapped through a fixed random
 * permutation, so the hottest keys are spread over the whole list (and so over every member)
 * instead of being the first keys.
 */
final class KeyChooser {
  private final int size;
  private final double[] cumulative; // empty for uniform
  private final int[] rankToPosition; // empty for uniform

  private KeyChooser(int size, double[] cumulative, int[] rankToPosition) {
    this.size = size;
    this.cumulative = cumulative;
    this.rankToPosition = rankToPosition;
  }

  static KeyChooser uniform(int size) {
    return new KeyChooser(size, new double[0], new int[0]);
  }

  /** Zipf with exponent {@code s} over {@code size} positions; {@code seed} fixes which are hot. */
  static KeyChooser zipf(int size, double s, long seed) {
    double[] cumulative = new double[size];
    double sum = 0;
    for (int rank = 0; rank < size; rank++) {
      sum += 1.0 / Math.pow(rank + 1, s);
      cumulative[rank] = sum;
    }
    for (int rank = 0; rank < size; rank++) {
      cumulative[rank] /= sum;
    }
    cumulative[size - 1] = 1.0; // no draw may fall past the end through rounding
    int[] permutation = new int[size];
    for (int i = 0; i < size; i++) {
      permutation[i] = i;
    }
    SplittableRandom random = new SplittableRandom(seed);
    for (int i = size - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = permutation[i];
      permutation[i] = permutation[j];
      permutation[j] = t;
    }
    return new KeyChooser(size, cumulative, permutation);
  }

  static KeyChooser of(Distribution distribution, int size, double zipfExponent, long seed) {
    return distribution == Distribution.UNIFORM ? uniform(size) : zipf(size, zipfExponent, seed);
  }

  /** The next position, in [0, size). */
  int next(SplittableRandom random) {
    if (cumulative.length == 0) {
      return random.nextInt(size);
    }
    double u = random.nextDouble();
    int low = 0;
    int high = size - 1;
    while (low < high) { // the first rank whose cumulative probability reaches u
      int mid = (low + high) >>> 1;
      if (cumulative[mid] < u) {
        low = mid + 1;
      } else {
        high = mid;
      }
    }
    return rankToPosition[low];
  }
}
