package dev.shardcache.examples.demo;

import java.util.HashMap;
import java.util.Map;

/**
 * One node's counters as its {@code STATS} command reports them (see {@link NodeCommands}).
 *
 * @param localSize entries in the node's shard
 * @param loads loader calls the library counted on this node
 * @param loaderCalls calls {@link SlowProductDb} itself counted (should equal {@code loads})
 * @param hits shard hits
 * @param misses shard misses
 * @param remoteCalls calls this node made to peers
 * @param remoteFailures of those, the ones that failed
 * @param fallbackLoads reads loaded here because their owner was unreachable
 * @param peerRequests requests peers made to this node
 */
record NodeStats(
    long localSize,
    long loads,
    long loaderCalls,
    long hits,
    long misses,
    long remoteCalls,
    long remoteFailures,
    long fallbackLoads,
    long peerRequests) {

  static final NodeStats ZERO = new NodeStats(0, 0, 0, 0, 0, 0, 0, 0, 0);

  /** Parses the part of a STATS answer after the word STATS: "localSize=3 loads=3 ...". */
  static NodeStats parse(String fields) {
    Map<String, Long> values = new HashMap<>();
    for (String field : fields.trim().split("\\s+")) {
      int eq = field.indexOf('=');
      if (eq > 0) {
        values.put(field.substring(0, eq), Long.parseLong(field.substring(eq + 1)));
      }
    }
    return new NodeStats(
        get(values, "localSize"),
        get(values, "loads"),
        get(values, "loaderCalls"),
        get(values, "hits"),
        get(values, "misses"),
        get(values, "remoteCalls"),
        get(values, "remoteFailures"),
        get(values, "fallbackLoads"),
        get(values, "peerRequests"));
  }

  private static long get(Map<String, Long> values, String name) {
    Long value = values.get(name);
    if (value == null) {
      throw new IllegalArgumentException("STATS answer has no " + name + ": " + values);
    }
    return value;
  }

  /** The activity between {@code earlier} and this snapshot (localSize is kept as is). */
  NodeStats minus(NodeStats earlier) {
    return new NodeStats(
        localSize,
        loads - earlier.loads,
        loaderCalls - earlier.loaderCalls,
        hits - earlier.hits,
        misses - earlier.misses,
        remoteCalls - earlier.remoteCalls,
        remoteFailures - earlier.remoteFailures,
        fallbackLoads - earlier.fallbackLoads,
        peerRequests - earlier.peerRequests);
  }

  /** The sum of two nodes' counters. */
  NodeStats plus(NodeStats other) {
    return new NodeStats(
        localSize + other.localSize,
        loads + other.loads,
        loaderCalls + other.loaderCalls,
        hits + other.hits,
        misses + other.misses,
        remoteCalls + other.remoteCalls,
        remoteFailures + other.remoteFailures,
        fallbackLoads + other.fallbackLoads,
        peerRequests + other.peerRequests);
  }
}
