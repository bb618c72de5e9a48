package dev.shardcache;

import dev.shardcache.internal.proto.AcknowledgeRequest;
import dev.shardcache.internal.proto.AcknowledgeResponse;
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
import dev.shardcache.internal.proto.InvalidateResponse;
import dev.shardcache.internal.proto.Invalidations;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PingRequest;
import dev.shardcache.internal.proto.PingResponse;
import dev.shardcache.internal.proto.PutRequest;
import dev.shardcache.internal.proto.PutResponse;
import dev.shardcache.internal.proto.RefreshRequest;
import dev.shardcache.internal.proto.RefreshResponse;
import dev.shardcache.internal.proto.Refusal;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.ReplicateResponse;
import dev.shardcache.internal.proto.ScanPageRequest;
import dev.shardcache.internal.proto.ScanPageResponse;
import dev.shardcache.internal.proto.StreamedGet;
import dev.shardcache.internal.proto.StreamedGetAnswer;
import dev.shardcache.internal.proto.SubscribeRequest;
import dev.shardcache.internal.proto.WriteAllRequest;
import dev.shardcache.internal.proto.WriteAllResponse;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Function;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The gRPC service a node serves to its peers. Each call names a cache; the call is handed to that
 * cache, and every failure leaves as a {@link Status} (see {@link RemoteErrors}), so a malformed or
 * unknown request costs the caller an error and this node nothing.
 *
 * <p>A {@code Get} (and a {@code Ping}, and a client-only member's {@code Acknowledge}) is served
 * on the transport thread that read it ({@link ServingExecutors}), so it must never block: a hit
 * answers at once, and a read that must load (or refresh) answers with a future that completes on
 * the node's load executor. Every other call runs on a handler thread ({@link HandlerPool}: refused
 * when every one is busy); reads that must load never block it either. Writes block their handler
 * for at most half the caller's deadline (the wait for replicas); a batch write that passes keys
 * on, for at most three quarters of it. A {@code Subscribe} registers a client-only member's stream
 * with the node's {@link Subscribers} and returns: the stream lives on without a thread.
 */
final class PeerService extends PeerServiceGrpc.PeerServiceImplBase {

  private final Supplier<String> self;
  private final Function<String, @Nullable DefaultDistributedCache<?, ?>> caches;
  private final Subscribers subscribers;
  private final ServedReadStreams readStreams;

  PeerService(
      Supplier<String> self,
      Function<String, @Nullable DefaultDistributedCache<?, ?>> caches,
      Subscribers subscribers,
      ServedReadStreams readStreams) {
    this.self = self;
    this.caches = caches;
    this.subscribers = subscribers;
    this.readStreams = readStreams;
  }

  @Override
  public void get(GetRequest request, StreamObserver<GetResponse> response) {
    CallInterest interest = interestOf(response);
    answerLater(response, () -> cache(request.getCache()).serveGet(request, interest));
  }

  /**
   * Many Gets on one stream (see {@link ServedReads}); the stream is refused only if it is not a
   * gRPC server call.
   */
  @Override
  public StreamObserver<StreamedGet> reads(StreamObserver<StreamedGetAnswer> answers) {
    if (!(answers instanceof ServerCallStreamObserver<StreamedGetAnswer> call)) {
      throw new IllegalStateException("a Reads stream must be a gRPC server call");
    }
    return readStreams.open(
        call,
        (request, interest) -> cache(request.getCache()).serveGet(request, interest),
        CallLimiter.SLOTS.get());
  }

  @Override
  public void getAll(GetAllRequest request, StreamObserver<GetAllResponse> response) {
    CallInterest interest = interestOf(response);
    answerLater(response, () -> cache(request.getCache()).serveGetAll(request, interest));
  }

  /** The interest of a call: released when the caller cancels, so unstarted loads are skipped. */
  private static CallInterest interestOf(StreamObserver<?> response) {
    if (!(response instanceof ServerCallStreamObserver<?> call)) {
      return CallInterest.NONE;
    }
    CallInterest interest = new CallInterest();
    call.setOnCancelHandler(interest::cancel);
    return interest;
  }

  @Override
  public void put(PutRequest request, StreamObserver<PutResponse> response) {
    answer(
        response,
        () -> {
          cache(request.getCache()).servePut(request);
          return PutResponse.getDefaultInstance();
        });
  }

  @Override
  public void invalidate(InvalidateRequest request, StreamObserver<InvalidateResponse> response) {
    answer(
        response,
        () -> {
          cache(request.getCache()).serveInvalidate(request);
          return InvalidateResponse.getDefaultInstance();
        });
  }

  @Override
  public void writeAll(WriteAllRequest request, StreamObserver<WriteAllResponse> response) {
    answer(response, () -> cache(request.getCache()).serveWriteAll(request));
  }

  @Override
  public void compareAndSet(
      CompareAndSetRequest request, StreamObserver<CompareAndSetResponse> response) {
    answer(response, () -> cache(request.getCache()).serveCompareAndSet(request));
  }

  @Override
  public void invalidateAll(
      InvalidateAllRequest request, StreamObserver<InvalidateAllResponse> response) {
    answer(response, () -> cache(request.getCache()).serveInvalidateAll(request));
  }

