package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.CompareAndSetRequest;
import dev.shardcache.internal.proto.CompareAndSetResponse;
import dev.shardcache.internal.proto.DigestRequest;
import dev.shardcache.internal.proto.DigestResponse;
import dev.shardcache.internal.proto.Entry;
import dev.shardcache.internal.proto.FetchRequest;
import dev.shardcache.internal.proto.FetchResponse;
import dev.shardcache.internal.proto.GetAllRequest;
import dev.shardcache.internal.proto.GetAllResponse;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.InvalidateAllRequest;
import dev.shardcache.internal.proto.InvalidateAllResponse;
import dev.shardcache.internal.proto.InvalidateRequest;
import dev.shardcache.internal.proto.InvalidateResponse;
import dev.shardcache.internal.proto.PutRequest;
import dev.shardcache.internal.proto.PutResponse;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.BucketDigest;
import dev.shardcache.replication.HybridLogicalClock;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import dev.shardcache.ring.HashRing;
import dev.shardcache.ring.KeyHash;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * A named cache on one node: its Caffeine shard of versioned entries, the routing of each key to
 * its holders, single-flight loads, replication, and the serving of peers' requests.
 *
 * <h2>Holders</h2>
 * With replication factor {@code n}, a key's <em>holders</em> are the first {@code n} distinct
 * members clockwise from the key on the ring; the first is its <em>owner</em>. Reads answer from the
 * local shard when it holds the key; otherwise they go to the holders in ring order, the first
 * reachable one answering (or loading). Writes are applied by the first reachable holder, which
 * versions them with its hybrid logical clock and queues copies for the other holders.
 *
 * <h2>Versions</h2>
 * Every entry, value or tombstone (a remembered delete), carries a version: (timestamp, writer).
 * Copies of a key meet only through {@link Versioned#merge}: the higher version wins. Merging is
 * commutative, associative and idempotent, so replication, hinted handoff, read repair,
 * rebalancing and anti-entropy may deliver copies in any order, any number of times, and replicas
 * still converge. A load is versioned when it <em>starts</em>, so a write made while it runs is newer
 * and wins over the loaded value.
 *
 * <h2>Single-flight</h2>
 * {@code loads} maps a key to the future of the one load of it running on this node. The thread
 * that installs the future (the winner) loads; the others wait on it. Together with routing every
 * miss of a key to its owner, this makes one loader call per key for the whole cluster: concurrent
 * callers on one node share one remote call ({@code remoteReads}), and concurrent remote calls from
 * all nodes meet in the owner's {@code loads}. The winner re-reads the shard before loading, because
 * of this interleaving: (1) A misses the shard; (2) B, which won the flight earlier, stores the
 * value and removes its flight; (3) A finds no flight and wins a new one. Since B stores before
 * removing its flight, A's second read sees B's value.
 *
 * <h2>Misses ask before they load</h2>
 * Before calling the loader, the owner asks the key's other holders and its holders under the
 * previous ring for their copy ({@code Fetch}). A member that just joined thus takes over warm
 * keys instead of reloading them, and a holder that lost its copy gets it back. Holders found with
 * an older copy are repaired (read repair).
 *
 * <h2>Requests from peers</h2>
 * A request that arrives from a peer is answered here, from the shard or by loading here, even if
 * this node's ring names other holders. It is never forwarded to another node for an answer, so two
 * nodes whose rings disagree cannot bounce a request between them or wait on each other. What such
 * a node does not hold under its own ring it answers without keeping (reads), or stores and later
 * hands to the right holders in its rebalancing pass (writes).
 */
final class DefaultDistributedCache<K, V> implements DistributedCache<K, V> {
  private static final Logger logger = Logger.getLogger(DefaultDistributedCache.class.getName());

  /** The longest a miss waits for other holders' copies before loading. */
  private static final Duration FETCH_TIMEOUT = Duration.ofSeconds(1);

  private final String name;
  private final CacheConfig<K, V> config;
  private final Supplier<Cluster> clusters;
  private final Executor executor;
  private final Codec<K> keyCodec;
  private final Codec<V> valueCodec;
  private final @Nullable CacheLoader<K, V> loader;
  private final int replicationFactor;
  private final Cache<K, Versioned<V>> shard;
  private final long ttlMillis;
  private final long tombstoneMillis;
  private final @Nullable Cache<K, V> nearCache;

  private final ConcurrentMap<K, CompletableFuture<V>> loads = new ConcurrentHashMap<>();
  private final ConcurrentMap<K, CompletableFuture<@Nullable V>> remoteReads =
      new ConcurrentHashMap<>();

  private final LongAdder hits = new LongAdder();
  private final LongAdder misses = new LongAdder();
  private final LongAdder evictions = new LongAdder();
  private final LongAdder nearHits = new LongAdder();
  private final LongAdder loadSuccesses = new LongAdder();
  private final LongAdder loadFailures = new LongAdder();
  private final LongAdder loadTimeNanos = new LongAdder();
  private final LongAdder remoteCalls = new LongAdder();
  private final LongAdder remoteFailures = new LongAdder();
  private final LongAdder fallbackLoads = new LongAdder();
  private final LongAdder peerRequests = new LongAdder();
  private final LongAdder fetchedCopies = new LongAdder();
  private final LongAdder repairs = new LongAdder();
  private final LongAdder antiEntropyBytes = new LongAdder();
  private final LongAdder handedOff = new LongAdder();

  DefaultDistributedCache(
      String name, CacheConfig<K, V> config, Supplier<Cluster> clusters, Executor executor) {
    this.name = name;
    this.config = config;
    this.clusters = clusters;
    this.executor = executor;
    this.keyCodec = config.keyCodec();
    this.valueCodec = config.valueCodec();
    this.loader = config.loader().orElse(null);
    this.replicationFactor = config.replicationFactor();
    this.ttlMillis = config.expireAfterWrite().map(Duration::toMillis).orElse(-1L);
    this.tombstoneMillis = config.tombstoneLifetime().toMillis();
    Caffeine<Object, Object> shardBuilder = Caffeine.newBuilder()
        .maximumSize(config.maximumSize())
        .evictionListener((k, v, cause) -> evictions.increment());
    if (ttlMillis >= 0) {
      // A fixed policy, long enough for values and tombstones alike; see isLive for the exact
      // lifetime of each entry. (Caffeine's per-entry expiry would double the cost of a hit.)
      shardBuilder.expireAfterWrite(Duration.ofMillis(Math.max(ttlMillis, tombstoneMillis)));
    }
    this.shard = shardBuilder.build();
    this.nearCache =
        config.nearCacheEnabled()
            ? Caffeine.newBuilder()
                .maximumSize(config.nearCacheMaximumSize())
                .expireAfterWrite(config.nearCacheTtl())
                .build()
            : null;
  }

  /**
   * Whether an entry is a value still within its lifetime. Lifetimes count from the time the
   * version was written, not the time this node received the copy, so every holder drops a key at
   * about the same moment. Without a TTL this reads no clock.
   */
  private boolean isLive(Versioned<V> entry) {
    if (entry.isTombstone()) {
      return false;
    }
    return ttlMillis < 0
        || System.currentTimeMillis() - HybridLogicalClock.physicalMillis(entry.version().timestamp())
            < ttlMillis;
  }

  /**
   * Removes values past their TTL and tombstones past their lifetime; run by the node's periodic
   * maintenance so that neither outlives its time by more than one maintenance interval.
   */
  void sweep() {
    long now = System.currentTimeMillis();
    shard.asMap().values().removeIf(entry -> {
      long age = now - HybridLogicalClock.physicalMillis(entry.version().timestamp());
      return entry.isTombstone() ? age >= tombstoneMillis : ttlMillis >= 0 && age >= ttlMillis;
    });
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public CacheConfig<K, V> config() {
    return config;
  }

  // ---------------------------------------------------------------- reads

  @Override
  public @Nullable V get(K key) {
    requireNonNull(key, "key");
    Cluster cluster = clusters.get();
    // The shard holds the keys this node holds (entries of keys it lost are handed off and dropped
    // after each membership change), so a key found here needs no encoding, hashing or ring lookup.
    Versioned<V> local = shard.getIfPresent(key);
    if (local != null && isLive(local)) {
      hits.increment();
      return local.value();
    }
    byte[] keyBytes = encodeKey(key);
    long hash = KeyHash.hash(keyBytes);
    if (replicationFactor == 1 && cluster.isSelf(cluster.ring().ownerOf(hash))) {
      misses.increment();
      return loader == null ? null : loadOnce(key, keyBytes, hash, true, loader);
    }
    List<String> holders = cluster.ring().ownersOf(hash, replicationFactor);
    if (cluster.isSelf(holders.get(0))) {
      misses.increment();
      return loader == null ? null : loadOnce(key, keyBytes, hash, true, loader);
    }
    return await(readFromHolders(key, keyBytes, hash, holders));
  }

  /** Looks a key up in the shard, counting the hit or miss; tombstones read as absent. */
  private @Nullable V lookup(K key) {
    Versioned<V> entry = shard.getIfPresent(key);
    if (entry == null || !isLive(entry)) {
      misses.increment();
      return null;
    }
    hits.increment();
    return entry.value();
  }

  private boolean holdsHere(Cluster cluster, long hash) {
    if (replicationFactor == 1) {
      return cluster.isSelf(cluster.ring().ownerOf(hash));
    }
    for (String holder : cluster.ring().ownersOf(hash, replicationFactor)) {
      if (cluster.isSelf(holder)) {
        return true;
      }
    }
    return false;
  }

  @Override
  public V get(K key, CacheLoader<? super K, ? extends V> loader) {
    requireNonNull(key, "key");
    requireNonNull(loader, "loader");
    Cluster cluster = clusters.get();
    byte[] keyBytes = encodeKey(key);
    long hash = KeyHash.hash(keyBytes);
    if (holdsHere(cluster, hash)) {
      V hit = lookup(key);
      return hit != null ? hit : loadOnce(key, keyBytes, hash, true, loader);
    }
    V present = getIfPresent(key);
    if (present != null) {
      return present;
    }
    V loaded = loadOnce(key, keyBytes, hash, false, loader);
    try {
      if (compareAndSet(key, null, loaded)) {
        return loaded;
      }
    } catch (PeerUnavailableException e) {
      return loaded; // no holder is reachable: answer like any read of an unreachable owner
    }
    V winner = getIfPresent(key);
    return winner != null ? winner : loaded;
  }

  @Override
  public @Nullable V getIfPresent(K key) {
    requireNonNull(key, "key");
    Cluster cluster = clusters.get();
    byte[] keyBytes = encodeKey(key);
    long hash = KeyHash.hash(keyBytes);
    if (holdsHere(cluster, hash)) {
      return lookup(key);
    }
    V near = nearCacheHit(key);
    if (near != null) {
      return near;
    }
    for (String holder : cluster.ring().ownersOf(hash, replicationFactor)) {
      PeerClient peer = cluster.client(holder);
      if (peer == null || !peer.tryAcquire()) {
        continue;
      }
      remoteCalls.increment();
      try {
        GetResponse response =
            peer.blockingStub(config.remoteTimeout()).get(getRequest(cluster, keyBytes, false));
        peer.onAnswer();
        return response.getFound() ? decodeValue(response.getValue(), holder) : null;
      } catch (StatusRuntimeException e) {
        remoteFailures.increment();
        if (!peer.recordFailure(e.getStatus())) {
          throw RemoteErrors.fromStatus(e.getStatus(), holder, name);
        }
      }
    }
    return null;
  }

  @Override
  public CompletableFuture<@Nullable V> getAsync(K key) {
    requireNonNull(key, "key");
    try {
      Cluster cluster = clusters.get();
      Versioned<V> local = shard.getIfPresent(key);
      if (local != null && isLive(local)) {
        hits.increment();
        return CompletableFuture.completedFuture(local.value());
      }
      byte[] keyBytes = encodeKey(key);
      long hash = KeyHash.hash(keyBytes);
      List<String> holders = cluster.ring().ownersOf(hash, replicationFactor);
      if (cluster.isSelf(holders.get(0))) {
        misses.increment();
        if (loader == null) {
          return CompletableFuture.completedFuture(null);
        }
        CacheLoader<K, V> own = loader;
        return CompletableFuture.supplyAsync(() -> loadOnce(key, keyBytes, hash, true, own), executor);
      }
      // Completed on a gRPC transport thread: hand the answer to the node's executor so that the
      // caller's continuations never run there.
      CompletableFuture<@Nullable V> answer = new CompletableFuture<>();
      readFromHolders(key, keyBytes, hash, holders).whenComplete((value, failure) -> {
        Runnable complete = () -> {
          if (failure != null) {
            answer.completeExceptionally(failure);
          } else {
            answer.complete(value);
          }
        };
        try {
          executor.execute(complete);
        } catch (RuntimeException closing) {
          complete.run(); // the node is closing; never leave the caller waiting
        }
      });
      return answer;
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  @Override
  public Map<K, V> getAll(Iterable<? extends K> keys) {
    requireNonNull(keys, "keys");
    Cluster cluster = clusters.get();
    Set<K> distinct = new LinkedHashSet<>();
    for (K key : keys) {
      distinct.add(requireNonNull(key, "keys must not contain null"));
    }
    Map<K, V> result = new LinkedHashMap<>();
    List<K> local = new ArrayList<>();
    Map<String, Map<ByteString, K>> remoteByOwner = new HashMap<>();
    for (K key : distinct) {
      Versioned<V> held = shard.getIfPresent(key);
      if (held != null && isLive(held)) {
        hits.increment();
        result.put(key, held.value());
        continue;
      }
      byte[] keyBytes = encodeKey(key);
      long hash = KeyHash.hash(keyBytes);
      String owner = firstReachableHolder(cluster, hash);
      if (owner == null || cluster.isSelf(owner)) {
        local.add(key);
        continue;
      }
      V near = nearCacheHit(key);
      if (near != null) {
        result.put(key, near);
      } else {
        remoteByOwner
            .computeIfAbsent(owner, o -> new LinkedHashMap<>())
            .put(ByteString.copyFrom(keyBytes), key);
      }
    }

    // Start every remote batch first, so they overlap with each other and with local loads.
    List<CompletableFuture<Map<K, V>>> batches = new ArrayList<>();
    remoteByOwner.forEach(
        (owner, ownerKeys) -> {
          List<Map.Entry<ByteString, K>> entries = new ArrayList<>(ownerKeys.entrySet());
          for (int from = 0; from < entries.size(); from += CacheConfig.MAX_KEYS_PER_BATCH) {
            List<Map.Entry<ByteString, K>> chunk =
                entries.subList(from, Math.min(entries.size(), from + CacheConfig.MAX_KEYS_PER_BATCH));
            batches.add(readBatchFromOwner(cluster, owner, chunk));
          }
        });

    RuntimeException failure = null;
    for (K key : local) {
      try {
        V value = get(key);
        if (value != null) {
          result.put(key, value);
        }
      } catch (RuntimeException e) {
        failure = failure == null ? e : failure;
      }
    }
    for (CompletableFuture<Map<K, V>> batch : batches) {
      try {
        result.putAll(await(batch));
      } catch (RuntimeException e) {
        failure = failure == null ? e : failure;
      }
    }
    if (failure != null) {
      throw failure;
    }
    return result;
  }

  /** The first holder that is this node or a peer not marked down, or null if none is. */
  private @Nullable String firstReachableHolder(Cluster cluster, long hash) {
    for (String holder : cluster.ring().ownersOf(hash, replicationFactor)) {
      if (cluster.isSelf(holder)) {
        return holder;
      }
      PeerClient peer = cluster.client(holder);
      if (peer != null && peer.isUp()) {
        return holder;
      }
    }
    return null;
  }

  /**
   * Loads {@code key} on this node, once for all concurrent callers. With {@code store} the node
   * holds the key: it first asks the other holders for a copy, and stores and replicates what it
   * loads. Without {@code store} (a fallback when no holder can be reached, or a request for a key
   * this node does not hold) the value is only returned.
   */
  private V loadOnce(K key, byte[] keyBytes, long hash, boolean store,
      CacheLoader<? super K, ? extends V> with) {
    CompletableFuture<V> flight = new CompletableFuture<>();
    CompletableFuture<V> running = loads.putIfAbsent(key, flight);
    if (running != null) {
      return await(running);
    }
    try {
      V value = null;
      if (store) {
        Versioned<V> again = shard.policy().getIfPresentQuietly(key);
        value = again == null || !isLive(again) ? null : again.value();
        if (value == null) {
          value = copyFromOtherHolders(key, keyBytes, hash);
        }
      }
      if (value == null) {
        Cluster cluster = clusters.get();
        Version version = new Version(cluster.clock().now(), cluster.writerId());
        LoadedValue<V> loaded = callLoader(key, with);
        value = loaded.value();
        if (store) {
          Versioned<V> entry = Versioned.of(value, version);
          Versioned<V> winner = mergeHere(key, entry);
          if (winner == entry) {
            replicate(cluster, keyBytes, hash, entry, loaded.bytes(), /* invalidateNear= */ false);
          } else if (isLive(winner)) {
            // A write made while we loaded (a put, or another node's compare-and-set) is newer:
            // answer with it, so every caller agrees on the value the cache holds.
            value = winner.value();
          }
        }
      }
      flight.complete(value);
      return value;
    } catch (RuntimeException | Error e) {
      flight.completeExceptionally(e);
      throw e;
    } finally {
      loads.remove(key, flight);
    }
  }

  private record LoadedValue<T>(T value, byte[] bytes) {}

  private LoadedValue<V> callLoader(K key, CacheLoader<? super K, ? extends V> cacheLoader) {
    long start = System.nanoTime();
    V value;
    try {
      value = cacheLoader.load(key);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      loadFailures.increment();
      throw new CacheLoadException(
          "loader of cache '" + name + "' was interrupted loading key " + describe(key), e);
    } catch (Exception e) {
      loadFailures.increment();
      throw new CacheLoadException(
          "loader of cache '" + name + "' failed for key " + describe(key) + ": " + e, e);
    } catch (Error e) {
      loadFailures.increment();
      throw e;
    } finally {
      loadTimeNanos.add(System.nanoTime() - start);
    }
    if (value == null) {
      loadFailures.increment();
      throw new CacheLoadException(
          "loader of cache '" + name + "' returned null for key " + describe(key)
              + "; a loader must return a value or throw (nothing was cached)", null);
    }
    byte[] bytes;
    try {
      bytes = valueCodec.encode(value);
    } catch (RuntimeException e) {
      loadFailures.increment();
      throw new CacheLoadException(
          "value loaded for key " + describe(key) + " of cache '" + name
              + "' cannot be encoded by " + valueCodec + ": " + e, e);
    }
    if (bytes.length > config.maxValueBytes()) {
      loadFailures.increment();
      throw new CacheLoadException(
          "value loaded for key " + describe(key) + " of cache '" + name + "' is " + bytes.length
              + " bytes encoded, over maxValueBytes " + config.maxValueBytes()
              + "; raise the limit or cache a smaller value (nothing was cached)", null);
    }
    loadSuccesses.increment();
    return new LoadedValue<>(value, bytes);
  }

  /**
   * Asks the key's other holders, and its holders under the previous ring, for their copies; keeps
   * the newest, repairs the holders that had an older one, and returns its value (null if none has
   * a value, or the newest copy is a tombstone).
   */
  private @Nullable V copyFromOtherHolders(K key, byte[] keyBytes, long hash) {
    Cluster cluster = clusters.get();
    Set<String> current = new LinkedHashSet<>(cluster.ring().ownersOf(hash, replicationFactor));
    Set<String> candidates = new LinkedHashSet<>(current);
    HashRing previous = cluster.previousRing();
    if (previous != cluster.ring()) {
      candidates.addAll(previous.ownersOf(hash, replicationFactor));
    }
    candidates.removeIf(cluster::isSelf);
    if (candidates.isEmpty()) {
      return null;
    }
    FetchRequest request = FetchRequest.newBuilder()
        .setCache(name)
        .addKeys(ByteString.copyFrom(keyBytes))
        .setCaller(cluster.self())
        .build();
    Map<String, ListenableFuture<FetchResponse>> calls = new LinkedHashMap<>();
    Duration timeout = FETCH_TIMEOUT.compareTo(config.remoteTimeout()) < 0 ? FETCH_TIMEOUT : config.remoteTimeout();
    for (String candidate : candidates) {
      PeerClient peer = cluster.client(candidate);
      if (peer != null && peer.tryAcquire()) {
        remoteCalls.increment();
        calls.put(candidate, peer.futureStub(timeout).fetch(request));
      }
    }
    Versioned<V> newest = null;
    Map<String, @Nullable Version> seen = new HashMap<>();
    for (Map.Entry<String, ListenableFuture<FetchResponse>> call : calls.entrySet()) {
      PeerClient peer = cluster.client(call.getKey());
      try {
        FetchResponse response = call.getValue().get(timeout.toNanos() * 2, TimeUnit.NANOSECONDS);
        if (peer != null) {
          peer.onAnswer();
        }
        Version version = null;
        for (VersionedEntry entry : response.getEntriesList()) {
          Versioned<V> copy = fromWire(cluster, entry, call.getKey());
          version = copy.version();
          newest = newest == null ? copy : Versioned.merge(newest, copy);
        }
        seen.put(call.getKey(), version);
      } catch (ExecutionException e) {
        remoteFailures.increment();
        Status status = Status.fromThrowable(e.getCause());
        if (peer != null && RemoteErrors.isUnreachable(status)) {
          peer.onUnreachable(status);
        }
      } catch (TimeoutException e) {
        remoteFailures.increment();
        call.getValue().cancel(true);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ShardcacheException("interrupted while reading copies of a key", e);
      } catch (RuntimeException e) {
        logger.log(Level.FINE, "Ignoring an unreadable copy from " + call.getKey(), e);
      }
    }
    if (newest == null || !isLive(newest)) {
      return null;
    }
    fetchedCopies.increment();
    mergeHere(key, newest);
    // Read repair: holders under the current ring that answered with an older copy, or none.
    byte[] valueBytes = valueCodec.encode(requireNonNull(newest.value()));
    VersionedEntry wire = toWire(ByteString.copyFrom(keyBytes), valueBytes, newest.version());
    for (String holder : current) {
      if (!cluster.isSelf(holder) && seen.containsKey(holder)) {
        Version theirs = seen.get(holder);
        if (theirs == null || newest.version().isNewerThan(theirs)) {
          repairs.increment();
          cluster.replicator().enqueue(holder, name, wire);
        }
      }
    }
    return newest.value();
  }

  /**
   * Asks the key's holders in ring order, skipping those marked down, sharing one call among this
   * node's concurrent readers of the key. If this node is a holder and every holder before it is
   * unreachable, it loads as the owner; if no holder can be reached, it loads without keeping.
   */
  private CompletableFuture<@Nullable V> readFromHolders(K key, byte[] keyBytes, long hash,
      List<String> holders) {
    V near = nearCacheHit(key);
    if (near != null) {
      return CompletableFuture.completedFuture(near);
    }
    CompletableFuture<@Nullable V> read = new CompletableFuture<>();
    CompletableFuture<@Nullable V> running = remoteReads.putIfAbsent(key, read);
    if (running != null) {
      return running;
    }
    read.whenComplete((value, failure) -> remoteReads.remove(key, read));
    tryHolder(read, key, keyBytes, hash, holders, 0);
    return read;
  }

  private void tryHolder(CompletableFuture<@Nullable V> read, K key, byte[] keyBytes, long hash,
      List<String> holders, int index) {
    Cluster cluster;
    try {
      cluster = clusters.get();
    } catch (IllegalStateException closed) {
      read.completeExceptionally(closed);
      return;
    }
    for (int i = index; i < holders.size(); i++) {
      String holder = holders.get(i);
      if (cluster.isSelf(holder)) {
        loadInBackground(read, () -> {
          misses.increment();
          return loader == null ? null : loadOnce(key, keyBytes, hash, true, loader);
        });
        return;
      }
      PeerClient peer = cluster.client(holder);
      if (peer == null || !peer.tryAcquire()) {
        continue;
      }
      int next = i + 1;
      remoteCalls.increment();
      Futures.addCallback(
          peer.futureStub(config.remoteTimeout()).get(getRequest(cluster, keyBytes, loader != null)),
          new FutureCallback<GetResponse>() {
            @Override
            public void onSuccess(GetResponse response) {
              peer.onAnswer();
              if (!response.getFound()) {
                read.complete(null);
                return;
              }
              try {
                V value = decodeValue(response.getValue(), holder);
                keepNear(key, value);
                read.complete(value);
              } catch (RuntimeException e) {
                read.completeExceptionally(e);
              }
            }

            @Override
            public void onFailure(Throwable t) {
              remoteFailures.increment();
              Status status = Status.fromThrowable(t);
              if (peer.recordFailure(status)) {
                tryHolder(read, key, keyBytes, hash, holders, next);
              } else {
                read.completeExceptionally(RemoteErrors.fromStatus(status, holder, name));
              }
            }
          },
          MoreExecutors.directExecutor());
      return;
    }
    // No holder could be reached: load here, without keeping the value.
    if (loader == null) {
      read.complete(null);
      return;
    }
    fallbackLoads.increment();
    CacheLoader<K, V> own = loader;
    loadInBackground(read, () -> {
      V value = loadOnce(key, keyBytes, hash, false, own);
      keepNear(key, value);
      return value;
    });
  }

  /** Completes {@code read} with {@code load}, run on the node's executor: loads block. */
  private void loadInBackground(CompletableFuture<@Nullable V> read, Supplier<@Nullable V> load) {
    try {
      executor.execute(() -> {
        try {
          read.complete(load.get());
        } catch (Throwable t) {
          read.completeExceptionally(t);
        }
      });
    } catch (RuntimeException rejected) {
      read.completeExceptionally(new IllegalStateException("the node is closing", rejected));
    }
  }

  private CompletableFuture<Map<K, V>> readBatchFromOwner(
      Cluster cluster, String owner, List<Map.Entry<ByteString, K>> chunk) {
    CompletableFuture<Map<K, V>> batch = new CompletableFuture<>();
    PeerClient peer = cluster.client(owner);
    if (peer == null || !peer.tryAcquire()) {
      completeBatchOneByOne(batch, chunk);
      return batch;
    }
    GetAllRequest.Builder request =
        GetAllRequest.newBuilder().setCache(name).setLoad(loader != null).setCaller(cluster.self());
    Map<ByteString, K> keysByBytes = new HashMap<>();
    for (Map.Entry<ByteString, K> entry : chunk) {
      request.addKeys(entry.getKey());
      keysByBytes.put(entry.getKey(), entry.getValue());
    }
    remoteCalls.increment();
    Futures.addCallback(
        peer.futureStub(config.remoteTimeout()).getAll(request.build()),
        new FutureCallback<GetAllResponse>() {
          @Override
          public void onSuccess(GetAllResponse response) {
            peer.onAnswer();
            try {
              Map<K, V> values = new HashMap<>();
              for (Entry entry : response.getEntriesList()) {
                K key = keysByBytes.get(entry.getKey());
                if (key == null) {
                  throw new ShardcacheException(
                      "peer " + owner + " answered a getAll of cache '" + name
                          + "' with a key that was not asked for; is it running a compatible version?");
                }
                V value = decodeValue(entry.getValue(), owner);
                values.put(key, value);
                keepNear(key, value);
              }
              batch.complete(values);
            } catch (RuntimeException e) {
              batch.completeExceptionally(e);
            }
          }

          @Override
          public void onFailure(Throwable t) {
            remoteFailures.increment();
            Status status = Status.fromThrowable(t);
            if (peer.recordFailure(status)) {
              completeBatchOneByOne(batch, chunk);
            } else {
              batch.completeExceptionally(RemoteErrors.fromStatus(status, owner, name));
            }
          }
        },
        MoreExecutors.directExecutor());
    return batch;
  }

  /** Reads a batch key by key (each falling over to the next holder), off the gRPC threads. */
  private void completeBatchOneByOne(
      CompletableFuture<Map<K, V>> batch, List<Map.Entry<ByteString, K>> chunk) {
    try {
      executor.execute(() -> {
        try {
          Map<K, V> values = new HashMap<>();
          for (Map.Entry<ByteString, K> entry : chunk) {
            V value = get(entry.getValue());
            if (value != null) {
              values.put(entry.getValue(), value);
            }
          }
          batch.complete(values);
        } catch (Throwable t) {
          batch.completeExceptionally(t);
        }
      });
    } catch (RuntimeException rejected) {
      batch.completeExceptionally(new IllegalStateException("the node is closing", rejected));
    }
  }

  /** Keeps a value of a key held elsewhere in the near cache, if there is one. */
  private void keepNear(K key, V value) {
    if (nearCache != null) {
      nearCache.put(key, value);
    }
  }

  private @Nullable V nearCacheHit(K key) {
    if (nearCache == null) {
      return null;
    }
    V value = nearCache.getIfPresent(key);
    if (value != null) {
      nearHits.increment();
    }
    return value;
  }

  // ---------------------------------------------------------------- writes

  @Override
  public void put(K key, V value) {
    requireNonNull(key, "key");
    requireNonNull(value, "value");
    write(key, value, "put");
  }

  @Override
  public void invalidate(K key) {
    requireNonNull(key, "key");
    write(key, null, "invalidate");
  }

  /** Applies a write on this node if it holds the key, else on the first reachable holder. */
  private void write(K key, @Nullable V value, String operation) {
    Cluster cluster = clusters.get();
    byte[] keyBytes = encodeKey(key);
    byte[] valueBytes = value == null ? null : encodeValue(value);
    long hash = KeyHash.hash(keyBytes);
    if (nearCache != null) {
      nearCache.invalidate(key);
    }
    if (holdsHere(cluster, hash)) {
      applyWrite(cluster, key, keyBytes, hash, value, valueBytes);
      return;
    }
    ShardcacheException last = null;
    for (String holder : cluster.ring().ownersOf(hash, replicationFactor)) {
      PeerClient peer = cluster.client(holder);
      if (peer == null || !peer.tryAcquire()) {
        continue;
      }
      remoteCalls.increment();
      try {
        if (valueBytes != null) {
          PutResponse unused = peer.blockingStub(config.remoteTimeout()).put(PutRequest.newBuilder()
              .setCache(name)
              .setKey(ByteString.copyFrom(keyBytes))
              .setValue(ByteString.copyFrom(valueBytes))
              .setCaller(cluster.self())
              .build());
        } else {
          InvalidateResponse unused = peer.blockingStub(config.remoteTimeout()).invalidate(
              InvalidateRequest.newBuilder()
                  .setCache(name)
                  .setKey(ByteString.copyFrom(keyBytes))
                  .setCaller(cluster.self())
                  .build());
        }
        peer.onAnswer();
        return;
      } catch (StatusRuntimeException e) {
        last = writeFailed(peer, e, operation);
        if (!(last instanceof PeerUnavailableException)) {
          throw last;
        }
      }
    }
    List<String> holders = cluster.ring().ownersOf(hash, replicationFactor);
    throw new PeerUnavailableException(holders.get(0),
        operation + " of cache '" + name + "' not applied: no holder of the key could be reached "
            + holders + "; retry later", last);
  }

  /**
   * Versions a write with this node's clock, stores it if this node holds the key, and queues it
   * for the key's other holders and the near-cache invalidation for every member.
   */
  private void applyWrite(Cluster cluster, K key, byte[] keyBytes, long hash, @Nullable V value,
      byte @Nullable [] valueBytes) {
    Version version = new Version(cluster.clock().now(), cluster.writerId());
    Versioned<V> entry = value == null ? Versioned.tombstone(version) : Versioned.of(value, version);
    if (holdsHere(cluster, hash)) {
      mergeHere(key, entry);
    }
    if (nearCache != null) {
      nearCache.invalidate(key);
    }
    replicateBeforeAck(cluster, keyBytes, hash, entry, valueBytes);
  }

  /** Merges a copy into the shard under the key's lock; the higher version wins. */
  private Versioned<V> mergeHere(K key, Versioned<V> incoming) {
    return requireNonNull(shard.asMap().merge(key, incoming, Versioned::merge));
  }

  /**
   * Sends a write to the key's other holders and waits (up to the remote timeout) until each has
   * acknowledged it or proved unreachable, before the write is acknowledged to its caller. So an
   * acknowledged write is on every reachable holder: losing the node that applied it, even a
   * millisecond later, loses nothing. Holders that could not be reached get it through their hint
   * queue; a write acknowledged while no other holder was reachable lives on one node until they
   * return. Loads are not written this way: a lost load is only a reload.
   */
  private void replicateBeforeAck(Cluster cluster, byte[] keyBytes, long hash, Versioned<V> entry,
      byte @Nullable [] valueBytes) {
    ByteString key = ByteString.copyFrom(keyBytes);
    List<String> holders = cluster.ring().ownersOf(hash, replicationFactor);
    VersionedEntry wire = toWire(key, valueBytes, entry.version());
    Map<String, ListenableFuture<?>> sends = new LinkedHashMap<>();
    for (String holder : holders) {
      if (cluster.isSelf(holder)) {
        continue;
      }
      PeerClient peer = cluster.client(holder);
      if (peer == null || !peer.tryAcquire()) {
        cluster.replicator().enqueue(holder, name, wire);
        continue;
      }
      sends.put(holder, peer.futureStub(config.remoteTimeout()).replicate(ReplicateRequest.newBuilder()
          .setCaller(cluster.self())
          .addBatches(CacheBatch.newBuilder().setCache(name).addEntries(wire))
          .build()));
    }
    for (Map.Entry<String, ListenableFuture<?>> send : sends.entrySet()) {
      PeerClient peer = cluster.client(send.getKey());
      try {
        send.getValue().get();
        if (peer != null) {
          peer.onAnswer();
        }
      } catch (ExecutionException e) {
        Status status = Status.fromThrowable(e.getCause());
        if (peer != null) {
          if (RemoteErrors.isUnreachable(status)) {
            peer.onUnreachable(status);
          } else {
            peer.onAnswer();
          }
        }
        cluster.replicator().enqueue(send.getKey(), name, wire); // delivered when it answers again
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        cluster.replicator().enqueue(send.getKey(), name, wire);
      }
    }
    if (nearCache != null) {
      for (String member : cluster.peers()) {
        cluster.replicator().enqueueNearInvalidation(member, name, key);
      }
    }
  }

  /** Queues {@code entry} for the key's holders other than this node. */
  private void replicate(Cluster cluster, byte[] keyBytes, long hash, Versioned<V> entry,
      byte @Nullable [] valueBytes, boolean invalidateNear) {
    ByteString key = ByteString.copyFrom(keyBytes);
    List<String> holders = cluster.ring().ownersOf(hash, replicationFactor);
    if (holders.size() > 1 || !cluster.isSelf(holders.get(0))) {
      VersionedEntry wire = toWire(key, valueBytes, entry.version());
      for (String holder : holders) {
        if (!cluster.isSelf(holder)) {
          cluster.replicator().enqueue(holder, name, wire);
        }
      }
    }
    if (invalidateNear && nearCache != null) {
      for (String member : cluster.peers()) {
        cluster.replicator().enqueueNearInvalidation(member, name, key);
      }
    }
  }

  private ShardcacheException writeFailed(PeerClient peer, StatusRuntimeException e, String operation) {
    remoteFailures.increment();
    Status status = e.getStatus();
    if (peer.recordFailure(status)) {
      return new PeerUnavailableException(peer.address(),
          operation + " of cache '" + name + "' not applied: holder " + peer.address()
              + " could not be reached (" + status.getCode() + ": " + status.getDescription()
              + "); retry", e);
    }
    return RemoteErrors.fromStatus(status, peer.address(), name);
  }

  @Override
  public boolean compareAndSet(K key, @Nullable V expected, @Nullable V update) {
    requireNonNull(key, "key");
    Cluster cluster = clusters.get();
    byte[] keyBytes = encodeKey(key);
    byte[] expectedBytes = expected == null ? null : encodeValue(expected);
    byte[] updateBytes = update == null ? null : encodeValue(update);
    long hash = KeyHash.hash(keyBytes);
    if (nearCache != null) {
      nearCache.invalidate(key);
    }
    // Atomic on one node: the first reachable holder decides.
    String decider = firstReachableHolder(cluster, hash);
    if (decider == null) {
      List<String> holders = cluster.ring().ownersOf(hash, replicationFactor);
      throw new PeerUnavailableException(holders.get(0), "compareAndSet of cache '" + name
          + "' not applied: no holder of the key could be reached " + holders + "; retry later", null);
    }
    if (cluster.isSelf(decider)) {
      return compareAndSetHere(cluster, key, keyBytes, hash, expectedBytes, update, updateBytes);
    }
    PeerClient peer = requireNonNull(cluster.client(decider));
    CompareAndSetRequest.Builder request = CompareAndSetRequest.newBuilder()
        .setCache(name)
        .setKey(ByteString.copyFrom(keyBytes))
        .setCaller(cluster.self());
    if (expectedBytes != null) {
      request.setExpected(ByteString.copyFrom(expectedBytes));
    }
    if (updateBytes != null) {
      request.setUpdate(ByteString.copyFrom(updateBytes));
    }
    remoteCalls.increment();
    try {
      boolean applied =
          peer.blockingStub(config.remoteTimeout()).compareAndSet(request.build()).getApplied();
      peer.onAnswer();
      return applied;
    } catch (StatusRuntimeException e) {
      throw writeFailed(peer, e, "compareAndSet");
    }
  }

  private boolean compareAndSetHere(Cluster cluster, K key, byte[] keyBytes, long hash,
      byte @Nullable [] expectedBytes, @Nullable V update, byte @Nullable [] updateBytes) {
    Versioned<V>[] applied = newVersionedArray();
    shard.asMap().compute(key, (k, current) -> {
      V currentValue = current == null ? null : current.value();
      boolean matches = expectedBytes == null
          ? currentValue == null
          : currentValue != null && Arrays.equals(valueCodec.encode(currentValue), expectedBytes);
      if (!matches) {
        return current;
      }
      Version version = new Version(cluster.clock().now(), cluster.writerId());
      applied[0] = update == null ? Versioned.tombstone(version) : Versioned.of(update, version);
      return current == null ? applied[0] : Versioned.merge(current, applied[0]);
    });
    if (applied[0] == null) {
      return false;
    }
    replicateBeforeAck(cluster, keyBytes, hash, applied[0], updateBytes);
    return true;
  }

  @SuppressWarnings("unchecked")
  private Versioned<V>[] newVersionedArray() {
    return (Versioned<V>[]) new Versioned<?>[1];
  }

  @Override
  public void invalidateAll() {
    Cluster cluster = clusters.get();
    if (nearCache != null) {
      nearCache.invalidateAll();
    }
    InvalidateAllRequest request =
        InvalidateAllRequest.newBuilder().setCache(name).setCaller(cluster.self()).build();
    Map<String, ListenableFuture<InvalidateAllResponse>> calls = new LinkedHashMap<>();
    List<String> unreachable = new ArrayList<>();
    for (String member : cluster.ring().nodes()) {
      if (cluster.isSelf(member)) {
        continue;
      }
      PeerClient peer = cluster.client(member);
      if (peer == null || !peer.tryAcquire()) {
        unreachable.add(member);
        continue;
      }
      remoteCalls.increment();
      calls.put(member, peer.futureStub(config.remoteTimeout()).invalidateAll(request));
    }
    serveInvalidateAll();
    ShardcacheException failure = null;
    for (Map.Entry<String, ListenableFuture<InvalidateAllResponse>> call : calls.entrySet()) {
      PeerClient peer = cluster.client(call.getKey());
      try {
        call.getValue().get();
        if (peer != null) {
          peer.onAnswer();
        }
      } catch (ExecutionException e) {
        remoteFailures.increment();
        Status status = Status.fromThrowable(e.getCause());
        if (RemoteErrors.isUnreachable(status)) {
          if (peer != null) {
            peer.onUnreachable(status);
          }
          unreachable.add(call.getKey());
        } else if (failure == null) {
          failure = RemoteErrors.fromStatus(status, call.getKey(), name);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ShardcacheException("interrupted while clearing cache '" + name + "'", e);
      }
    }
    if (!unreachable.isEmpty()) {
      throw new PeerUnavailableException(unreachable.get(0),
          "invalidateAll of cache '" + name + "' did not reach " + unreachable
              + "; the other members were cleared; retry once they are back", null);
    }
    if (failure != null) {
      throw failure;
    }
  }

  // ---------------------------------------------------------------- serving peers

  GetResponse serveGet(GetRequest request) {
    peerRequests.increment();
    K key = decodeKey(request.getKey());
    V value = serveRead(key, request.getKey(), request.getLoad());
    if (value == null) {
      return GetResponse.newBuilder().setFound(false).build();
    }
    return GetResponse.newBuilder()
        .setFound(true)
        .setValue(ByteString.copyFrom(valueCodec.encode(value)))
        .build();
  }

  /** Answers a peer's read here, never forwarding it: see "Requests from peers" above. */
  private @Nullable V serveRead(K key, ByteString keyBytes, boolean load) {
    V value = lookup(key);
    if (value != null || !load || loader == null) {
      return value;
    }
    byte[] bytes = keyBytes.toByteArray();
    long hash = KeyHash.hash(bytes);
    boolean holds;
    try {
      holds = holdsHere(clusters.get(), hash);
    } catch (IllegalStateException closing) {
      holds = false;
    }
    return loadOnce(key, bytes, hash, holds, loader);
  }

  GetAllResponse serveGetAll(GetAllRequest request) {
    peerRequests.increment();
    if (request.getKeysCount() > CacheConfig.MAX_KEYS_PER_BATCH) {
      throw new IllegalArgumentException("getAll of cache '" + name + "' asked for "
          + request.getKeysCount() + " keys, over the batch limit of "
          + CacheConfig.MAX_KEYS_PER_BATCH + "; split the batch");
    }
    GetAllResponse.Builder response = GetAllResponse.newBuilder();
    for (ByteString keyBytes : request.getKeysList()) {
      K key = decodeKey(keyBytes);
      V value = serveRead(key, keyBytes, request.getLoad());
      if (value != null) {
        response.addEntries(
            Entry.newBuilder().setKey(keyBytes).setValue(ByteString.copyFrom(valueCodec.encode(value))));
      }
    }
    return response.build();
  }

  PutResponse servePut(PutRequest request) {
    peerRequests.increment();
    K key = decodeKey(request.getKey());
    checkValueSize(request.getValue());
    V value = decode(valueCodec, request.getValue(), "value");
    byte[] keyBytes = request.getKey().toByteArray();
    applyWrite(clusters.get(), key, keyBytes, KeyHash.hash(keyBytes), value,
        request.getValue().toByteArray());
    return PutResponse.getDefaultInstance();
  }

  InvalidateResponse serveInvalidate(InvalidateRequest request) {
    peerRequests.increment();
    K key = decodeKey(request.getKey());
    byte[] keyBytes = request.getKey().toByteArray();
    applyWrite(clusters.get(), key, keyBytes, KeyHash.hash(keyBytes), null, null);
    return InvalidateResponse.getDefaultInstance();
  }

  CompareAndSetResponse serveCompareAndSet(CompareAndSetRequest request) {
    peerRequests.increment();
    K key = decodeKey(request.getKey());
    V update = null;
    byte[] updateBytes = null;
    if (request.hasUpdate()) {
      checkValueSize(request.getUpdate());
      update = decode(valueCodec, request.getUpdate(), "value");
      updateBytes = request.getUpdate().toByteArray();
    }
    byte[] expected = request.hasExpected() ? request.getExpected().toByteArray() : null;
    byte[] keyBytes = request.getKey().toByteArray();
    return CompareAndSetResponse.newBuilder()
        .setApplied(compareAndSetHere(clusters.get(), key, keyBytes, KeyHash.hash(keyBytes),
            expected, update, updateBytes))
        .build();
  }

  InvalidateAllResponse serveInvalidateAll() {
    // Clear the flights first: a load still running then finds its flight gone.
    loads.clear();
    shard.invalidateAll();
    return InvalidateAllResponse.getDefaultInstance();
  }

  /** Merges replicated copies and drops near-cache entries; never forwards anything. */
  void serveReplicate(CacheBatch batch, String caller) {
    peerRequests.increment();
    Cluster cluster = clusters.get();
    for (VersionedEntry entry : batch.getEntriesList()) {
      K key = decodeKey(entry.getKey());
      mergeHere(key, fromWire(cluster, entry, caller));
      if (nearCache != null) {
        nearCache.invalidate(key);
      }
    }
    if (nearCache != null) {
      for (ByteString key : batch.getNearInvalidationsList()) {
        nearCache.invalidate(decodeKey(key));
      }
    }
  }

  FetchResponse serveFetch(FetchRequest request) {
    peerRequests.increment();
    if (request.getKeysCount() > CacheConfig.MAX_KEYS_PER_BATCH) {
      throw new IllegalArgumentException("fetch of cache '" + name + "' asked for "
          + request.getKeysCount() + " keys, over the batch limit of "
          + CacheConfig.MAX_KEYS_PER_BATCH + "; split the batch");
    }
    FetchResponse.Builder response = FetchResponse.newBuilder();
    for (ByteString keyBytes : request.getKeysList()) {
      Versioned<V> entry = shard.policy().getIfPresentQuietly(decodeKey(keyBytes));
      if (entry != null) {
        response.addEntries(toWire(keyBytes, entry));
      }
    }
    return response.build();
  }

  // ---------------------------------------------------------------- rebalancing and anti-entropy

  /**
   * After a ring change, or periodically with {@code previous == current}: copies each entry to the
   * members that became its holders, and hands off and drops the entries this node no longer holds.
   * Copies are sent in batches, one call at a time per peer (so a large shard streams rather than
   * floods); an entry is dropped only after every holder it was sent to acknowledged it.
   */
  void rebalance(HashRing previous, HashRing current) {
    Cluster cluster;
    try {
      cluster = clusters.get();
    } catch (IllegalStateException closed) {
      return;
    }
    Map<String, List<VersionedEntry>> outgoing = new HashMap<>();
    Map<K, Versioned<V>> toDrop = new HashMap<>();
    Map<K, List<String>> dropAfter = new HashMap<>();
    for (Map.Entry<K, Versioned<V>> held : shard.asMap().entrySet()) {
      byte[] keyBytes;
      try {
        keyBytes = keyCodec.encode(held.getKey());
      } catch (RuntimeException e) {
        continue;
      }
      long hash = KeyHash.hash(keyBytes);
      List<String> now = current.ownersOf(hash, replicationFactor);
      boolean stillHeld = now.contains(cluster.self());
      List<String> before = previous == current ? now : previous.ownersOf(hash, replicationFactor);
      VersionedEntry wire = null;
      for (String holder : now) {
        if (cluster.isSelf(holder) || (stillHeld && before.contains(holder))) {
          continue;
        }
        if (wire == null) {
          wire = toWire(ByteString.copyFrom(keyBytes), held.getValue());
        }
        outgoing.computeIfAbsent(holder, h -> new ArrayList<>()).add(wire);
      }
      if (!stillHeld) {
        toDrop.put(held.getKey(), held.getValue());
        dropAfter.put(held.getKey(), now);
      }
    }
    Set<String> delivered = new LinkedHashSet<>();
    outgoing.forEach((holder, entries) -> {
      if (stream(cluster, holder, entries)) {
        delivered.add(holder);
        handedOff.add(entries.size());
      }
    });
    toDrop.forEach((key, entry) -> {
      List<String> holders = dropAfter.get(key);
      boolean handedOver = true;
      for (String holder : holders) {
        if (!cluster.isSelf(holder) && !delivered.contains(holder)) {
          handedOver = false;
        }
      }
      if (handedOver) {
        shard.asMap().remove(key, entry); // only if no newer write arrived meanwhile
      }
    });
  }

  /** Sends entries to one peer in batches; returns whether all were acknowledged. */
  private boolean stream(Cluster cluster, String holder, List<VersionedEntry> entries) {
    PeerClient peer = cluster.client(holder);
    if (peer == null) {
      return false;
    }
    for (int from = 0; from < entries.size(); from += Replicator.MAX_BATCH) {
      if (!peer.tryAcquire()) {
        return false;
      }
      List<VersionedEntry> chunk = entries.subList(from, Math.min(entries.size(), from + Replicator.MAX_BATCH));
      try {
        peer.blockingStub(config.remoteTimeout()).replicate(ReplicateRequest.newBuilder()
            .setCaller(cluster.self())
            .addBatches(CacheBatch.newBuilder().setCache(name).addAllEntries(chunk))
            .build());
        peer.onAnswer();
      } catch (StatusRuntimeException e) {
        peer.recordFailure(e.getStatus());
        return false;
      }
    }
    return true;
  }

  /**
   * One anti-entropy round with {@code peer}: compares digests of the keys both should hold, then
   * merges the peer's entries of the differing buckets and sends it ours. The bytes exchanged are
   * a fixed-size digest plus the entries of the differing buckets: proportional to the difference,
   * not to the shard.
   */
  void antiEntropyWith(String peerAddress) {
    if (replicationFactor < 2) {
      return;
    }
    Cluster cluster = clusters.get();
    PeerClient peer = cluster.client(peerAddress);
    if (peer == null || !peer.tryAcquire()) {
      return;
    }
    HashRing ring = cluster.ring();
    BucketDigest digest = new BucketDigest(BucketDigest.DEFAULT_BUCKETS);
    Map<Integer, List<VersionedEntry>> ours = new HashMap<>();
    forEachShared(cluster, ring, peerAddress, (keyBytes, hash, entry) -> {
      digest.add(hash, entry.version());
      ours.computeIfAbsent(digest.bucketOf(hash), b -> new ArrayList<>()).add(toWire(ByteString.copyFrom(keyBytes), entry));
    });
    DigestRequest.Builder request = DigestRequest.newBuilder().setCache(name).setCaller(cluster.self());
    for (long bucket : digest.buckets()) {
      request.addBuckets(bucket);
    }
    DigestRequest built = request.build();
    antiEntropyBytes.add(built.getSerializedSize());
    DigestResponse response;
    try {
      response = peer.blockingStub(config.remoteTimeout()).digest(built);
      peer.onAnswer();
    } catch (StatusRuntimeException e) {
      peer.recordFailure(e.getStatus());
      return;
    }
    antiEntropyBytes.add(response.getSerializedSize());
    for (VersionedEntry entry : response.getEntriesList()) {
      mergeHere(decodeKey(entry.getKey()), fromWire(cluster, entry, peerAddress));
    }
    List<VersionedEntry> toSend = new ArrayList<>();
    for (int bucket : response.getDifferingList()) {
      toSend.addAll(ours.getOrDefault(bucket, List.of()));
    }
    if (!toSend.isEmpty()) {
      for (VersionedEntry entry : toSend) {
        antiEntropyBytes.add(entry.getSerializedSize());
      }
      stream(cluster, peerAddress, toSend);
    }
  }

  DigestResponse serveDigest(DigestRequest request) {
    peerRequests.increment();
    int buckets = request.getBucketsCount();
    if (buckets == 0 || Integer.bitCount(buckets) != 1 || buckets > BucketDigest.MAX_BUCKETS) {
      throw new IllegalArgumentException("a digest needs a power-of-two number of buckets up to "
          + BucketDigest.MAX_BUCKETS + ", got " + buckets);
    }
    Cluster cluster = clusters.get();
    BucketDigest digest = new BucketDigest(buckets);
    Map<Integer, List<VersionedEntry>> mine = new HashMap<>();
    forEachShared(cluster, cluster.ring(), request.getCaller(), (keyBytes, hash, entry) -> {
      digest.add(hash, entry.version());
      mine.computeIfAbsent(digest.bucketOf(hash), b -> new ArrayList<>())
          .add(toWire(ByteString.copyFrom(keyBytes), entry));
    });
    long[] theirs = new long[buckets];
    for (int i = 0; i < buckets; i++) {
      theirs[i] = request.getBuckets(i);
    }
    BitSet differing = BucketDigest.differing(digest.buckets(), theirs);
    DigestResponse.Builder response = DigestResponse.newBuilder();
    for (int bucket = differing.nextSetBit(0); bucket >= 0; bucket = differing.nextSetBit(bucket + 1)) {
      response.addDiffering(bucket);
      response.addAllEntries(mine.getOrDefault(bucket, List.of()));
    }
    return response.build();
  }

  private interface SharedEntryVisitor<V> {
    void visit(byte[] keyBytes, long hash, Versioned<V> entry);
  }

  /** Visits the entries whose holders, under {@code ring}, include both this node and {@code peer}. */
  private void forEachShared(Cluster cluster, HashRing ring, String peer, SharedEntryVisitor<V> visitor) {
    for (Map.Entry<K, Versioned<V>> held : shard.asMap().entrySet()) {
      byte[] keyBytes;
      try {
        keyBytes = keyCodec.encode(held.getKey());
      } catch (RuntimeException e) {
        continue;
      }
      long hash = KeyHash.hash(keyBytes);
      List<String> holders = ring.ownersOf(hash, replicationFactor);
      if (holders.contains(peer) && holders.contains(cluster.self())) {
        visitor.visit(keyBytes, hash, held.getValue());
      }
    }
  }

  // ---------------------------------------------------------------- wire form of entries

  private VersionedEntry toWire(ByteString key, Versioned<V> entry) {
    V value = entry.value();
    return toWire(key, value == null ? null : valueCodec.encode(value), entry.version());
  }

  private static VersionedEntry toWire(ByteString key, byte @Nullable [] valueBytes, Version version) {
    VersionedEntry.Builder wire = VersionedEntry.newBuilder()
        .setKey(key)
        .setTimestamp(version.timestamp())
        .setWriter(version.writer());
    if (valueBytes != null) {
      wire.setValue(ByteString.copyFrom(valueBytes));
    }
    return wire.build();
  }

  private Versioned<V> fromWire(Cluster cluster, VersionedEntry entry, String from) {
    if (entry.getTimestamp() < 0) {
      throw new IllegalArgumentException("entry from " + from + " has a negative timestamp");
    }
    cluster.clock().observe(entry.getTimestamp());
    Version version = new Version(entry.getTimestamp(), entry.getWriter());
    if (!entry.hasValue()) {
      return Versioned.tombstone(version);
    }
    checkValueSize(entry.getValue());
    return Versioned.of(decodeValue(entry.getValue(), from), version);
  }

  // ---------------------------------------------------------------- codecs and limits

  private byte[] encodeKey(K key) {
    byte[] bytes;
    try {
      bytes = keyCodec.encode(key);
    } catch (CodecException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new CodecException("key codec " + keyCodec + " of cache '" + name + "' failed: " + e, e);
    }
    if (bytes.length > config.maxKeyBytes()) {
      throw new IllegalArgumentException("key of cache '" + name + "' is " + bytes.length
          + " bytes encoded, over maxKeyBytes " + config.maxKeyBytes()
          + "; use a shorter key (such as a hash of it) or raise the limit on every node");
    }
    return bytes;
  }

  private byte[] encodeValue(V value) {
    byte[] bytes;
    try {
      bytes = valueCodec.encode(value);
    } catch (CodecException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new CodecException("value codec " + valueCodec + " of cache '" + name + "' failed: " + e, e);
    }
    if (bytes.length > config.maxValueBytes()) {
      throw new IllegalArgumentException("value of cache '" + name + "' is " + bytes.length
          + " bytes encoded, over maxValueBytes " + config.maxValueBytes()
          + "; cache a smaller value or raise the limit on every node");
    }
    return bytes;
  }

  private void checkValueSize(ByteString value) {
    if (value.size() > config.maxValueBytes()) {
      throw new IllegalArgumentException("value for cache '" + name + "' is " + value.size()
          + " bytes, over this node's maxValueBytes " + config.maxValueBytes()
          + "; configure the same limits on every member");
    }
  }

  private K decodeKey(ByteString keyBytes) {
    if (keyBytes.size() > config.maxKeyBytes()) {
      throw new IllegalArgumentException("key for cache '" + name + "' is " + keyBytes.size()
          + " bytes, over this node's maxKeyBytes " + config.maxKeyBytes()
          + "; configure the same limits on every member");
    }
    return decode(keyCodec, keyBytes, "key");
  }

  private V decodeValue(ByteString bytes, String peer) {
    try {
      return decode(valueCodec, bytes, "value");
    } catch (CodecException e) {
      throw new CodecException("value from peer " + peer + " cannot be decoded: " + e.getMessage()
          + "; do all nodes use the same value codec for cache '" + name + "'?", e);
    }
  }

  private <T> T decode(Codec<T> codec, ByteString bytes, String what) {
    T decoded;
    try {
      decoded = codec.decode(bytes.toByteArray());
    } catch (CodecException e) {
      throw new CodecException(what + " for cache '" + name + "' is malformed: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      throw new CodecException(what + " for cache '" + name + "' is malformed: " + e, e);
    }
    if (decoded == null) {
      throw new CodecException(codec + " decoded a " + what + " of cache '" + name + "' to null");
    }
    return decoded;
  }

  private GetRequest getRequest(Cluster cluster, byte[] keyBytes, boolean load) {
    return GetRequest.newBuilder()
        .setCache(name)
        .setKey(ByteString.copyFrom(keyBytes))
        .setLoad(load)
        .setCaller(cluster.self())
        .build();
  }

  // ---------------------------------------------------------------- the rest

  @Override
  public String ownerOf(K key) {
    requireNonNull(key, "key");
    Cluster cluster = clusters.get();
    return cluster.ownerOf(encodeKey(key));
  }

  @Override
  public long localSize() {
    long values = 0;
    for (Versioned<V> entry : shard.asMap().values()) {
      if (isLive(entry)) {
        values++;
      }
    }
    return values;
  }

  @Override
  public CacheStats stats() {
    return new CacheStats(
        hits.sum(),
        misses.sum(),
        nearHits.sum(),
        loadSuccesses.sum(),
        loadFailures.sum(),
        loadTimeNanos.sum(),
        remoteCalls.sum(),
        remoteFailures.sum(),
        fallbackLoads.sum(),
        peerRequests.sum(),
        evictions.sum());
  }

  /** Copies taken from another holder instead of loading. */
  long fetchedCopyCount() {
    return fetchedCopies.sum();
  }

  /** Entries streamed to new holders by rebalancing passes, acknowledged. */
  long handedOffCount() {
    return handedOff.sum();
  }

  /** Holders repaired by reads. */
  long readRepairCount() {
    return repairs.sum();
  }

  /** Bytes of digests and entries this node sent and received in anti-entropy rounds it started. */
  long antiEntropyBytes() {
    return antiEntropyBytes.sum();
  }

  /** The versioned entry held for a key, for tests and diagnostics; tombstones included. */
  @Nullable Versioned<V> peek(K key) {
    return shard.policy().getIfPresentQuietly(key);
  }

  /** Empties the shard and the near cache; used when the node closes. */
  void clear() {
    shard.invalidateAll();
    if (nearCache != null) {
      nearCache.invalidateAll();
    }
  }

  private static String describe(Object key) {
    String text = String.valueOf(key);
    return text.length() <= 100 ? "'" + text + "'" : "'" + text.substring(0, 100) + "...'";
  }

  private static <T> T await(CompletableFuture<T> future) {
    try {
      return future.get();
    } catch (ExecutionException | CompletionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException re) {
        throw re;
      }
      if (cause instanceof Error error) {
        throw error;
      }
      throw new ShardcacheException("read failed: " + cause, cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ShardcacheException("interrupted while waiting for a read", e);
    }
  }

  @Override
  public String toString() {
    return "DistributedCache{" + name + "}";
  }
}
