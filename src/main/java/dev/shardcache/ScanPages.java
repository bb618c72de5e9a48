package dev.shardcache;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.Entry;
import dev.shardcache.internal.proto.ScanPageRequest;
import dev.shardcache.internal.proto.ScanPageResponse;
import dev.shardcache.ring.HashRing;
import dev.shardcache.ring.KeyHash;
import java.util.function.BooleanSupplier;

/**
 * One page of the live entries this node owns, for cluster-wide iteration: what a peer's {@code
 * ScanPage} is answered with, and how a {@link ClusterScan} started here reads this node's own
 * shard, without a call to itself.
 *
 * <h2>Idea</h2>
 *
 * A page holds the live values whose key's <em>owner</em> (first holder) under this node's current
 * ring is this node and whose key hash is above the caller's cursor: the lowest such hashes that
 * fit the byte bound, collected by a {@link HashOrderedPage} from one walk of the shard. When some
 * were left out, the page names the hash of its last entry, where the next page starts. So:
 *
 * <ul>
 *   <li><b>The node keeps nothing between pages.</b> A scan abandoned half way (its caller died,
 *       its iterator was dropped without being closed) costs this node nothing, and each page is an
 *       ordinary unary call, signed, deadlined and classified like every other ({@link PeerCalls}).
 *   <li><b>Back-pressure is the caller's asking.</b> A page is built only when the caller asks for
 *       it, which it does when its consumer is about to need it; nothing is pushed ahead.
 *   <li><b>Owners only, so no duplicates.</b> A key has one owner under a ring, so while the
 *       members agree on the ring the pages of all members together hold every live entry once.
 *       Replicas and leftover copies of moved keys are never answered.
 *   <li><b>A leaving member refuses.</b> A node that is leaving has taken itself out of its own
 *       ring and owns nothing any more; it answers {@code UNAVAILABLE}, like a node that has
 *       closed, rather than an empty page that would end the caller's scan of it quietly.
 *   <li><b>A key present throughout is answered once.</b> Pages of one member partition the hash
 *       space in ascending order ({@link HashOrderedPage}), and a key present throughout a walk is
 *       visited by it; a key written, removed or expired while the scan runs may or may not be.
 * </ul>
 *
 * <p>Cost: each page is one walk of the shard (encoding and hashing each key, encoding the values
 * kept), the price of keeping no state; a shard whose owned entries encode to S bytes costs about S
 * / {@code maxBatchBytes} + 1 walks. A call cancelled by its caller stops its walk early.
 *
 * <p>Thread-safe; stateless. Blocks only for the walk: a peer's page runs on a handler thread.
 */
final class ScanPages<K, V> {
  /** How many entries a walk visits between two looks at whether its caller went away. */
  private static final int CANCEL_CHECK_INTERVAL = 1024;

  private final CacheScope<K, V> scope;

  ScanPages(CacheScope<K, V> scope) {
    this.scope = scope;
  }

  /**
   * Answers a peer's {@code ScanPage}: a page within the smaller of this node's and the caller's
   * byte bound.
   *
   * @param cancelled whether the caller went away, so the walk can stop
   */
  ScanPageResponse serve(ScanPageRequest request, BooleanSupplier cancelled) {
    scope.counters().peerRequests.increment();
    scope.counters().scanPagesServed.increment();
    return page(
        request.hasAfterHash(),
        request.getAfterHash(),
        HashOrderedPage.answerBytes(scope.maxBatchBytes(), request.getMaxAnswerBytes()),
        cancelled);
  }

  /**
   * The page of this node's owned live entries after {@code afterHash} (all of them from the lowest
   * hash when {@code hasAfter} is false), at most {@code maxAnswerBytes} serialized unless the
   * entries of its lowest hash alone are more.
   */
  ScanPageResponse page(
      boolean hasAfter, long afterHash, int maxAnswerBytes, BooleanSupplier cancelled) {
    Cluster cluster = scope.clusters().get();
    HashRing ring = cluster.ring();
    if (!ring.contains(cluster.self())) {
      // Only a node that is leaving drops itself from its own ring. Answering "nothing" would end
      // the caller's scan of this member quietly, while the entries it owned move to members the
      // caller may already have scanned: refuse instead, as a closing node (UNAVAILABLE).
      throw new IllegalStateException(
          "member "
              + cluster.self()
              + " is leaving the cluster; the entries it owned are moving to the members that"
              + " stay");
    }
    Codec<V> values = scope.config().valueCodec();
    HashOrderedPage<Entry> page =
        new HashOrderedPage<>(Math.max(1, maxAnswerBytes - HashOrderedPage.CURSOR_BYTES));
    int[] visited = {0};
    scope
        .shard()
        .forEachLive(
            (key, held) -> {
              if (++visited[0] % CANCEL_CHECK_INTERVAL == 0 && cancelled.getAsBoolean()) {
                return false;
              }
              byte[] keyBytes = scope.router().heldKeyBytes(key);
              if (keyBytes == null) {
                return true; // encoded when it was written; a codec failing now is skipped, as
                // hand-off does
              }
              long hash = KeyHash.hash(keyBytes);
              if ((hasAfter && Long.compareUnsigned(hash, afterHash) <= 0)
                  || !page.wants(hash)
                  || !cluster.isSelf(ring.ownerOf(hash))) {
                return true;
              }
              page.offer(
                  hash,
                  Entry.newBuilder()
                      .setKey(ByteString.copyFrom(keyBytes))
                      .setValue(ByteString.copyFrom(values.encode(held.value())))
                      .build());
              return true;
            });
    ScanPageResponse.Builder response = ScanPageResponse.newBuilder().addAllEntries(page.entries());
    if (page.hasMore()) {
      response.setNextAfterHash(page.lastHash());
    }
    return response.build();
  }
}
