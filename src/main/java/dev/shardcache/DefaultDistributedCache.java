package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CompareAndSetRequest;
import dev.shardcache.internal.proto.CompareAndSetResponse;
import dev.shardcache.internal.proto.Entry;
import dev.shardcache.internal.proto.GetAllRequest;
import dev.shardcache.internal.proto.GetAllResponse;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.InvalidateRequest;
import dev.shardcache.internal.proto.InvalidateAllRequest;
import dev.shardcache.internal.proto.InvalidateAllResponse;
import dev.shardcache.internal.proto.InvalidateResponse;
import dev.shardcache.internal.proto.PutRequest;
import dev.shardcache.internal.proto.PutResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.Arrays;
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
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * A named cache on one node: its Caffeine shard, the routing of each key to its owner, the
 * single-flight of loads, and the serving of peers' requests.
 *
 * <h2>Single-flight</h2>
 * {@code loads} maps a key to the future of the one load of it running on this node. The thread
 * that installs the future (the winner) loads; the others wait on it. Together with routing every
 * miss of a key to its owner, this makes one loader call per key for the whole cluster: concurrent
 * callers on one node share one remote call ({@code remoteReads}), and concurrent remote calls from
 * all nodes meet in the owner's {@code loads}.
 *
 * <p>The winner re-reads the shard before loading, because of this interleaving:
 * <ol>
 *   <li>A misses the shard;
 *   <li>B, which won the flight earlier, stores the value and removes its flight;
 *   <li>A finds no flight and wins a new one.
 * </ol>
 * Since B stores before removing its flight, A's second read (made after winning) sees B's value.
 *
 * <h2>Writes racing a load</h2>
 * A load stores its result only if its flight is still the registered one, checked inside the
 * shard's per-key {@code compute}. {@code put} and {@code invalidate} remove the flight inside
 * their own {@code compute} of the same key. The shard serializes the two, so either the load's
 * store comes first (and the write overwrites it), or the write comes first (and the load finds its
 * flight gone and does not store). A value loaded before an invalidation can therefore never be
 * stored after it. Readers already waiting on that load still receive its value.
 *
 * <h2>Requests from peers</h2>
 * A request that arrives from a peer is answered here, from the shard or by loading here, even if
 * this node's ring says another node owns the key. Forwarding it again could bounce it between two
 * nodes whose rings disagree, or make each wait on the other.
 */
final class DefaultDistributedCache<K, V> implements DistributedCache<K, V> {

  private final String name;
  private final CacheConfig<K, V> config;
  private final Supplier<Cluster> clusters;
  private final Executor executor;
  private final Codec<K> keyCodec;
  private final Codec<V> valueCodec;
  private final @Nullable CacheLoader<K, V> loader;
  private final Cache<K, V> shard;
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

  DefaultDistributedCache(
      String name,
      CacheConfig<K, V> config,
      Supplier<Cluster> clusters,
      Executor executor) {
    this.name = name;
    this.config = config;
    this.clusters = clusters;
    this.executor = executor;
    this.keyCodec = config.keyCodec();
    this.valueCodec = config.valueCodec();
    this.loader = config.loader().orElse(null);

    Caffeine<Object, Object> shardBuilder =
        Caffeine.newBuilder()
            .maximumSize(config.maximumSize())
            .evictionListener((k, v, cause) -> evictions.increment());
    config.expireAfterWrite().ifPresent(shardBuilder::expireAfterWrite);
    this.shard = shardBuilder.build();
    this.nearCache =
        config.nearCacheEnabled()
            ? Caffeine.newBuilder()
                .maximumSize(config.nearCacheMaximumSize())
                .expireAfterWrite(config.nearCacheTtl())
                .build()
            : null;
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
    // The shard holds only keys this node owns (entries of keys it lost are dropped after each
    // membership change), so a key found here needs no encoding, hashing or ring lookup.
    V local = shard.getIfPresent(key);
    if (local != null) {
      hits.increment();
      return local;
    }
    byte[] keyBytes = encodeKey(key);
    String owner = cluster.ownerOf(keyBytes);
    if (cluster.isSelf(owner)) {
      misses.increment();
      return loader == null ? null : loadOnce(key, /* store= */ true, loader);
    }
    return await(readFromOwner(key, keyBytes, owner));
  }

  /** Looks a key up in the shard, counting the hit or miss. */
  private @Nullable V lookup(K key) {
    V value = shard.getIfPresent(key);
    (value == null ? misses : hits).increment();
    return value;
  }