  @Override
  public void replicate(ReplicateRequest request, StreamObserver<ReplicateResponse> response) {
    answer(
        response,
        () -> {
          if (request.getReportRefusals()) {
            return replicateReportingRefusals(request);
          }
          // Check every cache first, so a batch naming an unknown cache changes nothing.
          for (CacheBatch batch : request.getBatchesList()) {
            cache(batch.getCache());
          }
          ReplicateResponse.Builder answer = ReplicateResponse.newBuilder();
          for (CacheBatch batch : request.getBatchesList()) {
            DefaultDistributedCache<?, ?> cache = cache(batch.getCache());
            cache.serveReplicate(batch, request.getCaller(), null);
            answer.addAllHotKeys(cache.markedHotAmong(batch));
          }
          return answer.build();
        });
  }

  /**
   * Applies every batch and entry it can and lists the others: one entry (or one cache) this node
   * refuses must not cost the sender the rest of its request.
   */
  private ReplicateResponse replicateReportingRefusals(ReplicateRequest request) {
    ReplicateResponse.Builder answer = ReplicateResponse.newBuilder();
    for (int i = 0; i < request.getBatchesCount(); i++) {
      CacheBatch batch = request.getBatches(i);
      int index = i;
      DefaultDistributedCache<?, ?> cache = caches.apply(batch.getCache());
      if (cache == null) {
        answer.addRefused(
            Refusal.newBuilder()
                .setBatch(index)
                .setCode(Status.Code.NOT_FOUND.value())
                .setDescription(noCacheNamed(batch.getCache())));
        continue;
      }
      cache.serveReplicate(
          batch, request.getCaller(), refusal -> answer.addRefused(refusal.setBatch(index)));
      answer.addAllHotKeys(cache.markedHotAmong(batch));
    }
    return answer.build();
  }

  @Override
  public void fetch(FetchRequest request, StreamObserver<FetchResponse> response) {
    answer(response, () -> cache(request.getCache()).serveFetch(request));
  }

  @Override
  public void digest(DigestRequest request, StreamObserver<DigestResponse> response) {
    answer(response, () -> cache(request.getCache()).serveDigest(request));
  }

  /** Answered when the refresh it joins ends, on the thread that ends it: never blocks. */
  @Override
  public void refresh(RefreshRequest request, StreamObserver<RefreshResponse> response) {
    answerLater(response, () -> cache(request.getCache()).serveRefresh(request));
  }

  /** One page of a peer's scan; the walk stops early if the caller cancels (closed its scan). */
  @Override
  public void scanPage(ScanPageRequest request, StreamObserver<ScanPageResponse> response) {
    Context call = Context.current();
    answer(response, () -> cache(request.getCache()).serveScanPage(request, call::isCancelled));
  }

  @Override
  public void subscribe(SubscribeRequest request, StreamObserver<Invalidations> response) {
    try {
      if (!(response instanceof ServerCallStreamObserver<Invalidations> call)) {
        throw new IllegalStateException("a Subscribe stream must be a gRPC server call");
      }
      subscribers.subscribe(request, call);
    } catch (RuntimeException e) {
      fail(response, e);
    }
  }

  @Override
  public void acknowledge(
      AcknowledgeRequest request, StreamObserver<AcknowledgeResponse> response) {
    answer(
        response,
        () -> {
          subscribers.acknowledge(request);
          return AcknowledgeResponse.getDefaultInstance();
        });
  }

  @Override
  public void ping(PingRequest request, StreamObserver<PingResponse> response) {
    answer(response, () -> PingResponse.newBuilder().setAddress(self.get()).build());
  }

  private DefaultDistributedCache<?, ?> cache(String name) {
    DefaultDistributedCache<?, ?> cache = caches.apply(name);
    if (cache == null) {
      throw Status.NOT_FOUND.withDescription(noCacheNamed(name)).asRuntimeException();
    }
    return cache;
  }

  private String noCacheNamed(String name) {
    return "node "
        + self.get()
        + " has no cache named '"
        + name
        + "'; define it with node.cache(name, config) on every member, before start()";
  }

  private interface Call<T> {
    T run();
  }

  /** Answers with a future's result when it completes, on whatever thread completes it. */
  private static <T> void answerLater(StreamObserver<T> response, Call<CompletableFuture<T>> call) {
    CompletableFuture<T> result;
    try {
      result = call.run();
    } catch (Throwable t) {
      fail(response, t);
      return;
    }
    Completions.whenDone(
        result,
        (value, failure) -> {
          if (failure != null) {
            Throwable cause =
                failure instanceof CompletionException && failure.getCause() != null
                    ? failure.getCause()
                    : failure;
            fail(response, cause);
            return;
          }
          try {
            response.onNext(value);
            response.onCompleted();
          } catch (RuntimeException cancelled) {
            // The caller went away (cancelled, deadline): nobody is left to answer.
          }
        });
  }

  private static <T> void fail(StreamObserver<T> response, Throwable t) {
    try {
      response.onError(RemoteErrors.toStatus(t));
    } catch (RuntimeException cancelled) {
      // The caller went away.
    }
    if (t instanceof Error error && !(t instanceof AssertionError)) {
      throw error;
    }
  }

  private static <T> void answer(StreamObserver<T> response, Call<T> call) {
    T result;
    try {
      result = call.run();
    } catch (Throwable t) {
      response.onError(RemoteErrors.toStatus(t));
      if (t instanceof Error error && !(t instanceof AssertionError)) {
        throw error;
      }
      return;
    }
    response.onNext(result);
    response.onCompleted();
  }
}
