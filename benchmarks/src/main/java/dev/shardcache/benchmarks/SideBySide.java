package dev.shardcache.benchmarks;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Shardcache side by side with raw Caffeine, Hazelcast embedded and a Redis server: one workload,
 * one run, one table. From the repository root of a fresh clone (Java 17+, Maven 3.8+; for the
 * Redis rows {@code redis-server}, e.g. {@code apt-get install -y redis-server}):
 *
 * <pre>{@code
 * benchmarks/run.sh              # the full matrix: 14 min on a loaded 2-core machine
 * benchmarks/run.sh --quick      # the same matrix with short cells: 4 to 6 min there, mostly setup
 * benchmarks/run.sh --runs 3     # the matrix 3 times: median and range per cell
 * }</pre>
 *
 * {@code run.sh} installs the library ({@code mvn -B -q install -DskipTests}) and runs this class
 * with {@code mvn -B -q -f benchmarks/pom.xml compile exec:exec}; options go after it (see
 * {@link Settings#USAGE}, or {@code --help}), and {@code -Dquick} / {@code -Druns=N} work on the
 * Maven command too.
 *
 * <p><b>Systems</b>, each started afresh in every run and stopped before the next starts:
 * <ul>
 *   <li>{@link CaffeineSystem caffeine}: a Caffeine cache in this JVM, the local limit;
 *   <li>{@link ShardcacheSystem shardcache}: 3 members on 127.0.0.1, this JVM's node and two member
 *       JVMs, replication factor 2;
 *   <li>{@link HazelcastSystem hazelcast}: 3 embedded members the same way, an IMap with one backup;
 *   <li>{@link RedisSystem redis}: a {@code redis-server} started on a free loopback port, through
 *       one shared Lettuce connection; skipped, with the command that installs it, if absent.
 * </ul>
 * Every JVM (this driver and each member) runs with the flags of the pom's {@code bench.jvmFlags},
 * printed at the start: this JVM gets them from Maven and passes its own flags on unchanged.
 *
 * <p><b>Workload</b>: 100,000 keys with 1 KiB {@code byte[]} values, all written before measuring;
 * keys drawn uniformly or by Zipf(0.99); 1 and 16 caller threads in this JVM; four operations:
 * gets of keys this JVM holds no copy of, gets of any key, 90% gets and 10% puts, and getAll of
 * 100 keys (Redis MGET). Each cell warms up, then is measured for a fixed time ({@link CellRunner}).
 *
 * <p><b>Output</b>: a progress line per cell, then one table ({@link Report}) with throughput and
 * p50/p99/p99.9 latency per cell and each system's throughput relative to Hazelcast's and
 * Caffeine's in the same run, and every raw number in {@code benchmarks/target/results-<time>.csv}.
 * Member and Redis logs are in {@code benchmarks/target/logs-<time>/}. Exit status 0 if every
 * system ran, 1 if one failed (the others still run), 2 for bad options.
 *
 * <p>Every process it starts is stopped at the end, also on failure and on Ctrl-C (a shutdown
 * hook); member JVMs and the Redis watchdog also stop by themselves when this JVM dies.
 */
public final class SideBySide {
  private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");
  /** A generous guess of one system's start, preload and stop, for the printed estimate. */
  private static final Duration SETUP_ESTIMATE = Duration.ofSeconds(15);

  private SideBySide() {}

  public static void main(String[] args) throws Exception {
    Settings settings;
    try {
      settings = Settings.parse(args);
    } catch (Settings.HelpRequested help) {
      System.out.println(help.getMessage());
      return;
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.exit(2);
      return;
    }
    quietLogs();
    String stamp = LocalDateTime.now().format(STAMP);
    Path target = Path.of("target");
    Path logs = target.resolve("logs-" + stamp);
    Path csv = target.resolve("results-" + stamp + ".csv");

    List<SystemKind> systems = new ArrayList<>(settings.systems());
    Path redisServer = null;
    if (systems.contains(SystemKind.REDIS)) {
      redisServer = RedisSystem.findServer(settings);
      if (redisServer == null) {
        System.out.println(RedisSystem.INSTALL_HINT);
        systems.remove(SystemKind.REDIS);
      }
    }
    int cells = settings.threads().size() * settings.operations().size() * settings.distributions().size();
    Duration estimate =
        settings.warmup().plus(settings.measure()).multipliedBy((long) cells * systems.size())
            .plus(SETUP_ESTIMATE.plus(settings.systemWarmup()).multipliedBy(systems.size()))
            .multipliedBy(settings.runs());

    System.out.println("== Shardcache side by side: " + String.join(", ", systems.stream().map(SystemKind::label).toList()));
    System.out.println("started    " + LocalDateTime.now().withNano(0) + "; about "
        + estimate.toMinutes() + " min " + estimate.toSecondsPart() + " s expected");
    System.out.println("machine    " + Runtime.getRuntime().availableProcessors() + " cores, "
        + System.getProperty("os.name") + " " + System.getProperty("os.version") + "; load average "
        + loadAverage());
    System.out.println("java       " + System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
    System.out.println("JVM flags  " + String.join(" ", MemberJvm.jvmFlags()) + "   (every JVM: driver and members)");
    System.out.println("workload   " + settings.describe());

    Workload workload = new Workload(settings);
    CellRunner runner = new CellRunner(settings, workload);
    List<CellResult> results = new ArrayList<>();
    Map<SystemKind, String> setups = new LinkedHashMap<>();
    List<String> failures = new ArrayList<>();
    List<String> loads = new ArrayList<>();
    long began = System.nanoTime();
    for (int run = 1; run <= settings.runs(); run++) {
      List<SystemKind> order = order(systems, run);
      String before = loadAverage();
      System.out.println();
      System.out.println("== run " + run + " of " + settings.runs() + ": " + order.stream().map(SystemKind::label).toList()
          + "; load average " + before);
      for (SystemKind kind : order) {
        long systemStart = System.nanoTime();
        System.out.println("-- " + kind.label() + ": starting");
        try (CacheSystem system = start(kind, settings, logs, run, redisServer)) {
          setups.putIfAbsent(kind, system.setup());
          long preloadStart = System.nanoTime();
          system.preload(workload);
          System.out.printf(Locale.ROOT, "-- %s: started and preloaded %,d keys in %.1f s (preload %.1f s)%n",
              kind.label(), workload.keys.length, seconds(systemStart), seconds(preloadStart));
          if (kind != SystemKind.CAFFEINE) { // in the driver's JVM: no network path to compile
            warmUp(runner, run, system, settings);
          }
          System.gc(); // leftovers of the previous system and the preload, not collected in a cell
          for (Operation operation : settings.operations()) {
            for (Distribution distribution : settings.distributions()) {
              for (int threads : settings.threads()) {
                CellResult result = runner.run(run, system, operation, distribution, threads);
                results.add(result);
                System.out.printf(Locale.ROOT, "   %-10s %-14s %-8s %3d thr  %,14.0f ops/s  p50 %8s µs  p99 %8s µs%s%n",
                    kind.label(), operation.title(), distribution.label(), threads, result.throughput(),
                    Report.micros(result.p50()), Report.micros(result.p99()),
                    result.clean() ? "" : "  ! errors " + result.errors() + ", misses " + result.misses()
                        + (result.problem() == null ? "" : ", " + result.problem()));
              }
            }
          }
        } catch (Exception | Error e) {
          failures.add("run " + run + ", " + kind.label() + ": " + e);
          System.out.println("!! " + kind.label() + " failed in run " + run + ": " + e);
          e.printStackTrace(System.out);
        }
        System.out.printf(Locale.ROOT, "-- %s: stopped; %.0f s in all%n", kind.label(), seconds(systemStart));
      }
      loads.add("run " + run + ": " + before + " -> " + loadAverage());
    }

    System.out.println();
    System.out.println("== Results (" + settings.describe() + ")");
    for (Map.Entry<SystemKind, String> setup : setups.entrySet()) {
      System.out.println(String.format(Locale.ROOT, "%-10s %s", setup.getKey().label(), setup.getValue()));
    }
    System.out.println("JVM flags  " + String.join(" ", MemberJvm.jvmFlags()) + "   (every JVM)");
    System.out.println("load avg   " + String.join("; ", loads) + " (1/5/15 min, " + Runtime.getRuntime().availableProcessors() + " cores)");
    System.out.println("local      share of the keys touched that the driver held a copy of (read without a call)");
    System.out.println("vs HZ, vs Caffeine   throughput / that system's in the same run (median over runs)");
    System.out.println("getAll     one op = one batch of " + Operation.BATCH_SIZE + " distinct keys");
    Report report = new Report(settings, results);
    report.printTable(System.out);
    try {
      report.writeCsv(csv);
      System.out.println("raw numbers: benchmarks/" + csv + "; logs: benchmarks/" + logs + "/");
    } catch (IOException e) {
      System.out.println("!! cannot write " + csv + ": " + e);
      failures.add("CSV: " + e);
    }
    System.out.printf(Locale.ROOT, "took %.1f min%n", seconds(began) / 60);
    long left = Processes.stillRunning();
    System.out.println(left == 0 ? "every process the benchmark started has stopped"
        : "!! " + left + " started process(es) still running; the exit hook destroys them");
    for (String failure : failures) {
      System.out.println("!! failed: " + failure);
    }
    System.out.flush();
    System.exit(failures.isEmpty() ? 0 : 1);
  }

  private static CacheSystem start(SystemKind kind, Settings settings, Path logs, int run, Path redisServer)
      throws Exception {
    return switch (kind) {
      case CAFFEINE -> new CaffeineSystem(settings);
      case SHARDCACHE -> ShardcacheSystem.start(settings, logs, run);
      case HAZELCAST -> HazelcastSystem.start(settings, logs, run);
      case REDIS -> RedisSystem.start(redisServer, logs, run);
    };
  }

  /**
   * The order of the systems in run {@code run}: Caffeine first (the local baseline, measured
   * before any other system's code has run in this JVM), the others rotated by one each run, so
   * that none is always measured first or last while the machine's load drifts.
   */
  static List<SystemKind> order(List<SystemKind> systems, int run) {
    List<SystemKind> rest = new ArrayList<>(systems);
    boolean caffeine = rest.remove(SystemKind.CAFFEINE);
    List<SystemKind> order = new ArrayList<>();
    if (caffeine) {
      order.add(SystemKind.CAFFEINE);
    }
    for (int i = 0; i < rest.size(); i++) {
      order.add(rest.get((i + run - 1) % rest.size()));
    }
    return order;
  }

  /** The 1, 5 and 15 minute load averages from /proc/loadavg, or the JVM's 1-minute figure. */
  static String loadAverage() {
    try {
      String[] fields = Files.readString(Path.of("/proc/loadavg"), StandardCharsets.US_ASCII).trim().split("\\s+");
      return fields[0] + " " + fields[1] + " " + fields[2];
    } catch (IOException | RuntimeException e) {
      double one = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
      return one < 0 ? "unknown" : String.format(Locale.ROOT, "%.2f", one);
    }
  }

  /**
   * Runs every operation of the run, uniform keys, at the largest thread count, unmeasured, for
   * {@link Settings#systemWarmup} in all: a preload exercises only the way a system is filled, and
   * a JVM member still compiling its read path is measured at a third of its speed (see {@link
   * Settings#FULL_SYSTEM_WARMUP}). Every system gets the same.
   */
  private static void warmUp(CellRunner runner, int run, CacheSystem system, Settings settings)
      throws InterruptedException {
    List<Operation> operations = settings.operations();
    Duration each = settings.systemWarmup().dividedBy(operations.size());
    if (each.isZero()) {
      return;
    }
    int threads = settings.threads().stream().max(Integer::compare).orElse(1);
    long start = System.nanoTime();
    for (Operation operation : operations) {
      runner.run(run, system, operation, Distribution.UNIFORM, threads, Duration.ZERO, each);
    }
    system.problem(); // what the warm-up disturbed does not count against the first cell
    System.out.printf(Locale.ROOT, "   warmed up in %.1f s (%d threads, every operation, unmeasured)%n",
        seconds(start), threads);
  }

  private static double seconds(long sinceNanos) {
    return (System.nanoTime() - sinceNanos) / 1e9;
  }

  /** The driver's own logs: warnings only, so the table stays readable; members log to files. */
  private static void quietLogs() {
    Logger root = Logger.getLogger("");
    root.setLevel(Level.WARNING);
    for (Handler handler : root.getHandlers()) {
      handler.setLevel(Level.WARNING);
    }
  }
}
