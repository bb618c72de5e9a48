package dev.shardcache;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.DigestPage;
import dev.shardcache.internal.proto.DigestRequest;
import dev.shardcache.internal.proto.DigestResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.BucketDigest;
import dev.shardcache.ring.HashRing;
import dev.shardcache.ring.KeyHash;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.function.LongConsumer;
import java.util.function.LongPredicate;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Periodic repair between replicas of one cache: each round compares a fixed-size digest of the
 * keys this node and one peer both hold, and exchanges only the entries of the buckets that differ,
 * so the bytes on the wire follow the difference, not the shard.
 *
 * <h2>A round, and what it holds</h2>
 *
 * <ol>
 *   <li>The caller walks its shard once and folds each shared key's version into a {@link
 *       BucketDigest} of {@value BucketDigest#DEFAULT_BUCKETS} buckets (8 KiB), and sends it.
 *   <li>The peer walks its shard once to build its own digest, lists the buckets that differ, and
 *       answers its entries of those buckets, in ascending key-hash order, as many as fit one page
 *       of at most {@code maxBatchBytes} (the smaller of the two nodes' settings). If some were
 *       left out, the answer says after which key hash to go on, and the caller asks for the next
 *       page, naming the differing buckets so the peer digests nothing again. Each page costs the
 *       peer one walk of its shard and holds only the page ({@link HashOrderedPage}); the caller
 *       merges a page and lets it go before asking for the next.
 *   <li>The caller walks its shard once more and streams its own entries of the differing buckets
 *       to the peer through {@link EntryStreams}: chunks of at most {@code maxBatchBytes}.
 * </ol>
 *
 * <p>So neither side ever copies the shared shard, or even all the differing entries: memory per
 * round is the digest, the list of differing buckets, and one page or chunk. Walks cost CPU in
 * proportion to the shard, times the number of pages: a handful of differences fits one page, while
 * a replica that missed everything gets it page by page (rebalancing hands off whole ranges more
 * cheaply). An entry of a page this node cannot take (too large, stamped too far ahead, malformed)
 * is counted, logged and skipped alone; its neighbours are merged.
 *
 * <p>Each side also tells the other its last clear time, so a member that missed an {@code
 * invalidateAll} learns it here at the latest.
 *
 * <p>Blocking; rounds run on the maintenance thread, answers on a gRPC handler thread. Thread-safe.
 */
final class AntiEntropy<K, V> {
  private static final Logger logger = Logger.getLogger(AntiEntropy.class.getName());
  private static final long LOG_INTERVAL_MILLIS = 10_000;

  private final CacheScope<K, V> scope;
  private final LongConsumer clear;
  private final LogRateLimit refusalLog = new LogRateLimit(LOG_INTERVAL_MILLIS);

  /**
   * @param clear applies a clear time learned from a peer on this node (see {@link
   *     WritePath#clearHere})
   */
  AntiEntropy(CacheScope<K, V> scope, LongConsumer clear) {
    this.scope = scope;
    this.clear = clear;
  }

  /** One round with {@code peer}: digest, merge its differing entries page by page, send ours. */
  void roundWith(String peer) {
    if (scope.replicationFactor() < 2) {
      return;
    }
    Cluster cluster = scope.clusters().get();
    HashRing ring = cluster.ring();
    BucketDigest digest = digestShared(cluster, ring, peer, BucketDigest.DEFAULT_BUCKETS);
    DigestRequest.Builder first = newRequest(cluster);
    for (long bucket : digest.buckets()) {
      first.addBuckets(bucket);
    }
    DigestResponse response = ask(cluster, peer, first.build());
    if (response == null) {
      return; // the next round retries
    }
    int bucketCount = digest.bucketCount();
    BitSet differing = new BitSet(bucketCount);
    List<Integer> differingList = new ArrayList<>();
    for (int bucket : response.getDifferingList()) {
      if (bucket >= 0 && bucket < bucketCount && !differing.get(bucket)) {
        differing.set(bucket);
        differingList.add(bucket);
      }
    }
    mergePage(cluster, peer, response);
    while (response.hasNextAfterHash()) {
      long after = response.getNextAfterHash();
      DigestRequest next =
          newRequest(cluster)
              .setPage(
                  DigestPage.newBuilder()
                      .setBucketCount(bucketCount)
                      .addAllDiffering(differingList)
                      .setAfterHash(after))
              .build();
      response = ask(cluster, peer, next);
      if (response == null) {
        return;
      }
      mergePage(cluster, peer, response);
      if (response.hasNextAfterHash()
          && Long.compareUnsigned(response.getNextAfterHash(), after) <= 0) {
        return; // a peer that does not move forward would keep this round going forever
      }
    }
    if (!differing.isEmpty()) {
      sendOurs(cluster, ring, peer, differing, bucketCount);
    }
  }

  private DigestRequest.Builder newRequest(Cluster cluster) {
    return DigestRequest.newBuilder()
        .setCache(scope.name())
        .setCaller(cluster.self())
        .setClearedBefore(scope.shard().clearedBefore())
        .setMaxAnswerBytes(scope.maxBatchBytes());
  }

  private @Nullable DigestResponse ask(Cluster cluster, String peer, DigestRequest request) {
    scope.counters().antiEntropyBytes.add(request.getSerializedSize());
    scope.counters().digestPages.increment();
    DigestResponse response;
    try {
      response =
          PeerCalls.await(
              PeerCalls.call(
                  cluster.client(peer),
                  peer,
                  scope.config().remoteTimeout(),
                  PeerCalls.Counter.NONE,
                  stub -> stub.digest(request)));
    } catch (PeerCalls.PeerCallException e) {
      return null;
    }
    scope.counters().antiEntropyBytes.add(response.getSerializedSize());
    adoptClear(cluster, response.getClearedBefore(), peer);
    return response;
  }

  /** Merges a page of the peer's entries, each on its own: one this node refuses is skipped. */
  private void mergePage(Cluster cluster, String peer, DigestResponse page) {
    for (VersionedEntry wire : page.getEntriesList()) {
      try {
        K key = scope.codec().decodeKey(wire.getKey());
        EntryCodec.Incoming<V> copy = scope.codec().fromWire(cluster, wire, peer);
        scope.shard().merge(key, copy.entry(), copy.ageMillis(), -1);
      } catch (RuntimeException e) {
        refused(peer, wire, e);
      }
    }
  }

  private void refused(String peer, VersionedEntry wire, RuntimeException e) {
    scope.counters().refusedEntries.increment();
    if (refusalLog.tryPass(System.currentTimeMillis())) {
      logger.log(
          Level.WARNING,
          "An entry of cache ''{0}'' ({1} bytes) that peer {2} sent in anti-entropy was refused"
              + " and skipped: {3} (logged at most every 10 s)",
          new Object[] {scope.name(), wire.getSerializedSize(), peer, e.getMessage()});
    }
  }

  private void sendOurs(
      Cluster cluster, HashRing ring, String peer, BitSet differing, int bucketCount) {
    EntryStreams<K> streams =
        EntryStreams.of(scope, cluster, EntryStreams.NO_DEADLINE, EntryStreams.ignoringReceipts());
    forEachShared(
        cluster,
        ring,
        peer,
        hash -> differing.get(BucketDigest.bucketOf(hash, bucketCount)) && !streams.failed(peer),
        (key, keyBytes, hash, stored) ->
            streams.add(
                peer,
                scope
                    .codec()
                    .toWire(ByteString.copyFrom(keyBytes), stored.entry(), stored.ageMillis()),
                key));
    streams.finish();
    scope.counters().antiEntropyBytes.add(streams.sentBytes());
  }

  /**
   * Answers a peer's digest with the differing buckets and the first page of this node's entries in
   * them, or a later page of them; see the class comment.
   *
   * @throws IllegalArgumentException if the request's bucket count or bucket numbers are invalid
   */
  DigestResponse serveDigest(DigestRequest request) {
    scope.counters().peerRequests.increment();
    Cluster cluster = scope.clusters().get();
    adoptClear(cluster, request.getClearedBefore(), request.getCaller());
    HashRing ring = cluster.ring();
    DigestResponse.Builder response =
        DigestResponse.newBuilder().setClearedBefore(scope.shard().clearedBefore());
    int bucketCount;
    BitSet differing;
    boolean later = request.hasPage();
    if (later) {
      DigestPage page = request.getPage();
      bucketCount = checkBucketCount(page.getBucketCount());
      differing = new BitSet(bucketCount);
      for (int bucket : page.getDifferingList()) {
        if (bucket < 0 || bucket >= bucketCount) {
          throw new IllegalArgumentException(
              "a digest page names bucket " + bucket + " of " + bucketCount);
        }
        differing.set(bucket);
      }
    } else {
      bucketCount = checkBucketCount(request.getBucketsCount());
      BucketDigest digest = digestShared(cluster, ring, request.getCaller(), bucketCount);
      long[] theirs = new long[bucketCount];
      for (int i = 0; i < bucketCount; i++) {
        theirs[i] = request.getBuckets(i);
      }
      differing = BucketDigest.differing(digest.buckets(), theirs);
      for (int bucket = differing.nextSetBit(0);
          bucket >= 0;
          bucket = differing.nextSetBit(bucket + 1)) {
        response.addDiffering(bucket);
      }
    }
    if (differing.isEmpty()) {
      return response.build();
    }
    // What the entries may take: the bound, less the rest of the answer and its cursor.
    long budget =
        HashOrderedPage.answerBytes(scope.maxBatchBytes(), request.getMaxAnswerBytes())
            - response.build().getSerializedSize()
            - HashOrderedPage.CURSOR_BYTES;
    HashOrderedPage<VersionedEntry> page = new HashOrderedPage<>(Math.max(1, budget));
    long after = request.getPage().getAfterHash();
    forEachShared(
        cluster,
        ring,
        request.getCaller(),
        hash ->
            (!later || Long.compareUnsigned(hash, after) > 0)
                && differing.get(BucketDigest.bucketOf(hash, bucketCount))
                && page.wants(hash),
        (key, keyBytes, hash, stored) ->
            page.offer(
                hash,
                scope
                    .codec()
                    .toWire(ByteString.copyFrom(keyBytes), stored.entry(), stored.ageMillis())));
    response.addAllEntries(page.entries());
    if (page.hasMore()) {
      response.setNextAfterHash(page.lastHash());
    }
    return response.build();
  }

  private static int checkBucketCount(int buckets) {
    if (buckets <= 0 || Integer.bitCount(buckets) != 1 || buckets > BucketDigest.MAX_BUCKETS) {
      throw new IllegalArgumentException(
          "a digest needs a power-of-two number of buckets up to "
              + BucketDigest.MAX_BUCKETS
              + ", got "
              + buckets);
    }
    return buckets;
  }

  private void adoptClear(Cluster cluster, long clearedBefore, String from) {
    if (clearedBefore > scope.shard().clearedBefore()) {
      scope.codec().checkTimestamp(cluster, clearedBefore, from);
      cluster.clock().observe(clearedBefore);
      clear.accept(clearedBefore);
    }
  }

  private BucketDigest digestShared(Cluster cluster, HashRing ring, String peer, int buckets) {
    BucketDigest digest = new BucketDigest(buckets);
    forEachShared(
        cluster,
        ring,
        peer,
        hash -> true,
        (key, keyBytes, hash, stored) -> digest.add(hash, stored.entry().version()));
    return digest;
  }

  private interface SharedEntryVisitor<K, V> {
    void visit(K key, byte[] keyBytes, long hash, Shard.Stored<V> stored);
  }

  /**
   * Visits the entries whose key hash {@code wanted} accepts (tested first, as it is cheaper) and
   * whose holders, under {@code ring}, include both this node and {@code peer}.
   */
  private void forEachShared(
      Cluster cluster,
      HashRing ring,
      String peer,
      LongPredicate wanted,
      SharedEntryVisitor<K, V> visitor) {
    scope
        .shard()
        .forEach(
            (key, stored) -> {
              byte[] keyBytes = scope.router().heldKeyBytes(key);
              if (keyBytes == null) {
                return;
              }
              long hash = KeyHash.hash(keyBytes);
              if (!wanted.test(hash)) {
                return;
              }
              List<String> holders = scope.router().holders(ring, hash);
              if (holders.contains(peer) && holders.contains(cluster.self())) {
                visitor.visit(key, keyBytes, hash, stored);
              }
            });
  }
}
