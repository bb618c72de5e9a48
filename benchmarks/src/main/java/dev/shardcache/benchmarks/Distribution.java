package dev.shardcache.benchmarks;

import java.util.Locale;

/** How the keys of a cell are chosen. */
enum Distribution {
  /** Every key equally likely. */
  UNIFORM("uniform"),
  /** Zipf: the key of rank r is chosen with a probability proportional to 1 / r^s. */
  ZIPF("zipf");

  private final String label;

  Distribution(String label) {
    this.label = label;
  }

  String label() {
    return label;
  }

  static Distribution parse(String text) {
    for (Distribution d : values()) {
      if (d.label.equals(text.toLowerCase(Locale.ROOT))) {
        return d;
      }
    }
    throw new IllegalArgumentException("unknown distribution '" + text + "'; uniform or zipf");
  }
}
