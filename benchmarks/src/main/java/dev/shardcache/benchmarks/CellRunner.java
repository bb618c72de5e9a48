package dev.shardcache.benchmarks;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;
import org.jspecify.annotations.Nullable;

/**
 * Measures one cell: n caller threads run one operation against one system, as fast as each call
 * returns (a closed loop), for a warm-up and then a measured window.
 *
 * <p>Each thread walks its own pre-drawn key sequence ({@link Workload}), times every call with
 * {@link System#nanoTime()} and, inside the measured window, records the time in its own
 * HdrHistogram (3 significant digits) and counts the call. Throughput is the calls completed in the
 * window over the window's length; the percentiles are those of the merged histograms. The phase
 * is read before each call, so a call is counted if it started inside the window. Being a closed
 * loop, the latencies are service times: a stall delays the next calls instead of being charged to
 * them (no correction for coordinated omission), the same way for every system.
 */
final class CellRunner {
  private static final int WARMUP = 0;
  private static final int MEASURE = 1;
  private static final int STOP = 2;
  private static final long HIGHEST_NANOS = TimeUnit.SECONDS.toNanos(120);
  private static final long JOIN_TIMEOUT_MILLIS = 60_000;

  private final Settings settings;
  private final Workload workload;

  CellRunner(Settings settings, Workload workload) {
    this.settings = settings;
    this.workload = workload;
  }

  CellResult run(int run, CacheSystem system, Operation operation, Distribution distribution, int threads)
      throws InterruptedException {
    return run(run, system, operation, distribution, threads, settings.warmup(), settings.measure());
  }

  /** A cell with the given timings; {@link #run(int, CacheSystem, Operation, Distribution, int)}. */
  CellResult run(int run, CacheSystem system, Operation operation, Distribution distribution, int threads,
      Duration warmup, Duration measure) throws InterruptedException {
    boolean[] local = system.localCopies();
    int[] universe = universe(operation, local);
    long seed = settings.seed() * 31 + distribution.ordinal() * 7L + threads;
    int[][] sequences = null;
    Workload.Batch[][] batches = null;
    double localShare;
    if (operation == Operation.GET_ALL) {
      batches = workload.batches(universe, distribution, threads, seed);
      localShare = localShare(batches, local);
    } else {
      sequences = workload.sequences(universe, distribution, threads, seed);
      localShare = localShare(sequences, local);
    }

    String before = system.problem(); // anything since the previous cell, e.g. still rebalancing
    Phase phase = new Phase();
    List<Caller> callers = new ArrayList<>();
    CountDownLatch started = new CountDownLatch(threads);
    for (int t = 0; t < threads; t++) {
      Caller caller =
          new Caller(system, operation, phase, started, workload, settings.valueBytes(),
              sequences == null ? null : sequences[t], batches == null ? null : batches[t], t);
      callers.add(caller);
    }
    List<Thread> running = new ArrayList<>();
    for (Caller caller : callers) {
      Thread thread = new Thread(caller, "caller-" + caller.index);
      thread.setDaemon(true);
      running.add(thread);
      thread.start();
    }
    started.await();
    Thread.sleep(warmup.toMillis());
    long start = System.nanoTime();
    phase.value = MEASURE;
    Thread.sleep(measure.toMillis());
    phase.value = STOP;
    long end = System.nanoTime();
    for (Thread thread : running) {
      thread.join(JOIN_TIMEOUT_MILLIS);
      if (thread.isAlive()) {
        throw new IllegalStateException(thread.getName() + " still in a call " + JOIN_TIMEOUT_MILLIS / 1000
            + " s after the cell ended");
      }
    }

    Histogram all = new Histogram(HIGHEST_NANOS, 3);
    long operations = 0;
    long errors = 0;
    long misses = 0;
    String firstError = null;
    for (Caller caller : callers) {
      all.add(caller.histogram);
      operations += caller.measured;
      errors += caller.errors;
      misses += caller.misses;
      if (firstError == null && caller.firstError != null) {
        firstError = caller.firstError.toString();
      }
    }
    double seconds = (end - start) / 1e9;
    String after = system.problem();
    String problem =
        before == null && after == null
            ? null
            : (before == null ? "" : "before the cell: " + before + (after == null ? "" : "; "))
                + (after == null ? "" : "during the cell: " + after);
    return new CellResult(
        run,
        system.kind(),
        operation,
        distribution,
        threads,
        operations,
        seconds,
        operations / seconds,
        all.getValueAtPercentile(50),
        all.getValueAtPercentile(99),
        all.getValueAtPercentile(99.9),
        all.getMaxValue(),
        all.getMean(),
        localShare,
        errors,
        misses,
        firstError,
        problem);
  }

