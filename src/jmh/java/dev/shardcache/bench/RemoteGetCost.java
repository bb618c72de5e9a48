package dev.shardcache.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What a remote {@code get} costs the machine, in measures that a shared, noisy machine does not
 * move much: CPU time per read and bytes allocated per read, both summed over the whole process,
 * which holds the reader, node A and node B (so both sides of the call). Throughput is printed too,
 * but only as a hint: it moves 2x with the other load on the machine; the CPU time per read does
 * not, as long as the machine has a core to spare.
 *
 * <p>Uses the setup of {@link RemoteGetBenchmark} (two nodes on loopback, 1 KiB values, every read
 * a gRPC call from A to B). Runs {@code rounds} rounds of {@code reads} reads spread over {@code
 * threads} threads, after a warm-up, and prints each round and the median:
 *
 * <pre>{@code
 * mvn -B -Pjmh test-compile exec:exec -Djmh.main=dev.shardcache.bench.RemoteGetCost \
 *     -Djmh.args="16 40000 5"     # threads, reads per round, rounds; add "secret" for a cluster secret
 * }</pre>
 *
 * To compare two builds, run this alternately against each (same machine, same session) and compare
 * the medians; see docs/performance.md. CPU time comes from the JVM's process CPU time, so it
 * includes the JIT and the garbage collector: it is the cost of a read, all in.
 */
public final class RemoteGetCost {
  private static final int SETUP_ATTEMPTS = 5;

  private RemoteGetCost() {}

  /** One round's figures. */
  record Round(double cpuMicrosPerRead, double bytesPerRead, double readsPerSecond) {}

  /**
   * Runs the measurement; arguments: threads, reads per round, rounds, and {@code secret} to give
   * the nodes a cluster secret.
   */
  public static void main(String[] args) throws Exception {
    int threads = args.length > 0 ? Integer.parseInt(args[0]) : 16;
    int reads = args.length > 1 ? Integer.parseInt(args[1]) : 40_000;
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 5;
    boolean secret = args.length > 3 && args[3].equals("secret");
    RemoteGetBenchmark bench = started(secret);
    try {
      round(bench, threads, reads); // warm-up: JIT, connections, handler threads
      round(bench, threads, reads);
      List<Round> results = new ArrayList<>();
      for (int i = 0; i < rounds; i++) {
        Round r = round(bench, threads, reads);
        results.add(r);
        System.out.printf(
            "round %d: %.1f us CPU/read, %.0f B/read, %.0f reads/s%n",
            i + 1, r.cpuMicrosPerRead(), r.bytesPerRead(), r.readsPerSecond());
      }
      double[] cpu = results.stream().mapToDouble(Round::cpuMicrosPerRead).sorted().toArray();
      double[] bytes = results.stream().mapToDouble(Round::bytesPerRead).sorted().toArray();
      double[] rate = results.stream().mapToDouble(Round::readsPerSecond).sorted().toArray();
      System.out.printf(
          "median of %d rounds, %d threads: %.1f us CPU/read (%.1f..%.1f), %.0f B/read"
              + " (%.0f..%.0f), %.0f reads/s (%.0f..%.0f)%n",
          rounds,
          threads,
          median(cpu),
          cpu[0],
          cpu[cpu.length - 1],
          median(bytes),
          bytes[0],
          bytes[bytes.length - 1],
          median(rate),
          rate[0],
          rate[rate.length - 1]);
    } finally {
      bench.tearDown();
    }
  }

  /**
   * The benchmark's two nodes, set up. On a loaded machine the nodes' failure detectors sometimes
   * suspect each other during setup (both at once: the whole process stalled), which fails the
   * setup's checks; that setup is thrown away and made again, up to {@value #SETUP_ATTEMPTS} times.
   */
  private static RemoteGetBenchmark started(boolean secret) throws IOException {
    for (int attempt = 1; ; attempt++) {
      RemoteGetBenchmark bench = new RemoteGetBenchmark();
      bench.clusterSecret = secret;
      try {
        bench.setUp();
        return bench;
      } catch (IllegalStateException e) {
        try {
          bench.tearDown();
        } catch (RuntimeException ignored) {
          // the setup already failed; its nodes are closed either way
        }
        if (attempt == SETUP_ATTEMPTS) {
          throw e;
        }
        System.out.println("setup attempt " + attempt + " failed, again: " + e.getMessage());
      }
    }
  }

  private static double median(double[] sorted) {
    return sorted[sorted.length / 2];
  }

  private static Round round(RemoteGetBenchmark bench, int threads, int reads)
      throws InterruptedException {
    com.sun.management.OperatingSystemMXBean os =
        (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    int perThread = reads / threads;
    CountDownLatch start = new CountDownLatch(1);
    CountDownLatch finished = new CountDownLatch(threads);
    // Readers stay alive until measured: a dead thread's allocations no longer count.
    CountDownLatch measured = new CountDownLatch(1);
    AtomicReference<Throwable> failure = new AtomicReference<>();
    List<Thread> workers = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      int offset = t * (RemoteGetBenchmark.KEY_COUNT / threads);
      Thread worker =
          new Thread(
              () -> {
                try {
                  start.await();
                  for (int i = 0; i < perThread; i++) {
                    bench.remoteGet(offset + i);
                  }
                } catch (Throwable e) {
                  failure.compareAndSet(null, e);
                } finally {
                  finished.countDown();
                }
                try {
                  measured.await();
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                }
              },
              "reader-" + t);
      worker.start();
      workers.add(worker);
    }
    long bytesBefore = allocatedBytes();
    long cpuBefore = os.getProcessCpuTime();
    long wallBefore = System.nanoTime();
    start.countDown();
    finished.await();
    long wall = System.nanoTime() - wallBefore;
    long cpu = os.getProcessCpuTime() - cpuBefore;
    long bytes = allocatedBytes() - bytesBefore;
    measured.countDown();
    for (Thread worker : workers) {
      worker.join();
    }
    Throwable failed = failure.get();
    if (failed != null) {
      throw new IllegalStateException("a read failed", failed);
    }
    long done = (long) perThread * threads;
    return new Round(cpu / 1e3 / done, (double) bytes / done, done * 1e9 / wall);
  }

  /**
   * Bytes allocated so far by the threads alive now. The readers are alive from before the round
   * starts until after it is measured; a thread that dies within the round takes its count with it,
   * which the handler pool's 60 s keep-alive makes rare.
   */
  private static long allocatedBytes() {
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long[] ids = threads.getAllThreadIds();
    return Arrays.stream(threads.getThreadAllocatedBytes(ids)).filter(b -> b > 0).sum();
  }
}