  @Override
  public V get(K key, CacheLoader<? super K, ? extends V> loader) {
    requireNonNull(key, "key");
    requireNonNull(loader, "loader");
    Cluster cluster = clusters.get();
    byte[] keyBytes = encodeKey(key);
    String owner = cluster.ownerOf(keyBytes);
    if (cluster.isSelf(owner)) {
      V hit = lookup(key);
      return hit != null ? hit : loadOnce(key, /* store= */ true, loader);
    }
    V present = getIfPresent(key);
    if (present != null) {
      return present;
    }
    V loaded = loadOnce(key, /* store= */ false, loader);
    try {
      if (compareAndSet(key, null, loaded)) {
        return loaded;
      }
    } catch (PeerUnavailableException e) {
      return loaded; // the owner is gone: answer like any read of an unreachable owner
    }
    V winner = getIfPresent(key);
    return winner != null ? winner : loaded;
  }

  @Override
  public @Nullable V getIfPresent(K key) {
    requireNonNull(key, "key");
    Cluster cluster = clusters.get();
    byte[] keyBytes = encodeKey(key);
    String owner = cluster.ownerOf(keyBytes);
    if (cluster.isSelf(owner)) {
      return lookup(key);
    }
    V near = nearCacheHit(key);
    if (near != null) {
      return near;
    }
    PeerClient peer = cluster.client(owner);
    if (peer == null || !peer.tryAcquire()) {
      return null;
    }
    remoteCalls.increment();
    try {
      GetResponse response =
          peer.blockingStub(config.remoteTimeout()).get(getRequest(keyBytes, /* load= */ false));
      peer.onAnswer();
      return response.getFound() ? decodeValue(response.getValue(), owner) : null;
    } catch (StatusRuntimeException e) {
      remoteFailures.increment();
      if (RemoteErrors.isUnreachable(e.getStatus())) {
        peer.onUnreachable(e.getStatus());
        return null;
      }
      peer.onAnswer();
      throw RemoteErrors.fromStatus(e.getStatus(), owner, name);
    }
  }

  @Override
  public CompletableFuture<@Nullable V> getAsync(K key) {
    requireNonNull(key, "key");
    try {
      Cluster cluster = clusters.get();
      byte[] keyBytes = encodeKey(key);
      String owner = cluster.ownerOf(keyBytes);
      if (cluster.isSelf(owner)) {
        V hit = lookup(key);
        if (hit != null || loader == null) {
          return CompletableFuture.completedFuture(hit);
        }
        return CompletableFuture.supplyAsync(() -> loadOnce(key, /* store= */ true, loader), executor);
      }
      return readFromOwner(key, keyBytes, owner);
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
      byte[] keyBytes = encodeKey(key);
      String owner = cluster.ownerOf(keyBytes);
      if (cluster.isSelf(owner)) {
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
            batches.add(readBatchFromOwner(owner, chunk));
          }
        });

