package dev.shardcache.faults;

import java.util.ArrayList;
import java.util.List;

/**
 * Runs several assertions and reports every one that failed, together, so a failing test shows all
 * it saw. (AssertJ's SoftAssertions does the same but first generates proxy classes, which takes
 * several seconds on a busy machine.)
 */
final class Expectations {
  private final List<String> failures = new ArrayList<>();

  /** Runs {@code assertion}; a failure is kept for {@link #verify()} instead of thrown. */
  void expect(Runnable assertion) {
    try {
      assertion.run();
    } catch (AssertionError e) {
      failures.add(e.getMessage());
    }
  }

  /** Throws one {@link AssertionError} listing every failed expectation, if any failed. */
  void verify() {
    if (failures.isEmpty()) {
      return;
    }
    StringBuilder message =
        new StringBuilder()
            .append(failures.size())
            .append(failures.size() == 1 ? " expectation" : " expectations")
            .append(" failed:");
    for (int i = 0; i < failures.size(); i++) {
      String failure = failures.get(i);
      message
          .append("\n-- failure ")
          .append(i + 1)
          .append(" --")
          .append(failure.startsWith("\n") ? "" : "\n")
          .append(failure);
    }
    throw new AssertionError(message.toString());
  }
}
