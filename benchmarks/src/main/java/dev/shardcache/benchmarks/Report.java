package dev.shardcache.benchmarks;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;
import org.jspecify.annotations.Nullable;

/**
 * The results of all runs as one table, and as CSV.
 *
 * <p>The table has one row per cell: the median over the runs of the throughput (with its range
 * when there were several runs) and of each latency percentile, the share of keys the driver held
 * locally, and the throughput relative to Hazelcast's and to Caffeine's. The ratios are taken
 * within each run (both numbers measured minutes apart on the same machine, not across runs), and
 * their median is shown. A cell marked {@code !} had errors, misses or an unhealthy system in some
 * run; the notes under the table say which.
 */
final class Report {
  private final Settings settings;
  private final List<CellResult> results;

  Report(Settings settings, List<CellResult> results) {
    this.settings = settings;
    this.results = results;
  }

  void printTable(PrintStream out) {
    Map<CellResult.CellKey, List<CellResult>> cells = new LinkedHashMap<>();
    results.stream()
        .sorted(
            Comparator.comparing((CellResult r) -> r.operation())
                .thenComparing(CellResult::distribution)
                .thenComparingInt(CellResult::threads)
                .thenComparing(CellResult::system)
                .thenComparingInt(CellResult::run))
        .forEach(r -> cells.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r));

    boolean ranges = settings.runs() > 1;
    String header =
        String.format(
            Locale.ROOT,
            "%-14s %-8s %3s  %-10s %14s%s %9s %9s %9s %6s %8s %10s",
            "operation", "keys", "thr", "system", "ops/s" + (ranges ? " (median)" : ""),
            ranges ? String.format(Locale.ROOT, " %-21s", "[min - max]") : "",
            "p50 µs", "p99 µs", "p99.9 µs", "local", "vs HZ", "vs Caffeine");
    String rule = "-".repeat(header.length());
    out.println(rule);
    out.println(header);
    List<String> notes = new ArrayList<>();
    String group = null;
    for (Map.Entry<CellResult.CellKey, List<CellResult>> cell : cells.entrySet()) {
      CellResult.CellKey key = cell.getKey();
      List<CellResult> runs = cell.getValue();
      String thisGroup = key.operation() + "/" + key.distribution() + "/" + key.threads();
      if (!thisGroup.equals(group)) {
        out.println(rule);
        group = thisGroup;
      }
      List<Double> throughputs = runs.stream().map(CellResult::throughput).sorted().toList();
      String flag = runs.stream().allMatch(CellResult::clean) ? " " : "!";
      if (flag.equals("!")) {
        for (CellResult r : runs) {
          if (!r.clean()) {
            notes.add(String.format(Locale.ROOT, "! %s %s %s %d thr, run %d: %d errors, %d misses%s%s",
                key.system().label(), key.operation().label(), key.distribution().label(), key.threads(),
                r.run(), r.errors(), r.misses(),
                r.firstError() == null ? "" : "; first error: " + r.firstError(),
                r.problem() == null ? "" : "; " + r.problem()));
          }
        }
      }
      out.println(
          String.format(
              Locale.ROOT,
              "%-14s %-8s %3d  %-10s %14s%s %9s %9s %9s %5.0f%% %8s %10s%s",
              key.operation().title(),
              key.distribution().label(),
              key.threads(),
              key.system().label(),
              String.format(Locale.ROOT, "%,.0f", median(throughputs)),
              ranges
                  ? String.format(Locale.ROOT, " %-21s",
                      "[" + compact(throughputs.get(0)) + " - " + compact(throughputs.get(throughputs.size() - 1)) + "]")
                  : "",
              micros(medianOf(runs, CellResult::p50)),
              micros(medianOf(runs, CellResult::p99)),
              micros(medianOf(runs, CellResult::p999)),
              100 * medianOf(runs, CellResult::localShare),
              ratio(key, SystemKind.HAZELCAST),
              ratio(key, SystemKind.CAFFEINE),
              flag));
    }
    out.println(rule);
    for (String note : notes) {
      out.println(note);
    }
  }

  /** The median over the runs of this cell's throughput divided by {@code baseline}'s in the same run. */
  private String ratio(CellResult.CellKey key, SystemKind baseline) {
    List<Double> ratios = new ArrayList<>();
    for (CellResult r : results) {
      if (!r.key().equals(key)) {
        continue;
      }
      CellResult.CellKey baseKey = new CellResult.CellKey(baseline, key.operation(), key.distribution(), key.threads());
      for (CellResult b : results) {
        if (b.run() == r.run() && b.key().equals(baseKey) && b.throughput() > 0) {
          ratios.add(r.throughput() / b.throughput());
        }
      }
    }
    if (ratios.isEmpty()) {
      return "-";
    }
    double m = median(ratios.stream().sorted().toList());
    return m >= 0.1 ? String.format(Locale.ROOT, "%.2fx", m) : String.format(Locale.ROOT, "%.4fx", m);
  }

  /** Writes every run's every cell, unaggregated. */
  void writeCsv(Path file) throws IOException {
    Files.createDirectories(file.getParent());
    StringBuilder csv = new StringBuilder();
    csv.append("run,system,operation,distribution,threads,operations,seconds,throughput_ops_per_s,"
        + "p50_ns,p99_ns,p999_ns,max_ns,mean_ns,local_share,errors,misses,problem,first_error\n");
    for (CellResult r : results) {
      csv.append(String.format(Locale.ROOT, "%d,%s,%s,%s,%d,%d,%.3f,%.1f,%d,%d,%d,%d,%.1f,%.4f,%d,%d,%s,%s%n",
          r.run(), r.system().label(), r.operation().label(), r.distribution().label(), r.threads(),
          r.operations(), r.seconds(), r.throughput(), r.p50(), r.p99(), r.p999(), r.max(), r.mean(),
          r.localShare(), r.errors(), r.misses(), quote(r.problem()), quote(r.firstError())));
    }
    Files.writeString(file, csv, StandardCharsets.UTF_8);
  }

  private static String quote(@Nullable String text) {
    return text == null ? "" : "\"" + text.replace("\"", "\"\"").replace('\n', ' ') + "\"";
  }

  private static double medianOf(List<CellResult> runs, ToDoubleFunction<CellResult> field) {
    return median(runs.stream().mapToDouble(field).sorted().boxed().toList());
  }

  /** The median of sorted values (the mean of the middle two for an even count). */
  static double median(List<Double> sorted) {
    int n = sorted.size();
    return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
  }

  static String micros(double nanos) {
    double us = nanos / 1000;
    if (us < 10) {
      return String.format(Locale.ROOT, "%.2f", us);
    }
    if (us < 100) {
      return String.format(Locale.ROOT, "%.1f", us);
    }
    return String.format(Locale.ROOT, "%,.0f", us);
  }

  private static String compact(double value) {
    if (value >= 1e6) {
      return String.format(Locale.ROOT, "%.2fM", value / 1e6);
    }
    if (value >= 1e3) {
      return String.format(Locale.ROOT, "%.1fk", value / 1e3);
    }
    return String.format(Locale.ROOT, "%.0f", value);
  }
}
