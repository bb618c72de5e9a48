package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.InvalidateRequest;
import dev.shardcache.internal.proto.InvalidateResponse;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PutRequest;
import dev.shardcache.internal.proto.PutResponse;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link HandlerPool} with one handler thread, over gRPC's in-process transport: while a {@code
 * Put} holds the thread, a new call is refused with {@code RESOURCE_EXHAUSTED} naming {@code
 * handlerThreads}, and so is a call that started while the thread was free but whose message
 * arrives while it is held (the refusal at a later callback); neither reaches the service, and once
 * the thread is free calls are served again.
 */
class HandlerPoolTest {
  private final HandlerPool pool = new HandlerPool(1);
  private final CountDownLatch release = new CountDownLatch(1);
  private final Semaphore putsHeld = new Semaphore(0);
  private final Semaphore invalidatesStarted = new Semaphore(0);
  private final AtomicInteger invalidatesServed = new AtomicInteger();
  private Server server;
  private ManagedChannel channel;

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    PeerServiceGrpc.PeerServiceImplBase service =
        new PeerServiceGrpc.PeerServiceImplBase() {
          @Override
          public void put(PutRequest request, StreamObserver<PutResponse> response) {
            putsHeld.release();
            try {
              release.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            response.onNext(PutResponse.getDefaultInstance());
            response.onCompleted();
          }

          @Override
          public void invalidate(
              InvalidateRequest request, StreamObserver<InvalidateResponse> response) {
            invalidatesServed.incrementAndGet();
            response.onNext(InvalidateResponse.getDefaultInstance());
            response.onCompleted();
          }
        };
    ServerInterceptor started =
        new ServerInterceptor() {
          @Override
          public <Q, R> ServerCall.Listener<Q> interceptCall(
              ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            if (call.getMethodDescriptor().equals(PeerServiceGrpc.getInvalidateMethod())) {
              invalidatesStarted.release();
            }
            return next.startCall(call, headers);
          }
        };
    server =
        InProcessServerBuilder.forName(name)
            .directExecutor()
            .callExecutor(new ServingExecutors(pool))
            // As NodeServer orders them: the refusal before the rest (interceptors wrap outward).
            .addService(ServerInterceptors.intercept(service, started, pool.refusals()))
            .build()
            .start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
  }

  @AfterEach
  void stop() {
    release.countDown();
    channel.shutdownNow();
    server.shutdownNow();
    pool.shutdownNow();
  }

  @Test
  void callsThatFindTheThreadBusyAreRefusedAndNeverReachTheService() throws Exception {
    // A call started while the thread is free; its message comes later.
    RecordingListener early = new RecordingListener();
    ClientCall<InvalidateRequest, InvalidateResponse> startedEarly =
        channel.newCall(PeerServiceGrpc.getInvalidateMethod(), CallOptions.DEFAULT);
    startedEarly.start(early, new Metadata());
    startedEarly.request(1);
    assertThat(invalidatesStarted.tryAcquire(10, TimeUnit.SECONDS)).isTrue();

    ListenableFuture<PutResponse> held = holdTheThread();
    long refusedBefore = pool.refusedCount();

    StatusRuntimeException refusedAtStart =
        org.junit.jupiter.api.Assertions.assertThrows(
            StatusRuntimeException.class,
            () -> PeerServiceGrpc.newBlockingStub(channel).invalidate(invalidate()));
    startedEarly.sendMessage(invalidate());
    startedEarly.halfClose();
    Status refusedLater = early.closed.get(10, TimeUnit.SECONDS);

    for (Status status : new Status[] {refusedAtStart.getStatus(), refusedLater}) {
      assertThat(status.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
      assertThat(status.getDescription()).contains("handlerThreads").contains("all 1 handler");
    }
    assertThat(invalidatesServed).as("refused calls the service saw").hasValue(0);
    assertThat(pool.refusedCount() - refusedBefore).isEqualTo(2);

    release.countDown();
    held.get(10, TimeUnit.SECONDS);
    // The put's answer can reach the test before its thread is back in the pool, so a call sent at
    // once may still be refused; the thread is free again within moments.
    for (int attempt = 0; ; attempt++) {
      try {
        PeerServiceGrpc.newBlockingStub(channel).invalidate(invalidate());
        break;
      } catch (StatusRuntimeException stillBusy) {
        if (stillBusy.getStatus().getCode() != Status.Code.RESOURCE_EXHAUSTED || attempt == 100) {
          throw stillBusy;
        }
        Thread.sleep(10);
      }
    }
    assertThat(invalidatesServed).hasValue(1);
  }

  /**
   * Starts a {@code Put} that holds the one handler thread until {@link #release}. The thread may
   * still be on its way back from the previous call when the put arrives, and a refused put is
   * simply sent again.
   */
  private ListenableFuture<PutResponse> holdTheThread() throws Exception {
    for (int attempt = 0; attempt < 100; attempt++) {
      ListenableFuture<PutResponse> put =
          PeerServiceGrpc.newFutureStub(channel)
              .put(
                  PutRequest.newBuilder()
                      .setCache("c")
                      .setKey(ByteString.copyFromUtf8("k"))
                      .build());
      if (putsHeld.tryAcquire(100, TimeUnit.MILLISECONDS)) {
        return put;
      }
      try {
        put.get(10, TimeUnit.SECONDS);
      } catch (ExecutionException refused) {
        Thread.sleep(10);
      }
    }
    throw new AssertionError("the put never got the handler thread");
  }

  private static InvalidateRequest invalidate() {
    return InvalidateRequest.newBuilder()
        .setCache("c")
        .setKey(ByteString.copyFromUtf8("k"))
        .build();
  }

  private static final class RecordingListener extends ClientCall.Listener<InvalidateResponse> {
    final CompletableFuture<Status> closed = new CompletableFuture<>();

    @Override
    public void onClose(Status status, @Nullable Metadata trailers) {
      closed.complete(status);
    }
  }
}
