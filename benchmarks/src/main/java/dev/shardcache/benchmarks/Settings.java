package dev.shardcache.benchmarks;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * What one benchmark run measures and for how long, parsed from the command line. Every option has
 * a default; {@code --quick} (or {@code -Dquick} on the driver's java command) only shortens the
 * warm-up and measurement of each cell, so a quick run covers the same matrix as a full one.
 *
 * @param quick whether the short timings were chosen
 * @param runs how many times the whole matrix is measured (each run starts every system afresh)
 * @param systemWarmup how long each system, once preloaded, runs the run's operations unmeasured
 *     before its first cell (split evenly between the operations)
 * @param warmup how long each cell runs before it is measured
 * @param measure how long each cell is measured
 * @param keys the number of keys
 * @param valueBytes the size of every value
 * @param systems the systems, in the order of the first run
 * @param threads the caller thread counts
 * @param operations the operations
 * @param distributions the key distributions
 * @param zipfExponent the exponent of the Zipf distribution
 * @param shardcacheReplication Shardcache's replication factor (2 matches Hazelcast's one backup)
 * @param redisServer the redis-server executable, or null to look for it on the PATH
 * @param seed the seed of every random choice (keys, sequences), so runs touch the same keys
 */
record Settings(
    boolean quick,
    int runs,
    Duration systemWarmup,
    Duration warmup,
    Duration measure,
    int keys,
    int valueBytes,
    List<SystemKind> systems,
    List<Integer> threads,
    List<Operation> operations,
    List<Distribution> distributions,
    double zipfExponent,
    int shardcacheReplication,
    @Nullable String redisServer,
    long seed) {

  /**
   * Long enough for the JVMs of a system to be done compiling what its preload did not exercise,
   * in quick runs too (the JIT is no faster there): on the 2-core machine, with three JVMs
   * compiling at once, Shardcache's 16-thread remote gets ran at 2 to 11 thousand per second in the
   * 20 s after a 13 s preload (JFR: about 10 s of C2 compilations per JVM in 15 s), and at 29
   * thousand after 40 s.
   */
  static final Duration FULL_SYSTEM_WARMUP = Duration.ofSeconds(40);
  static final Duration QUICK_SYSTEM_WARMUP = FULL_SYSTEM_WARMUP;
  static final Duration FULL_WARMUP = Duration.ofSeconds(3);
  static final Duration FULL_MEASURE = Duration.ofSeconds(7);
  static final Duration QUICK_WARMUP = Duration.ofMillis(500);
  static final Duration QUICK_MEASURE = Duration.ofMillis(1000);

  private static final java.util.Set<String> OPTIONS_WITH_VALUES =
      java.util.Set.of("--runs", "--system-warmup", "--warmup", "--measure", "--keys", "--value-bytes", "--systems",
          "--threads", "--ops", "--dists", "--zipf", "--shardcache-rf", "--redis-server", "--seed");

  static final String USAGE =
      """
      Options (all optional):
        --quick               0.5 s warm-up + 1 s measurement per cell (default 3 s + 7 s)
        --runs N              repeat the whole matrix N times; report median and range (default 1)
        --system-warmup SECONDS  each networked system's unmeasured warm-up after its preload,
                              over the run's operations (default 40 s, --quick too)
        --warmup SECONDS      warm-up per cell (decimals allowed)
        --measure SECONDS     measurement per cell
        --systems LIST        of caffeine,shardcache,hazelcast,redis (default all, in that order)
        --threads LIST        caller thread counts (default 1,16)
        --ops LIST            of remote-get,get,get-put,get-all (default all)
        --dists LIST          of uniform,zipf (default both)
        --keys N              number of keys (default 100000)
        --value-bytes N       value size (default 1024)
        --zipf S              Zipf exponent (default 0.99)
        --shardcache-rf N     Shardcache replication factor (default 2 = Hazelcast's 1 backup)
        --redis-server PATH   the redis-server executable (default: found on the PATH)
        --seed N              seed of keys and sequences (default 42)
      Each option also takes the form --name=value.
      """;

  /** Parses {@code args}; an unknown option or a bad value throws {@link IllegalArgumentException}. */
  static Settings parse(String[] args) {
    boolean quick = Boolean.getBoolean("quick") || "".equals(System.getProperty("quick"));
    int runs = 1;
    Duration systemWarmup = null;
    Duration warmup = null;
    Duration measure = null;
    int keys = 100_000;
    int valueBytes = 1024;
    List<SystemKind> systems = List.of(SystemKind.values());
    List<Integer> threads = List.of(1, 16);
    List<Operation> operations = List.of(Operation.values());
    List<Distribution> distributions = List.of(Distribution.values());
    double zipf = 0.99;
    int rf = 2;
    String redis = null;
    long seed = 42;

    List<String> tokens = new ArrayList<>();
    for (String arg : args) {
      if (arg.isBlank()) {
        continue;
      }
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0) {
        tokens.add(arg.substring(0, eq));
        tokens.add(arg.substring(eq + 1));
      } else {
        tokens.add(arg);
      }
    }
    for (int i = 0; i < tokens.size(); i++) {
      String option = tokens.get(i);
      if (option.equals("--quick")) {
        // --quick alone, or --quick=true|false as the pom passes it
        if (i + 1 < tokens.size() && !tokens.get(i + 1).startsWith("--")) {
          quick |= parseBoolean(tokens.get(++i));
        } else {
          quick = true;
        }
        continue;
      }
      if (option.equals("--help") || option.equals("-h")) {
        throw new HelpRequested();
      }
      if (!OPTIONS_WITH_VALUES.contains(option)) {
        throw new IllegalArgumentException("unknown option " + option + "\n" + USAGE);
      }
      if (i + 1 >= tokens.size()) {
        throw new IllegalArgumentException("option " + option + " needs a value\n" + USAGE);
      }
      String value = tokens.get(++i);
      switch (option) {
        case "--runs" -> runs = positive(option, Integer.parseInt(value));
        case "--system-warmup" -> systemWarmup = seconds(option, value, true);
        case "--warmup" -> warmup = seconds(option, value, true);
        case "--measure" -> measure = seconds(option, value, false);
        case "--keys" -> keys = positive(option, Integer.parseInt(value));
        case "--value-bytes" -> valueBytes = positive(option, Integer.parseInt(value));
        case "--systems" -> systems = list(value, SystemKind::parse);
        case "--threads" -> threads = list(value, t -> positive(option, Integer.parseInt(t)));
        case "--ops" -> operations = list(value, Operation::parse);
        case "--dists" -> distributions = list(value, Distribution::parse);
        case "--zipf" -> zipf = Double.parseDouble(value);
        case "--shardcache-rf" -> rf = positive(option, Integer.parseInt(value));
        case "--redis-server" -> redis = value;
        case "--seed" -> seed = Long.parseLong(value);
        default -> throw new IllegalArgumentException("unknown option " + option + "\n" + USAGE);
      }
    }
    if (keys < 2 * Operation.BATCH_SIZE) {
      throw new IllegalArgumentException("--keys must be at least " + 2 * Operation.BATCH_SIZE);
    }
    if (zipf <= 0) {
      throw new IllegalArgumentException("--zipf must be positive, got " + zipf);
    }
    return new Settings(
        quick,
        runs,
        systemWarmup != null ? systemWarmup : quick ? QUICK_SYSTEM_WARMUP : FULL_SYSTEM_WARMUP,
        warmup != null ? warmup : quick ? QUICK_WARMUP : FULL_WARMUP,
        measure != null ? measure : quick ? QUICK_MEASURE : FULL_MEASURE,
        keys,
        valueBytes,
        systems,
        threads,
        operations,
        distributions,
        zipf,
        rf,
        redis,
        seed);
  }

  /** The number of cells one run measures. */
  int cellsPerRun() {
    return systems.size() * threads.size() * operations.size() * distributions.size();
  }

  String describe() {
    return String.format(
        Locale.ROOT,
        "%d keys, %d-byte values, %s, threads %s; per system %s warm-up, per cell %s warm-up + %s"
            + " measured; %d run(s)%s",
        keys,
        valueBytes,
        distributions.stream()
            .map(d -> d == Distribution.ZIPF ? "zipf(" + zipfExponent + ")" : d.label())
            .toList(),
        threads,
        seconds(systemWarmup),
        seconds(warmup),
        seconds(measure),
        runs,
        quick ? " (quick)" : "");
  }

  static String seconds(Duration d) {
    return String.format(Locale.ROOT, "%.1f s", d.toMillis() / 1000.0);
  }

  /** Thrown by {@link #parse} for {@code --help}. */
  static final class HelpRequested extends RuntimeException {
    private static final long serialVersionUID = 1L;

    HelpRequested() {
      super(USAGE, null, false, false);
    }
  }

  private static boolean parseBoolean(String value) {
    return switch (value.toLowerCase(Locale.ROOT)) {
      case "true", "yes", "1", "" -> true;
      case "false", "no", "0" -> false;
      default -> throw new IllegalArgumentException("--quick takes true or false, got " + value);
    };
  }

  private static int positive(String option, int value) {
    if (value < 1) {
      throw new IllegalArgumentException(option + " must be positive, got " + value);
    }
    return value;
  }

  private static Duration seconds(String option, String value, boolean zeroAllowed) {
    double s = Double.parseDouble(value);
    if (s < 0 || (!zeroAllowed && s == 0)) {
      throw new IllegalArgumentException(option + " must be " + (zeroAllowed ? "at least 0" : "positive")
          + " seconds, got " + value);
    }
    return Duration.ofMillis(Math.round(s * 1000));
  }

  private static <T> List<T> list(String value, java.util.function.Function<String, T> parse) {
    List<T> result =
        Arrays.stream(value.split(",")).map(String::trim).filter(s -> !s.isEmpty()).map(parse).distinct().toList();
    if (result.isEmpty()) {
      throw new IllegalArgumentException("empty list: '" + value + "'");
    }
    return result;
  }
}