  /** The indices of the keys a cell draws from: for remote-only gets, those not held locally. */
  static int[] universe(Operation operation, boolean[] local) {
    int remote = 0;
    for (boolean held : local) {
      remote += held ? 0 : 1;
    }
    // A system that holds every key locally (Caffeine) has no remote keys: every get counts.
    boolean remoteOnly = operation == Operation.REMOTE_GET && remote > 0;
    int[] universe = new int[remoteOnly ? remote : local.length];
    int next = 0;
    for (int i = 0; i < local.length; i++) {
      if (!remoteOnly || !local[i]) {
        universe[next++] = i;
      }
    }
    return universe;
  }

  private static double localShare(int[][] sequences, boolean[] local) {
    long held = 0;
    long all = 0;
    for (int[] sequence : sequences) {
      for (int key : sequence) {
        held += local[key] ? 1 : 0;
      }
      all += sequence.length;
    }
    return all == 0 ? 0 : (double) held / all;
  }

  private static double localShare(Workload.Batch[][] batches, boolean[] local) {
    long held = 0;
    long all = 0;
    for (Workload.Batch[] perThread : batches) {
      for (Workload.Batch batch : perThread) {
        for (int key : batch.indices) {
          held += local[key] ? 1 : 0;
        }
        all += batch.indices.length;
      }
    }
    return all == 0 ? 0 : (double) held / all;
  }

  /** The cell's phase, written by the measuring thread and read by every caller before each call. */
  private static final class Phase {
    volatile int value = WARMUP;
  }

  /** One caller thread. Its counters are read by the measuring thread only after join(). */
  private static final class Caller implements Runnable {
    final CacheSystem system;
    final Operation operation;
    final Phase phase;
    final CountDownLatch started;
    final Workload workload;
    final int valueBytes;
    final int @Nullable [] sequence;
    final Workload.Batch @Nullable [] batches;
    final int index;
    final byte[] written;
    final Histogram histogram = new Histogram(HIGHEST_NANOS, 3);
    long measured;
    long errors;
    long misses;
    @Nullable RuntimeException firstError;
    long sink;

    Caller(CacheSystem system, Operation operation, Phase phase, CountDownLatch started, Workload workload,
        int valueBytes, int @Nullable [] sequence, Workload.Batch @Nullable [] batches, int index) {
      this.system = system;
      this.operation = operation;
      this.phase = phase;
      this.started = started;
      this.workload = workload;
      this.valueBytes = valueBytes;
      this.sequence = sequence;
      this.batches = batches;
      this.index = index;
      this.written = Workload.value(-1 - index, valueBytes); // a put writes a value of this thread's own
    }

    @Override
    public void run() {
      started.countDown();
      if (operation == Operation.GET_ALL) {
        runGetAll();
      } else {
        runGetsAndPuts(operation == Operation.GET_PUT);
      }
      if (sink == 42) {
        System.err.print(""); // keeps the reads' results alive
      }
    }

    private void runGetsAndPuts(boolean withPuts) {
      int[] keys = sequence;
      String[] names = workload.keys;
      int next = 0;
      int count = 0;
      while (true) {
        int p = phase.value;
        if (p == STOP) {
          return;
        }
        String key = names[keys[next]];
        next = next + 1 == keys.length ? 0 : next + 1;
        boolean put = withPuts && ++count == 10;
        if (put) {
          count = 0;
        }
        long begin = System.nanoTime();
        try {
          if (put) {
            system.put(key, written);
          } else {
            byte[] value = system.get(key);
            if (value == null || value.length != valueBytes) {
              misses++;
            } else {
              sink += value[0];
            }
          }
        } catch (RuntimeException e) {
          failed(e);
        }
        long elapsed = System.nanoTime() - begin;
        if (p == MEASURE) {
          histogram.recordValue(Math.min(elapsed, HIGHEST_NANOS));
          measured++;
        }
      }
    }

    private void runGetAll() {
      Workload.Batch[] all = batches;
      int next = 0;
      while (true) {
        int p = phase.value;
        if (p == STOP) {
          return;
        }
        Workload.Batch batch = all[next];
        next = next + 1 == all.length ? 0 : next + 1;
        long begin = System.nanoTime();
        try {
          int found = system.getAll(batch);
          misses += batch.indices.length - found;
          sink += found;
        } catch (RuntimeException e) {
          failed(e);
        }
        long elapsed = System.nanoTime() - begin;
        if (p == MEASURE) {
          histogram.recordValue(Math.min(elapsed, HIGHEST_NANOS));
          measured++;
        }
      }
    }

    private void failed(RuntimeException e) {
      errors++;
      if (firstError == null) {
        firstError = e;
      }
    }
  }
}
