package dev.shardcache.benchmarks;

import org.jspecify.annotations.Nullable;

/**
 * What one cell measured in one run: throughput over all caller threads, and latency percentiles
 * (nanoseconds) of every operation completed in the measured window.
 *
 * @param localShare the share of the keys touched of which the driver held a copy
 * @param errors operations that threw, warm-up included
 * @param misses gets that found no value (and getAll keys without a value), warm-up included
 * @param problem what was wrong with the system after the cell, or null
 */
record CellResult(
    int run,
    SystemKind system,
    Operation operation,
    Distribution distribution,
    int threads,
    long operations,
    double seconds,
    double throughput,
    long p50,
    long p99,
    long p999,
    long max,
    double mean,
    double localShare,
    long errors,
    long misses,
    @Nullable String firstError,
    @Nullable String problem) {

  /** The cell this result belongs to, the same in every run. */
  CellKey key() {
    return new CellKey(system, operation, distribution, threads);
  }

  boolean clean() {
    return errors == 0 && misses == 0 && problem == null;
  }

  record CellKey(SystemKind system, Operation operation, Distribution distribution, int threads) {}
}
