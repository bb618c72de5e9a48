package dev.shardcache;

import java.util.List;

/**
 * Where one key lives under one ring, computed once per call: its encoded bytes, its hash, its
 * holders in ring order (the first is the owner), and whether this node is one of them. Immutable.
 *
 * @param epoch the ring epoch the holders were computed under (see {@link Cluster#ringEpoch()})
 */
@SuppressWarnings("ArrayRecordComponent") // a route is never compared or hashed
record KeyRoute(byte[] keyBytes, long hash, int epoch, List<String> holders, boolean holdsHere) {

  String owner() {
    return holders.get(0);
  }
}
