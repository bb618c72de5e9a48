package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.Entry;
import dev.shardcache.internal.proto.FetchRequest;
import dev.shardcache.internal.proto.FetchResponse;
import dev.shardcache.internal.proto.GetAllRequest;
import dev.shardcache.internal.proto.GetAllResponse;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.Refusal;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.Versioned;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The serving side of one cache: what this node does with the reads, fetches and replicated entries
 * peers send it (writes are served by {@link WritePath}, digests by {@link AntiEntropy}).
 *
 * <h2>Reads from peers</h2>
 *
 * A node answers a peer's read of a key it holds under its own ring: from its shard, or by joining
 * or starting the key's single load ({@link LoadFlights}). A read of a key it does not hold (the
 * peer's view of the ring differs) is passed on once, marked {@code forwarded}, to a holder under
 * this node's ring; a forwarded read is answered where it lands and never passed on again, so two
 * nodes whose views disagree cannot bounce a request. If no holder can be reached the node answers
 * without keeping: from a copy it still has, or a load it does not store.
 *
 * <p>A hit is shown to {@link Refreshes} (a value due for a refresh is reloaded in the background),
 * and the answer carries the value's age, so that a caller's near cache knows when it is due too.
 *
 * <p>Reads of keys this node holds are counted for {@link HotKeys}, and the answer marks a key that
 * is among the hottest ({@code hot} in {@code GetResponse} and in each {@code GetAll} entry, bulk
 * loaded or not), so the caller keeps it for a moment; the mark is taken before the value is read
 * or loaded. Counting and marking never block, so a {@code Get} stays fit for the transport thread
 * ({@link ServingExecutors}).
 *
 * <p><b>Loads never run on gRPC threads.</b> A read that must load returns its future at once and
 * is answered when the load completes on the node's executor. A {@code GetAll} loads the keys it
 * holds and misses in one bulk flight, one call of the loader's {@code loadAll} (see {@link
 * BatchReads}), joining the keys already in flight instead; a key {@code loadAll} leaves out is
 * left out of the answer. With a loader that has no {@code loadAll} of its own, a {@code GetAll}
 * starts the loads of its missing keys one by one, concurrently, at most {@value
 * #BATCH_LOAD_CONCURRENCY} at a time, instead of one after another. Keys it does not hold are read
 * (passed on) one by one.
 *
 * <p><b>A {@code GetAll} answer is bounded in bytes</b> by the smaller of the caller's and this
 * node's {@code maxBatchBytes} ({@link BoundedAnswer}): values that do not fit are left out and
 * their keys listed, and the caller asks for them again in another call ({@link BatchReads}). The
 * loads are not changed by it: a value left out was read or loaded (and kept, if this node holds
 * its key) like the others, so asking again finds it in the shard. A {@code Fetch} answer is
 * bounded the same way, and the caller asks again for the keys it lists ({@link HolderCopies}).
 *
 * <p>Thread-safe.
 */
final class PeerRequests<K, V> {
  /** The most loads one GetAll runs at once. */
  static final int BATCH_LOAD_CONCURRENCY = 32;

  private final CacheScope<K, V> scope;
  private final LoadFlights<K, V> flights;
  private final LoadFlights<K, V> copies;
  private final Loads<K, V> loads;
  private final RemoteReads<K, V> remote;
  private final WritePath<K, V> writes;
  private final Refreshes<K, V> refreshes;

  /** See {@link ReadPath} for why {@code flights} and {@code copies} are apart. */
  PeerRequests(
      CacheScope<K, V> scope,
      LoadFlights<K, V> flights,
      LoadFlights<K, V> copies,
      Loads<K, V> loads,
      RemoteReads<K, V> remote,
      WritePath<K, V> writes,
      Refreshes<K, V> refreshes) {
    this.scope = scope;
    this.flights = flights;
    this.copies = copies;
    this.loads = loads;
    this.remote = remote;
    this.writes = writes;
    this.refreshes = refreshes;
  }

  CompletableFuture<GetResponse> serveGet(GetRequest request, CallInterest interest) {
    scope.counters().peerRequests.increment();
    K key = scope.codec().decodeKey(request.getKey());
    AtomicBoolean hot = new AtomicBoolean();
    return read(
            key,
            request.getKey(),
            request.getLoad(),
            request.getForwarded(),
            request.getCaller(),
            interest,
            hot)
        .thenApply(
            value ->
                value == null
                    ? GetResponse.newBuilder().setFound(false).build()
                    : GetResponse.newBuilder()
                        .setFound(true)
                        // Codec.encode hands its array over to the caller and nothing else writes
                        // it, so the answer can wrap it instead of copying it.
                        .setValue(
                            UnsafeByteOperations.unsafeWrap(
                                scope.config().valueCodec().encode(value)))
                        .setAgeMillis(refreshes.ageOf(key, value))
                        .setHot(hot.get())
                        .build());
  }

  CompletableFuture<GetAllResponse> serveGetAll(GetAllRequest request, CallInterest interest) {
    scope.counters().peerRequests.increment();
    if (request.getKeysCount() > CacheConfig.MAX_KEYS_PER_BATCH) {
      throw new IllegalArgumentException(
          "getAll of cache '"
              + scope.name()
              + "' asked for "
              + request.getKeysCount()
              + " keys, over the batch limit of "
              + CacheConfig.MAX_KEYS_PER_BATCH
              + "; split the batch");
    }
    List<ByteString> keyBytes = request.getKeysList();
    List<K> keys = new ArrayList<>(keyBytes.size());
    for (ByteString bytes : keyBytes) {
      keys.add(scope.codec().decodeKey(bytes));
    }
    CacheLoader<K, V> loader = request.getLoad() ? scope.loader() : null;
    Cluster cluster = scope.clusters().get();
    // The keys held here and missing: with a loader of its own loadAll, loaded in one bulk;
    // otherwise their copies are asked for in one Fetch per holder, then each is loaded on its own.
    boolean loadsInBulk = loader != null && Loads.loadsInBulk(loader);
    Map<K, KeyRoute> bulk = new LinkedHashMap<>();
    Map<Integer, Supplier<CompletableFuture<@Nullable V>>> reads = new LinkedHashMap<>();
    List<AtomicBoolean> hot = new ArrayList<>(keys.size());
    for (int i = 0; i < keys.size(); i++) {
      K key = keys.get(i);
      ByteString bytes = keyBytes.get(i);
      AtomicBoolean keyHot = new AtomicBoolean();
      hot.add(keyHot);
      if (loader != null) {
        KeyRoute route = scope.router().route(cluster, bytes.toByteArray());
        if (route.holdsHere() && scope.shard().get(key) == null) {
          // Counted and marked before the bulk load starts, as read() does before it reads.
          keyHot.set(scope.hotKeys().served(bytes));
          if (bulk.putIfAbsent(key, route) == null) {
            scope.counters().misses.increment();
          }
          continue;
        }
      }
      reads.put(
          i,
          () ->
              read(
                  key,
                  bytes,
                  request.getLoad(),
                  request.getForwarded(),
                  request.getCaller(),
                  interest,
                  keyHot));
    }
    Map<K, CompletableFuture<@Nullable V>> loading = new HashMap<>();
    if (loader != null && !bulk.isEmpty()) {
      if (loadsInBulk) {
        List<K> bulkKeys = new ArrayList<>(bulk.keySet());
        List<LoadFlights.Ticket<V>> tickets =
            flights.ticketsAll(
                bulkKeys, wanted -> loads.resolveAll(wanted, bulk, bulk.keySet(), loader));
        for (int i = 0; i < bulkKeys.size(); i++) {
          loading.put(bulkKeys.get(i), interested(interest, tickets.get(i)));
        }
      } else {
        loading.putAll(loadEach(bulk, loader, interest));
      }
    }
    List<CompletableFuture<@Nullable V>> started =
        BoundedFanOut.start(new ArrayList<>(reads.values()), BATCH_LOAD_CONCURRENCY);
    Map<Integer, CompletableFuture<@Nullable V>> byIndex = new HashMap<>();
    int next = 0;
    for (Integer i : reads.keySet()) {
      byIndex.put(i, started.get(next++));
    }
    List<CompletableFuture<@Nullable V>> answers = new ArrayList<>(keys.size());
    for (int i = 0; i < keys.size(); i++) {
      CompletableFuture<@Nullable V> answer = byIndex.get(i);
      answers.add(
          withoutAbsent(answer != null ? answer : requireNonNull(loading.get(keys.get(i)))));
    }
    BoundedAnswer<Entry> answer =
        new BoundedAnswer<>(
            "getAll",
            scope.name(),
            HashOrderedPage.answerBytes(scope.maxBatchBytes(), request.getMaxAnswerBytes()),
            keys.size(),
            request.getMaxAnswerBytes() > 0);
    return CompletableFuture.allOf(answers.toArray(new CompletableFuture<?>[0]))
        .thenApply(done -> collect(keys, keyBytes, answers, hot, answer));
  }

  /**
   * Resolves the misses of a {@code GetAll} one key at a time, for a loader without a {@code
   * loadAll} of its own ({@link Loads#eachAfterCopies}), at most {@value #BATCH_LOAD_CONCURRENCY}
   * loads started at a time.
   */
  private Map<K, CompletableFuture<@Nullable V>> loadEach(
      Map<K, KeyRoute> missing, CacheLoader<K, V> loader, CallInterest interest) {
    Map<K, Supplier<CompletableFuture<@Nullable V>>> starts =
        loads.eachAfterCopies(
            missing, loader, (key, body) -> interested(interest, flights.ticket(key, body)));
    List<CompletableFuture<@Nullable V>> started =
        BoundedFanOut.start(new ArrayList<>(starts.values()), BATCH_LOAD_CONCURRENCY);
    Map<K, CompletableFuture<@Nullable V>> answers = new HashMap<>();
    int i = 0;
    for (K key : starts.keySet()) {
      answers.put(key, started.get(i++));
    }
    return answers;
  }

  /** A key that {@code loadAll} left out is not an error of the batch: it is left out of it. */
  private static <T> CompletableFuture<@Nullable T> withoutAbsent(
      CompletableFuture<@Nullable T> answer) {
    return answer.exceptionally(
        failure -> {
          if (Loads.isAbsent(failure)) {
            return null;
          }
          throw failure instanceof CompletionException wrapped
              ? wrapped
              : new CompletionException(failure);
        });
  }

  /**
   * The answer: every value found or loaded, as many as fit the answer's bound, the others listed
   * for the caller to ask again ({@link BoundedAnswer}).
   */
  private GetAllResponse collect(
      List<K> keys,
      List<ByteString> keyBytes,
      List<CompletableFuture<@Nullable V>> answers,
      List<AtomicBoolean> hot,
      BoundedAnswer<Entry> answer) {
    for (int i = 0; i < answers.size(); i++) {
      V value = answers.get(i).join();
      if (value != null) {
        answer.offer(
            i,
            Entry.newBuilder()
                .setKey(keyBytes.get(i))
                // Codec.encode hands its array over: wrapped, as serveGet does, not copied.
                .setValue(
                    UnsafeByteOperations.unsafeWrap(scope.config().valueCodec().encode(value)))
                .setAgeMillis(refreshes.ageOf(keys.get(i), value))
                .setHot(hot.get(i).get())
                .build());
      }
    }
    return GetAllResponse.newBuilder()
        .addAllEntries(answer.entries())
        .addAllNotIncluded(answer.notIncluded())
        .build();
  }

  /**
   * Answers a peer's read of one key; see the class documentation. Sets {@code hot} if this node
   * holds the key and counts it among its hot keys ({@link HotKeys}), before reading the value.
   */
  private CompletableFuture<@Nullable V> read(
      K key,
      ByteString keyBytes,
      boolean load,
      boolean forwarded,
      String caller,
      CallInterest interest,
      AtomicBoolean hot) {
    Cluster cluster = scope.clusters().get();
    KeyRoute route = scope.router().route(cluster, keyBytes.toByteArray());
    if (route.holdsHere()) {
      hot.set(scope.hotKeys().served(keyBytes));
      Shard.Held<V> held = scope.shard().get(key);
      if (held != null) {
        held.confirmedEpoch = route.epoch();
        refreshes.onHit(key, held);
        scope.counters().hits.increment();
        return CompletableFuture.completedFuture(held.value());
      }
      scope.counters().misses.increment();
      CacheLoader<K, V> loader = load ? scope.loader() : null;
      if (loader != null) {
        return interested(
            interest, flights.ticket(key, () -> loads.resolve(key, route, loader, true)));
      }
      if (cluster.recentRings().isEmpty()) {
        return CompletableFuture.completedFuture(null);
      }
      return interested(interest, copies.ticket(key, () -> loads.resolve(key, route, null, true)));
    }
    if (forwarded) {
      return answerWithoutKeeping(key, route, load, interest);
    }
    return forwardRead(cluster, key, route, keyBytes, load, caller, 0, interest);
  }

  private static <T> CompletableFuture<@Nullable T> interested(
      CallInterest interest, LoadFlights.Ticket<T> ticket) {
    interest.onCancel(ticket::release);
    return ticket.result();
  }

  /** Answers a read of a key this node does not hold: a copy it still has, or an unkept load. */
  private CompletableFuture<@Nullable V> answerWithoutKeeping(
      K key, KeyRoute route, boolean load, CallInterest interest) {
    Shard.Held<V> held = scope.shard().get(key);
    if (held != null) {
      return CompletableFuture.completedFuture(held.value());
    }
    CacheLoader<K, V> loader = load ? scope.loader() : null;
    if (loader == null) {
      return CompletableFuture.completedFuture(null);
    }
    return interested(
        interest, flights.ticket(key, () -> loads.resolve(key, route, loader, false)));
  }

  private CompletableFuture<@Nullable V> forwardRead(
      Cluster cluster,
      K key,
      KeyRoute route,
      ByteString keyBytes,
      boolean load,
      String caller,
      int index,
      CallInterest interest) {
    List<String> holders = route.holders();
    for (int i = index; i < holders.size(); i++) {
      String holder = holders.get(i);
      if (cluster.isSelf(holder)) {
        continue;
      }
      int next = i + 1;
      Duration deadline =
          load && scope.loader() != null
              ? scope.config().loadTimeout()
              : scope.config().remoteTimeout();
      GetRequest forwarded =
          GetRequest.newBuilder()
              .setCache(scope.name())
              .setKey(keyBytes)
              .setLoad(load)
              .setCaller(caller)
              .setForwarded(true)
              .build();
      CompletableFuture<@Nullable V> answer = new CompletableFuture<>();
      Completions.whenDone(
          PeerCalls.get(
              cluster.client(holder), holder, deadline, scope.counters(), forwarded, true),
          (response, failure) -> {
            if (failure == null) {
              try {
                answer.complete(
                    response.getFound()
                        ? scope.codec().decodeValue(response.getValue(), holder)
                        : null);
              } catch (RuntimeException e) {
                answer.completeExceptionally(e);
              }
            } else if (failure instanceof PeerCalls.PeerCallException failed
                && failed.isUnreachable()) {
              Completions.whenDone(
                  forwardRead(cluster, key, route, keyBytes, load, caller, next, interest),
                  (value, again) -> {
                    if (again != null) {
                      answer.completeExceptionally(again);
                    } else {
                      answer.complete(value);
                    }
                  });
            } else if (failure instanceof PeerCalls.PeerCallException failed) {
              answer.completeExceptionally(failed.status().asRuntimeException());
            } else {
              answer.completeExceptionally(failure);
            }
          });
      return answer;
    }
    return answerWithoutKeeping(key, route, load, interest);
  }

  /**
   * Answers a peer's {@code Fetch}: the versioned entry (value or tombstone) this node has of each
   * key, without loading and whatever its ring says, as many as fit the answer's bound, the others
   * listed for the caller to ask again ({@link BoundedAnswer}).
   */
  FetchResponse serveFetch(FetchRequest request) {
    scope.counters().peerRequests.increment();
    if (request.getKeysCount() > CacheConfig.MAX_KEYS_PER_BATCH) {
      throw new IllegalArgumentException(
          "fetch of cache '"
              + scope.name()
              + "' asked for "
              + request.getKeysCount()
              + " keys, over the batch limit of "
              + CacheConfig.MAX_KEYS_PER_BATCH
              + "; split the batch");
    }
    BoundedAnswer<VersionedEntry> answer =
        new BoundedAnswer<>(
            "fetch",
            scope.name(),
            HashOrderedPage.answerBytes(scope.maxBatchBytes(), request.getMaxAnswerBytes()),
            request.getKeysCount(),
            request.getMaxAnswerBytes() > 0);
    for (int i = 0; i < request.getKeysCount(); i++) {
      ByteString keyBytes = request.getKeys(i);
      K key = scope.codec().decodeKey(keyBytes);
      Shard.Held<V> held = scope.shard().peek(key);
      if (held != null) {
        answer.offer(i, scope.codec().toWire(keyBytes, held.entry, scope.shard().ageMillis(held)));
        continue;
      }
      Versioned<V> deleted = scope.shard().newest(key);
      if (deleted != null) {
        answer.offer(i, scope.codec().toWire(keyBytes, deleted, 0));
      }
    }
    return FetchResponse.newBuilder()
        .addAllEntries(answer.entries())
        .addAllNotIncluded(answer.notIncluded())
        .build();
  }

  /**
   * Applies a batch of replicated entries: first the sender's last clear, then each entry by merge;
   * then drops the listed near-cache entries. Never forwards anything.
   *
   * <p>With {@code refusals} null, the first clear, entry or key this node refuses throws (the call
   * fails with it; entries before it stay applied, which a resend merges harmlessly). Otherwise
   * each refused part is reported there and skipped, and the rest applied: a refused clear refuses
   * the whole batch, since its entries must not arrive without it.
   */
  void serveReplicate(
      CacheBatch batch, String caller, @Nullable Consumer<Refusal.Builder> refusals) {
    scope.counters().peerRequests.increment();
    Cluster cluster = scope.clusters().get();
    if (batch.getClearedBefore() > scope.shard().clearedBefore()) {
      try {
        scope.codec().checkTimestamp(cluster, batch.getClearedBefore(), caller);
      } catch (IllegalArgumentException e) {
        if (refusals == null) {
          throw e;
        }
        refusals.accept(refusal(e));
        return;
      }
      cluster.clock().observe(batch.getClearedBefore());
      writes.clearHere(batch.getClearedBefore());
    }
    for (int i = 0; i < batch.getEntriesCount(); i++) {
      VersionedEntry wire = batch.getEntries(i);
      try {
        K key = scope.codec().decodeKey(wire.getKey());
        EntryCodec.Incoming<V> copy = scope.codec().fromWire(cluster, wire, caller);
        scope.shard().merge(key, copy.entry(), copy.ageMillis(), -1);
        flights.detach(key);
        copies.detach(key);
        remote.detach(key);
      } catch (IllegalArgumentException | CodecException e) {
        if (refusals == null) {
          throw e;
        }
        refusals.accept(refusal(e).setEntry(i));
      }
    }
    for (int i = 0; i < batch.getNearInvalidationsCount(); i++) {
      try {
        remote.detach(scope.codec().decodeKey(batch.getNearInvalidations(i)));
      } catch (IllegalArgumentException | CodecException e) {
        if (refusals == null) {
          throw e;
        }
        refusals.accept(refusal(e).setNearInvalidation(i));
      }
    }
  }

  /** What this node reports for a part it refused: the status the call would have failed with. */
  private static Refusal.Builder refusal(RuntimeException refused) {
    io.grpc.Status status = RemoteErrors.toStatus(refused).getStatus();
    return Refusal.newBuilder()
        .setCode(status.getCode().value())
        .setDescription(String.valueOf(status.getDescription()));
  }
}
