package dev.shardcache.benchmarks;

import java.util.Locale;

/** The systems compared, in the order of the table. */
enum SystemKind {
  CAFFEINE("caffeine"),
  SHARDCACHE("shardcache"),
  HAZELCAST("hazelcast"),
  REDIS("redis");

  private final String label;

  SystemKind(String label) {
    this.label = label;
  }

  String label() {
    return label;
  }

  static SystemKind parse(String text) {
    for (SystemKind kind : values()) {
      if (kind.label.equals(text.toLowerCase(Locale.ROOT))) {
        return kind;
      }
    }
    throw new IllegalArgumentException("unknown system '" + text + "'; one of caffeine, shardcache,"
        + " hazelcast, redis");
  }
}