    RuntimeException failure = null;
    for (K key : local) {
      try {
        V value = getOrLoadHere(key, /* store= */ true);
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

  /** Reads a key of this node's shard, loading it here on a miss. */
  private @Nullable V getOrLoadHere(K key, boolean store) {
    V value = lookup(key);
    if (value != null || loader == null) {
      return value;
    }
    return loadOnce(key, store, loader);
  }

  /**
   * Loads {@code key} on this node, once for all concurrent callers. With {@code store} false (a
   * fallback for an unreachable owner) the value is not kept in the shard, since this node does not
   * own the key and would serve it stale once the owner is back.
   */
  private V loadOnce(K key, boolean store, CacheLoader<? super K, ? extends V> with) {
    CompletableFuture<V> flight = new CompletableFuture<>();
    CompletableFuture<V> running = loads.putIfAbsent(key, flight);
    if (running != null) {
      return await(running);
    }
    try {
      V value = store ? shard.policy().getIfPresentQuietly(key) : null;
      if (value == null) {
        value = callLoader(key, with);
        if (store) {
          V loaded = value;
          shard.asMap().compute(key, (k, old) -> loads.get(k) == flight ? loaded : old);
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

  private V callLoader(K key, CacheLoader<? super K, ? extends V> cacheLoader) {
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
    int size;
    try {
      size = valueCodec.encode(value).length;
    } catch (RuntimeException e) {
      loadFailures.increment();
      throw new CacheLoadException(
          "value loaded for key " + describe(key) + " of cache '" + name
              + "' cannot be encoded by " + valueCodec + ": " + e, e);
    }
    if (size > config.maxValueBytes()) {
      loadFailures.increment();
      throw new CacheLoadException(
          "value loaded for key " + describe(key) + " of cache '" + name + "' is " + size
              + " bytes encoded, over maxValueBytes " + config.maxValueBytes()
              + "; raise the limit or cache a smaller value (nothing was cached)", null);
    }
    loadSuccesses.increment();
    return value;
  }

  /** Asks the owner for a key, sharing one call among this node's concurrent readers of it. */
  private CompletableFuture<@Nullable V> readFromOwner(K key, byte[] keyBytes, String owner) {
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

    PeerClient peer = clusters.get().client(owner);
    if (peer == null || !peer.tryAcquire()) {
      completeWithFallback(read, key);
      return read;
    }
    remoteCalls.increment();
    Futures.addCallback(
        peer.futureStub(config.remoteTimeout()).get(getRequest(keyBytes, loader != null)),
        new FutureCallback<GetResponse>() {
          @Override
          public void onSuccess(GetResponse response) {
            peer.onAnswer();
            if (!response.getFound()) {
              read.complete(null);
              return;
            }
            try {
              V value = decodeValue(response.getValue(), owner);
              if (nearCache != null) {
                nearCache.put(key, value);
              }
              read.complete(value);
            } catch (RuntimeException e) {
              read.completeExceptionally(e);
            }
          }

          @Override
          public void onFailure(Throwable t) {
            remoteFailures.increment();
            Status status = Status.fromThrowable(t);
            if (RemoteErrors.isUnreachable(status)) {
              peer.onUnreachable(status);
              completeWithFallback(read, key);
            } else {
              peer.onAnswer();
              read.completeExceptionally(RemoteErrors.fromStatus(status, owner, name));
            }
          }
        },
        MoreExecutors.directExecutor());
    return read;
  }

  /** Completes {@code read} by loading here, because the key's owner cannot be reached. */
  private void completeWithFallback(CompletableFuture<@Nullable V> read, K key) {
    if (loader == null) {
      read.complete(null);
      return;
    }
    fallbackLoads.increment();
    // Never load on a gRPC callback thread: loads block.
    executor.execute(
        () -> {
          try {
            V value = loadOnce(key, /* store= */ false, requireNonNull(loader));
            if (nearCache != null) {
              nearCache.put(key, value);
            }
            read.complete(value);
          } catch (Throwable t) {
            read.completeExceptionally(t);
          }
        });
  }

  private CompletableFuture<Map<K, V>> readBatchFromOwner(
      String owner, List<Map.Entry<ByteString, K>> chunk) {
    CompletableFuture<Map<K, V>> batch = new CompletableFuture<>();
    PeerClient peer = clusters.get().client(owner);
    if (peer == null || !peer.tryAcquire()) {
      completeBatchWithFallback(batch, chunk);
      return batch;
    }
    GetAllRequest.Builder request =
        GetAllRequest.newBuilder().setCache(name).setLoad(loader != null).setCaller(clusters.get().self());
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
                if (nearCache != null) {
                  nearCache.put(key, value);
                }
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
            if (RemoteErrors.isUnreachable(status)) {
              peer.onUnreachable(status);
              completeBatchWithFallback(batch, chunk);
            } else {
              peer.onAnswer();
              batch.completeExceptionally(RemoteErrors.fromStatus(status, owner, name));
            }
          }
        },
        MoreExecutors.directExecutor());
    return batch;
  }

  private void completeBatchWithFallback(
      CompletableFuture<Map<K, V>> batch, List<Map.Entry<ByteString, K>> chunk) {
    if (loader == null) {
      batch.complete(Map.of());
      return;
    }
    fallbackLoads.add(chunk.size());
    executor.execute(
        () -> {
          try {
            Map<K, V> values = new HashMap<>();
            for (Map.Entry<ByteString, K> entry : chunk) {
              V value = loadOnce(entry.getValue(), /* store= */ false, requireNonNull(loader));
              values.put(entry.getValue(), value);
              if (nearCache != null) {
                nearCache.put(entry.getValue(), value);
              }
            }
            batch.complete(values);
          } catch (Throwable t) {
            batch.completeExceptionally(t);
          }
        });
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
    Cluster cluster = clusters.get();
    byte[] keyBytes = encodeKey(key);
    byte[] valueBytes = encodeValue(value);
    String owner = cluster.ownerOf(keyBytes);
    if (nearCache != null) {
      nearCache.invalidate(key);
    }
    if (cluster.isSelf(owner)) {
      storeHere(key, value);
      return;
    }
    PeerClient peer = requireReachable(owner, "put");
    remoteCalls.increment();
    try {
      PutResponse unused =
          peer.blockingStub(config.remoteTimeout())
              .put(
                  PutRequest.newBuilder()
                      .setCache(name)
                      .setKey(ByteString.copyFrom(keyBytes))
                      .setValue(ByteString.copyFrom(valueBytes))
                      .setCaller(cluster.self())
                      .build());
      peer.onAnswer();
    } catch (StatusRuntimeException e) {
      throw writeFailed(peer, e, "put");
    }
  }

  @Override
  public void invalidate(K key) {
    requireNonNull(key, "key");
    Cluster cluster = clusters.get();
    byte[] keyBytes = encodeKey(key);
    String owner = cluster.ownerOf(keyBytes);
    if (nearCache != null) {
      nearCache.invalidate(key);
    }
    if (cluster.isSelf(owner)) {
      removeHere(key);
      return;
    }
    PeerClient peer = requireReachable(owner, "invalidate");
    remoteCalls.increment();
    try {
      InvalidateResponse unused =
          peer.blockingStub(config.remoteTimeout())
              .invalidate(
                  InvalidateRequest.newBuilder()
                      .setCache(name)
                      .setKey(ByteString.copyFrom(keyBytes))
                      .setCaller(cluster.self())
                      .build());
      peer.onAnswer();
    } catch (StatusRuntimeException e) {
      throw writeFailed(peer, e, "invalidate");
    }
  }

  @Override
  public boolean compareAndSet(K key, @Nullable V expected, @Nullable V update) {
    requireNonNull(key, "key");
    Cluster cluster = clusters.get();
    byte[] keyBytes = encodeKey(key);
    byte[] expectedBytes = expected == null ? null : encodeValue(expected);
    byte[] updateBytes = update == null ? null : encodeValue(update);
    String owner = cluster.ownerOf(keyBytes);
    if (nearCache != null) {
      nearCache.invalidate(key);
    }
    if (cluster.isSelf(owner)) {
      return compareAndSetHere(key, expectedBytes, update);
    }
    PeerClient peer = requireReachable(owner, "compareAndSet");
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
      boolean applied = peer.blockingStub(config.remoteTimeout()).compareAndSet(request.build()).getApplied();
      peer.onAnswer();
      return applied;
    } catch (StatusRuntimeException e) {
      throw writeFailed(peer, e, "compareAndSet");
    }
  }

  private boolean compareAndSetHere(K key, byte @Nullable [] expectedBytes, @Nullable V update) {
    boolean[] applied = {false};
    shard.asMap().compute(key, (k, current) -> {
      boolean matches = expectedBytes == null
          ? current == null
          : current != null && Arrays.equals(valueCodec.encode(current), expectedBytes);
      if (!matches) {
        return current;
      }
      applied[0] = true;
      loads.remove(k); // a load in flight must not overwrite the new state
      return update;
    });
    return applied[0];
  }

  @Override
  public void invalidateAll() {
    Cluster cluster = clusters.get();
    if (nearCache != null) {
      nearCache.invalidateAll();
    }
    InvalidateAllRequest request =
        InvalidateAllRequest.newBuilder().setCache(name).setCaller(cluster.self()).build();
    Map<String, com.google.common.util.concurrent.ListenableFuture<InvalidateAllResponse>> calls =
        new LinkedHashMap<>();
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
    for (Map.Entry<String, com.google.common.util.concurrent.ListenableFuture<InvalidateAllResponse>>
        call : calls.entrySet()) {
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

  private PeerClient requireReachable(String owner, String operation) {
    PeerClient peer = clusters.get().client(owner);
    if (peer == null) {
      throw new PeerUnavailableException(owner,
          operation + " of cache '" + name + "' not applied: owner " + owner
              + " left the ring while the call was prepared; retry", null);
    }
    if (!peer.tryAcquire()) {
      throw new PeerUnavailableException(owner,
          operation + " of cache '" + name + "' not applied: owner " + owner
              + " is unreachable and being retried with back-off; retry later or remove it from"
              + " the peers", null);
    }
    return peer;
  }

  private ShardcacheException writeFailed(PeerClient peer, StatusRuntimeException e, String operation) {
    remoteFailures.increment();
    Status status = e.getStatus();
    if (RemoteErrors.isUnreachable(status)) {
      peer.onUnreachable(status);
      return new PeerUnavailableException(peer.address(),
          operation + " of cache '" + name + "' not applied: owner " + peer.address()
              + " could not be reached (" + status.getCode() + ": " + status.getDescription()
              + "); retry", e);
    }
    peer.onAnswer();
    return RemoteErrors.fromStatus(status, peer.address(), name);
  }

  private void storeHere(K key, V value) {
    shard.asMap().compute(key, (k, old) -> {
      loads.remove(k); // a load in flight must not overwrite this newer value
      return value;
    });
  }

  private void removeHere(K key) {
    shard.asMap().compute(key, (k, old) -> {
      loads.remove(k); // a load in flight must not resurrect the removed key
      return null;
    });
  }

  // ---------------------------------------------------------------- serving peers

  GetResponse serveGet(GetRequest request) {
    peerRequests.increment();
    K key = decodeKey(request.getKey());
    boolean store = ownsHere(request.getKey());
    V value = request.getLoad() ? getOrLoadHere(key, store) : lookup(key);
    if (value == null) {
      return GetResponse.newBuilder().setFound(false).build();
    }
    return GetResponse.newBuilder()
        .setFound(true)
        .setValue(ByteString.copyFrom(valueCodec.encode(value)))
        .build();
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
      V value = request.getLoad() ? getOrLoadHere(key, ownsHere(keyBytes)) : lookup(key);
      if (value != null) {
        response.addEntries(
            Entry.newBuilder().setKey(keyBytes).setValue(ByteString.copyFrom(valueCodec.encode(value))));
      }
    }
    return response.build();
  }

  /**
   * Whether this node owns a key under its own ring. A peer's request for a key this node does not
   * own (the two rings disagree) is answered here but its load is not kept: the shard must hold
   * only owned keys, since reads answer from it without consulting the ring.
   */
  private boolean ownsHere(ByteString keyBytes) {
    try {
      Cluster cluster = clusters.get();
      return cluster.isSelf(cluster.ownerOf(keyBytes.toByteArray()));
    } catch (IllegalStateException closing) {
      return false;
    }
  }

  PutResponse servePut(PutRequest request) {
    peerRequests.increment();
    K key = decodeKey(request.getKey());
    if (request.getValue().size() > config.maxValueBytes()) {
      throw new IllegalArgumentException("value for cache '" + name + "' is "
          + request.getValue().size() + " bytes, over this node's maxValueBytes "
          + config.maxValueBytes() + "; configure the same limits on every member");
    }
    V value = decode(valueCodec, request.getValue(), "value");
    storeHere(key, value);
    return PutResponse.getDefaultInstance();
  }

  InvalidateResponse serveInvalidate(InvalidateRequest request) {
    peerRequests.increment();
    removeHere(decodeKey(request.getKey()));
    return InvalidateResponse.getDefaultInstance();
  }

  CompareAndSetResponse serveCompareAndSet(CompareAndSetRequest request) {
    peerRequests.increment();
    K key = decodeKey(request.getKey());
    V update = null;
    if (request.hasUpdate()) {
      if (request.getUpdate().size() > config.maxValueBytes()) {
        throw new IllegalArgumentException("value for cache '" + name + "' is "
            + request.getUpdate().size() + " bytes, over this node's maxValueBytes "
            + config.maxValueBytes() + "; configure the same limits on every member");
      }
      update = decode(valueCodec, request.getUpdate(), "value");
    }
    byte[] expected = request.hasExpected() ? request.getExpected().toByteArray() : null;
    return CompareAndSetResponse.newBuilder()
        .setApplied(compareAndSetHere(key, expected, update))
        .build();
  }

  InvalidateAllResponse serveInvalidateAll() {
    // Clear the flights first: a load still running then finds its flight gone and does not store.
    loads.clear();
    shard.invalidateAll();
    return InvalidateAllResponse.getDefaultInstance();
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

  private GetRequest getRequest(byte[] keyBytes, boolean load) {
    return GetRequest.newBuilder()
        .setCache(name)
        .setKey(ByteString.copyFrom(keyBytes))
        .setLoad(load)
        .setCaller(clusters.get().self())
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
    return shard.estimatedSize();
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

  /**
   * Drops the entries of keys this node no longer owns, after a membership change. Without this,
   * an entry left behind would be served again, stale, if ownership ever moved back here. Costs one
   * hash per entry; membership changes are rare.
   */
  void dropKeysNotOwned() {
    Cluster cluster;
    try {
      cluster = clusters.get();
    } catch (IllegalStateException closed) {
      return;
    }
    shard.asMap().keySet().removeIf(key -> {
      try {
        return !cluster.isSelf(cluster.ownerOf(keyCodec.encode(key)));
      } catch (RuntimeException e) {
        return true;
      }
    });
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
