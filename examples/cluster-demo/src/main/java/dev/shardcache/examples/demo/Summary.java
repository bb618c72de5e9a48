package dev.shardcache.examples.demo;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/**
 * The results of the demo's steps, printed at the end as a table: step, expectation, what was
 * observed, PASS or FAIL. Long cells wrap at word boundaries. Thread-safe.
 */
final class Summary {

  private static final int MAX_CELL = 46;

  private record Row(String step, String expectation, String observed, boolean passed) {}

  private final List<Row> rows = new ArrayList<>();

  /** Records one step's outcome and returns {@code passed}. */
  synchronized boolean record(String step, String expectation, String observed, boolean passed) {
    rows.add(new Row(step, expectation, observed, passed));
    return passed;
  }

  /** Whether at least one step ran and none failed. */
  synchronized boolean allPassed() {
    return !rows.isEmpty() && rows.stream().allMatch(Row::passed);
  }

  synchronized void print(PrintStream out) {
    List<String[]> table = new ArrayList<>();
    table.add(new String[] {"Step", "Expectation", "Observed", "Result"});
    for (Row row : rows) {
      table.add(
          new String[] {row.step, row.expectation, row.observed, row.passed ? "PASS" : "FAIL"});
    }
    int[] width = new int[4];
    List<List<List<String>>> wrapped = new ArrayList<>();
    for (String[] cells : table) {
      List<List<String>> wrappedRow = new ArrayList<>();
      for (int c = 0; c < 4; c++) {
        List<String> lines = wrap(cells[c], MAX_CELL);
        wrappedRow.add(lines);
        for (String line : lines) {
          width[c] = Math.max(width[c], line.length());
        }
      }
      wrapped.add(wrappedRow);
    }
    StringBuilder rule = new StringBuilder("+");
    for (int w : width) {
      rule.append("-".repeat(w + 2)).append('+');
    }
    out.println(rule);
    for (int r = 0; r < wrapped.size(); r++) {
      List<List<String>> row = wrapped.get(r);
      int height = row.stream().mapToInt(List::size).max().orElse(1);
      for (int line = 0; line < height; line++) {
        StringBuilder text = new StringBuilder("|");
        for (int c = 0; c < 4; c++) {
          String cell = line < row.get(c).size() ? row.get(c).get(line) : "";
          text.append(' ').append(cell).append(" ".repeat(width[c] - cell.length())).append(" |");
        }
        out.println(text);
      }
      out.println(rule);
    }
  }

  /** Splits {@code text} into lines of at most {@code max} characters, at spaces when possible. */
  static List<String> wrap(String text, int max) {
    List<String> lines = new ArrayList<>();
    StringBuilder line = new StringBuilder();
    for (String word : text.split(" ")) {
      while (word.length() > max) {
        if (line.length() > 0) {
          lines.add(line.toString());
          line.setLength(0);
        }
        lines.add(word.substring(0, max));
        word = word.substring(max);
      }
      if (line.length() > 0 && line.length() + 1 + word.length() > max) {
        lines.add(line.toString());
        line.setLength(0);
      }
      if (line.length() > 0) {
        line.append(' ');
      }
      line.append(word);
    }
    lines.add(line.toString());
    return lines;
  }
}
