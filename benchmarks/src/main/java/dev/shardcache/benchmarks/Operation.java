package dev.shardcache.benchmarks;

import java.util.Locale;

/**
 * What a caller thread does in one cell. One operation is one call: a get, a put, or a getAll of
 * {@value #BATCH_SIZE} distinct keys (so a getAll cell's ops/s are batches per second).
 */
enum Operation {
  /**
   * Gets of keys of which the driver holds no copy: for Shardcache keys whose holders do not include
   * the driver, for Hazelcast keys whose partition the driver does not own; for Redis and Caffeine
   * every key, since every Redis get is remote and every Caffeine get local.
   */
  REMOTE_GET("remote-get", "remote get"),
  /** Gets of any key. */
  GET("get", "get"),
  /** Nine gets, then one put of the same kind of key, and so on: exactly 10% puts. */
  GET_PUT("get-put", "90/10 get/put"),
  /** One getAll (Redis MGET) of {@value #BATCH_SIZE} distinct keys. */
  GET_ALL("get-all", "getAll(" + Operation.BATCH_SIZE + ")");

  static final int BATCH_SIZE = 100;

  private final String label;
  private final String title;

  Operation(String label, String title) {
    this.label = label;
    this.title = title;
  }

  String label() {
    return label;
  }

  String title() {
    return title;
  }

  static Operation parse(String text) {
    for (Operation op : values()) {
      if (op.label.equals(text.toLowerCase(Locale.ROOT))) {
        return op;
      }
    }
    throw new IllegalArgumentException("unknown operation '" + text + "'; one of remote-get, get,"
        + " get-put, get-all");
  }
}
