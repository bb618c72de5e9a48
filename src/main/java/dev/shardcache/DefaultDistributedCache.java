package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.CompareAndSetRequest;
import dev.shardcache.internal.proto.CompareAndSetResponse;
import dev.shardcache.internal.proto.DigestRequest;
import dev.shardcache.internal.proto.DigestResponse;
import dev.shardcache.internal.proto.FetchRequest;
import dev.shardcache.internal.proto.FetchResponse;
import dev.shardcache.internal.proto.GetAllRequest;
import dev.shardcache.internal.proto.GetAllResponse;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.InvalidateAllRequest;
import dev.shardcache.internal.proto.InvalidateAllResponse;
import dev.shardcache.internal.proto.InvalidateRequest;
import dev.shardcache.internal.proto.PutRequest;
import dev.shardcache.internal.proto.RefreshRequest;
import dev.shardcache.internal.proto.RefreshResponse;
import dev.shardcache.internal.proto.Refusal;
import dev.shardcache.internal.proto.ScanPageRequest;
import dev.shardcache.internal.proto.ScanPageResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.internal.proto.WriteAllRequest;
import dev.shardcache.internal.proto.WriteAllResponse;
import dev.shardcache.replication.Versioned;
import dev.shardcache.ring.HashRing;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * A named cache on one node: the facade over its data path, which is made of parts that each own
 * one invariant.
 *
 * <ul>
 *   <li>{@link Shard}: versioned entries, tombstones apart from the size bound, clears, lifetimes;
 *   <li>{@link Router} and {@link KeyRoute}: where a key lives under this node's current ring,
 *       computed once per call;
 *   <li>{@link LoadFlights} and {@link Loads}: one resolution of a miss at a time per key, asking
 *       other holders before loading ({@link HolderCopies});
 *   <li>{@link ReadPath} with {@link RemoteReads} and {@link NearCache}: where a read is answered;
 *   <li>{@link Refreshes}: one background reload of a due key for the whole cluster; {@link
 *       BatchReads}: {@code getAll}, one call per holder and one bulk load per owner;
 *   <li>{@link WritePath} with {@link Replication}: apply, replicate, acknowledge; forwarding;
 *       versioned clears; {@link BatchWrites}: {@code putAll} and {@code invalidateAll(keys)}, one
 *       call per holder, each key as its single write;
 *   <li>{@link PeerRequests}: the serving side of peers' reads, fetches and replicated entries;
 *   <li>{@link Rebalancer} and {@link AntiEntropy}: hand-off after ring changes, and repair, both
 *       streaming through {@link EntryStreams} in chunks bounded in bytes;
 *   <li>{@link ScanPages} and {@link ClusterScan}: cluster-wide iteration, each member answering
 *       the entries it owns in byte-bounded pages after a key-hash cursor, keeping nothing between
 *       pages;
 *   <li>{@link CacheCounters}: what {@link #stats()} reports;
 *   <li>and, shared by the whole node, {@link PeerCalls}: the one policy of every remote call.
 * </ul>
 *
 * <p>Thread-safe; see {@link DistributedCache} for what each method promises.
 */
final class DefaultDistributedCache<K, V> implements DistributedCache<K, V> {
  private final CacheScope<K, V> scope;
  private final ReadPath<K, V> reads;
  private final BatchReads<K, V> batchReads;
  private final WritePath<K, V> writes;
  private final BatchWrites<K, V> batchWrites;
  private final PeerRequests<K, V> peerRequests;
  private final Rebalancer<K, V> rebalancer;
  private final AntiEntropy<K, V> antiEntropy;
  private final Refreshes<K, V> refreshes;
  private final ScanPages<K, V> scanPages;
  private final NearCache<K, V> near;
  private final RemoteReads<K, V> remote;

  /**
   * @param maxBatchBytes the node's bound on every message it builds from many entries (hand-off
   *     chunks, Digest and ScanPage pages, GetAll and Fetch answers, hint and batch-write requests)
   * @param subscribers the client-only members this node pushes invalidations to
   * @param nearOpen whether the near cache may keep values now (see {@link NearCache})
   */
  DefaultDistributedCache(
      String name,
      CacheConfig<K, V> config,
      Supplier<Cluster> clusters,
      Executor executor,
      int maxBatchBytes,
      Subscribers subscribers,
      BooleanSupplier nearOpen) {
    CacheCounters counters = new CacheCounters();
    EntryCodec<K, V> codec = new EntryCodec<>(name, config, counters);
    NearCache<K, V> near = new NearCache<>(config, counters.nearHits, nearOpen);
    this.near = near;
    this.scope =
        new CacheScope<>(
            name,
            config,
            clusters,
            executor,
            counters,
            codec,
            new Shard<>(config, counters),
            new Router<>(codec, config.replicationFactor()),
            near,
            new HotKeys(config),
            maxBatchBytes,
            subscribers);
    LoadFlights<K, V> flights = new LoadFlights<>(executor);
    LoadFlights<K, V> copies = new LoadFlights<>(executor);
    RemoteReads<K, V> remote = new RemoteReads<>(near);
    this.remote = remote;
    Replication<K, V> replication = new Replication<>(scope);
    Loads<K, V> loads = new Loads<>(scope, replication);
    this.refreshes = new Refreshes<>(scope, loads, replication, flights, copies, remote);
    this.reads = new ReadPath<>(scope, flights, copies, loads, remote, refreshes);
    this.writes = new WritePath<>(scope, flights, copies, remote, replication);
    this.batchReads = new BatchReads<>(scope, reads, writes, flights, loads, remote);
    this.batchWrites = new BatchWrites<>(scope, flights, copies, remote, replication);
    this.peerRequests =
        new PeerRequests<>(scope, flights, copies, loads, remote, writes, refreshes);
    this.rebalancer = new Rebalancer<>(scope);
    this.antiEntropy = new AntiEntropy<>(scope, writes::clearHere);
    this.scanPages = new ScanPages<>(scope);
  }

  @Override
  public String name() {
    return scope.name();
  }

  @Override
  public CacheConfig<K, V> config() {
    return scope.config();
  }

  @Override
  public @Nullable V get(K key) {
    return reads.get(requireNonNull(key, "key"));
  }

  @Override
  public V get(K key, CacheLoader<? super K, ? extends V> loader) {
    return reads.get(requireNonNull(key, "key"), requireNonNull(loader, "loader"), writes);
  }

  @Override
  public @Nullable V getIfPresent(K key) {
    return reads.getIfPresent(requireNonNull(key, "key"));
  }

  @Override
  public CompletableFuture<@Nullable V> getAsync(K key) {
    return reads.getAsync(requireNonNull(key, "key"));
  }

  @Override
  public Map<K, V> getAll(Iterable<? extends K> keys) {
    return batchReads.getAll(requireNonNull(keys, "keys"));
  }

  @Override
  public Map<K, V> getAll(Iterable<? extends K> keys, CacheLoader<? super K, ? extends V> loader) {
    return batchReads.getAll(requireNonNull(keys, "keys"), requireNonNull(loader, "loader"));
  }

  @Override
  public void put(K key, V value) {
    writes.write(requireNonNull(key, "key"), requireNonNull(value, "value"), "put");
  }

  @Override
  public void invalidate(K key) {
    writes.write(requireNonNull(key, "key"), null, "invalidate");
  }

  @Override
  public void putAll(Map<? extends K, ? extends V> entries) {
    batchWrites.putAll(requireNonNull(entries, "entries"));
  }

  @Override
  public void invalidateAll(Iterable<? extends K> keys) {
    batchWrites.invalidateAll(requireNonNull(keys, "keys"));
  }

  @Override
  public boolean compareAndSet(K key, @Nullable V expected, @Nullable V update) {
    return writes.compareAndSet(requireNonNull(key, "key"), expected, update);
  }

  @Override
  public void invalidateAll() {
    writes.invalidateAll();
  }

  @Override
  public CacheScan<K, V> scan() {
    return new ClusterScan<>(scope, scanPages);
  }

  @Override
  public String ownerOf(K key) {
    requireNonNull(key, "key");
    return scope.clusters().get().ownerOf(scope.codec().encodeKey(key));
  }

  @Override
  public long localSize() {
    return scope.shard().liveCount();
  }

  @Override
  public OptionalLong localWeight() {
    return scope.shard().weightedSize();
  }

  @Override
  public CacheStats stats() {
    return scope.counters().snapshot();
  }

  // ---------------------------------------------------------------- serving peers

  CompletableFuture<GetResponse> serveGet(GetRequest request, CallInterest interest) {
    return peerRequests.serveGet(request, interest);
  }

  CompletableFuture<GetAllResponse> serveGetAll(GetAllRequest request, CallInterest interest) {
    return peerRequests.serveGetAll(request, interest);
  }

  void servePut(PutRequest request) {
    scope.counters().peerRequests.increment();
    writes.servePut(request);
  }

  void serveInvalidate(InvalidateRequest request) {
    scope.counters().peerRequests.increment();
    writes.serveInvalidate(request);
  }

  WriteAllResponse serveWriteAll(WriteAllRequest request) {
    scope.counters().peerRequests.increment();
    return batchWrites.serveWriteAll(request);
  }

  CompareAndSetResponse serveCompareAndSet(CompareAndSetRequest request) {
    scope.counters().peerRequests.increment();
    return CompareAndSetResponse.newBuilder()
        .setApplied(writes.serveCompareAndSet(request))
        .build();
  }

  InvalidateAllResponse serveInvalidateAll(InvalidateAllRequest request) {
    scope.counters().peerRequests.increment();
    return writes.serveInvalidateAll(request);
  }

  void serveReplicate(CacheBatch batch, String caller) {
    serveReplicate(batch, caller, null);
  }

  /**
   * The keys of {@code batch}'s entries this node marked hot in answers a reader may still keep:
   * the writer that sent them must invalidate those copies too (see {@link
   * Replication#sendBeforeAck}). Empty when hot keys are off.
   */
  List<ByteString> markedHotAmong(CacheBatch batch) {
    List<ByteString> hot = new ArrayList<>();
    for (VersionedEntry entry : batch.getEntriesList()) {
      if (scope.hotKeys().marked(entry.getKey())) {
        hot.add(entry.getKey());
      }
    }
    return hot;
  }

  /** See {@link PeerRequests#serveReplicate}. */
  void serveReplicate(
      CacheBatch batch, String caller, @Nullable Consumer<Refusal.Builder> refusals) {
    peerRequests.serveReplicate(batch, caller, refusals);
  }

  FetchResponse serveFetch(FetchRequest request) {
    return peerRequests.serveFetch(request);
  }

  DigestResponse serveDigest(DigestRequest request) {
    return antiEntropy.serveDigest(request);
  }

  CompletableFuture<RefreshResponse> serveRefresh(RefreshRequest request) {
    return refreshes.serve(request);
  }

  /** See {@link ScanPages#serve}. */
  ScanPageResponse serveScanPage(ScanPageRequest request, BooleanSupplier cancelled) {
    return scanPages.serve(request, cancelled);
  }

  // ---------------------------------------------------------------- a client's copies

  /** Whether this cache keeps copies of other holders' values (near or hot), so needs pushes. */
  boolean keepsCopies() {
    return near.enabled();
  }

  /**
   * Drops the copies of the keys a member pushed (see {@link Subscriptions}), detaching their reads
   * in flight, as a near-cache invalidation from a peer does; a key this node cannot decode drops
   * every copy instead.
   */
  void dropCopies(List<ByteString> keys) {
    for (ByteString bytes : keys) {
      try {
        remote.detach(scope.codec().decodeKey(bytes));
      } catch (IllegalArgumentException | CodecException unreadable) {
        remote.detachAll();
        return;
      }
    }
  }

  /** Drops every copy of other holders' values and detaches every read in flight. */
  void dropAllCopies() {
    remote.detachAll();
  }

  // ---------------------------------------------------------------- maintenance

  /** Hands entries to their new holders; see {@link Rebalancer}. */
  void rebalance(HashRing previous) {
    rebalancer.rebalance(previous);
  }

  /** Hands every entry to its holders under {@code without} before this node leaves. */
  void handOffAll(Cluster cluster, HashRing without, long deadlineNanos) {
    rebalancer.handOffAll(cluster, without, deadlineNanos);
  }

  void antiEntropyWith(String peer) {
    antiEntropy.roundWith(peer);
  }

  /** Drops values past their lifetime and tombstones past theirs. */
  void sweep() {
    scope.shard().sweep();
  }

  /** The last clear time of this cache on this node, for the replicator's batches. */
  long clearedBefore() {
    return scope.shard().clearedBefore();
  }

  /** Empties the shard; used when the node closes. */
  void clear() {
    scope.shard().invalidateAll();
    scope.near().invalidateAll();
  }

  // ---------------------------------------------------------------- figures for tests and metrics

  long fetchedCopyCount() {
    return scope.counters().fetchedCopies.sum();
  }

  /** Fetch calls this node's misses made to other holders; for tests. */
  long fetchCallCount() {
    return scope.counters().fetchCalls.sum();
  }

  long handedOffCount() {
    return scope.counters().handedOff.sum();
  }

  long readRepairCount() {
    return scope.counters().repairs.sum();
  }

  long antiEntropyBytes() {
    return scope.counters().antiEntropyBytes.sum();
  }

  /** Pages of Digest answers this node asked for; for tests. */
  long digestPageCount() {
    return scope.counters().digestPages.sum();
  }

  /** ScanPage calls this node answered for peers' scans; for tests. */
  long scanPagesServed() {
    return scope.counters().scanPagesServed.sum();
  }

  /** Pages this node's scans took in, its own included; for tests. */
  long scanPagesTaken() {
    return scope.counters().scanPagesTaken.sum();
  }

  /** Entries peers refused in hand-off or anti-entropy, each skipped alone; for tests. */
  long refusedEntryCount() {
    return scope.counters().refusedEntries.sum();
  }

  long futureVersionsRefused() {
    return scope.counters().futureVersionsRefused.sum();
  }

  /** The replicator of the node this cache runs on; for tests. */
  Replicator replicator() {
    return scope.clusters().get().replicator();
  }

  /** The counters of this cache on this node, for tests. */
  CacheCounters counters() {
    return scope.counters();
  }

  /** The newest entry held for a key (tombstones included), for tests and diagnostics. */
  @Nullable Versioned<V> peek(K key) {
    return scope.shard().newest(key);
  }

  @Override
  public String toString() {
    return "DistributedCache{" + scope.name() + "}";
  }
}
