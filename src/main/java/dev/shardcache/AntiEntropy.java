package dev.shardcache;

import com.google.protobuf.ByteString;
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

/**
 * Periodic repair between replicas of one cache: each round compares a fixed-size digest of the
 * keys this node and one peer both hold, and exchanges only the entries of the buckets that differ,
 * so the bytes on the wire follow the difference, not the shard.
 *
 * <p>The shard is walked twice per round (once to digest, once to collect the differing buckets'
 * entries) rather than copied: memory per round is the digest plus the differing entries. Each side
 * also tells the other its last clear time, so a member that missed an {@code invalidateAll} learns
 * it here at the latest.
 *
 * <p>Blocking; rounds run on the maintenance thread. Thread-safe.
 */
final class AntiEntropy<K, V> {
  private final CacheScope<K, V> scope;
  private final Replication<K, V> replication;
  private final LongConsumer clear;

  /**
   * @param clear applies a clear time learned from a peer on this node (see {@link
   *     WritePath#clearHere})
   */
  AntiEntropy(CacheScope<K, V> scope, Replication<K, V> replication, LongConsumer clear) {
    this.scope = scope;
    this.replication = replication;
    this.clear = clear;
  }

  /** One round with {@code peer}: digest, merge its differing entries, send ours. */
  void roundWith(String peer) {
    if (scope.replicationFactor() < 2) {
      return;
    }
    Cluster cluster = scope.clusters().get();
    HashRing ring = cluster.ring();
    BucketDigest digest = digestShared(cluster, ring, peer, BucketDigest.DEFAULT_BUCKETS);
    DigestRequest.Builder request =
        DigestRequest.newBuilder()
            .setCache(scope.name())
            .setCaller(cluster.self())
            .setClearedBefore(scope.shard().clearedBefore());
    for (long bucket : digest.buckets()) {
      request.addBuckets(bucket);
    }
    DigestRequest built = request.build();
    scope.counters().antiEntropyBytes.add(built.getSerializedSize());
    DigestResponse response;
    try {
      response =
          PeerCalls.await(
              PeerCalls.call(
                  cluster.client(peer),
                  peer,
                  scope.config().remoteTimeout(),
                  PeerCalls.Counter.NONE,
                  stub -> stub.digest(built)));
    } catch (PeerCalls.PeerCallException e) {
      return; // the next round retries
    }
    scope.counters().antiEntropyBytes.add(response.getSerializedSize());
    adoptClear(cluster, response.getClearedBefore(), peer);
    for (VersionedEntry wire : response.getEntriesList()) {
      EntryCodec.Incoming<V> copy = scope.codec().fromWire(cluster, wire, peer);
      scope
          .shard()
          .merge(scope.codec().decodeKey(wire.getKey()), copy.entry(), copy.ageMillis(), -1);
    }
    BitSet differing = new BitSet();
    for (int bucket : response.getDifferingList()) {
      if (bucket >= 0 && bucket < digest.bucketCount()) {
        differing.set(bucket);
      }
    }
    List<VersionedEntry> ours = entriesIn(cluster, ring, peer, digest, differing);
    if (!ours.isEmpty()) {
      for (VersionedEntry entry : ours) {
        scope.counters().antiEntropyBytes.add(entry.getSerializedSize());
      }
      replication.stream(cluster, peer, ours);
    }
  }

  DigestResponse serveDigest(DigestRequest request) {
    scope.counters().peerRequests.increment();
    int buckets = request.getBucketsCount();
    if (buckets == 0 || Integer.bitCount(buckets) != 1 || buckets > BucketDigest.MAX_BUCKETS) {
      throw new IllegalArgumentException(
          "a digest needs a power-of-two number of buckets up to "
              + BucketDigest.MAX_BUCKETS
              + ", got "
              + buckets);
    }
    Cluster cluster = scope.clusters().get();
    adoptClear(cluster, request.getClearedBefore(), request.getCaller());
    HashRing ring = cluster.ring();
    BucketDigest digest = digestShared(cluster, ring, request.getCaller(), buckets);
    long[] theirs = new long[buckets];
    for (int i = 0; i < buckets; i++) {
      theirs[i] = request.getBuckets(i);
    }
    BitSet differing = BucketDigest.differing(digest.buckets(), theirs);
    DigestResponse.Builder response =
        DigestResponse.newBuilder().setClearedBefore(scope.shard().clearedBefore());
    for (int bucket = differing.nextSetBit(0);
        bucket >= 0;
        bucket = differing.nextSetBit(bucket + 1)) {
      response.addDiffering(bucket);
    }
    response.addAllEntries(entriesIn(cluster, ring, request.getCaller(), digest, differing));
    return response.build();
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
        (keyBytes, hash, stored) -> digest.add(hash, stored.entry().version()));
    return digest;
  }

  private List<VersionedEntry> entriesIn(
      Cluster cluster, HashRing ring, String peer, BucketDigest digest, BitSet buckets) {
    List<VersionedEntry> entries = new ArrayList<>();
    if (buckets.isEmpty()) {
      return entries;
    }
    forEachShared(
        cluster,
        ring,
        peer,
        (keyBytes, hash, stored) -> {
          if (buckets.get(digest.bucketOf(hash))) {
            entries.add(
                scope
                    .codec()
                    .toWire(ByteString.copyFrom(keyBytes), stored.entry(), stored.ageMillis()));
          }
        });
    return entries;
  }

  private interface SharedEntryVisitor<V> {
    void visit(byte[] keyBytes, long hash, Shard.Stored<V> stored);
  }

  /**
   * Visits the entries whose holders, under {@code ring}, include both this node and {@code peer}.
   */
  private void forEachShared(
      Cluster cluster, HashRing ring, String peer, SharedEntryVisitor<V> visitor) {
    scope
        .shard()
        .forEach(
            (key, stored) -> {
              byte[] keyBytes = scope.router().heldKeyBytes(key);
              if (keyBytes == null) {
                return;
              }
              long hash = KeyHash.hash(keyBytes);
              List<String> holders = scope.router().holders(ring, hash);
              if (holders.contains(peer) && holders.contains(cluster.self())) {
                visitor.visit(keyBytes, hash, stored);
              }
            });
  }
}
