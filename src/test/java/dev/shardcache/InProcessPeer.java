package dev.shardcache;

import com.google.common.base.Ticker;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PingRequest;
import dev.shardcache.internal.proto.PingResponse;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.ReplicateResponse;
import dev.shardcache.internal.proto.StreamedGet;
import dev.shardcache.internal.proto.StreamedGetAnswer;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * A peer served over gRPC's in-process transport, whose answers to {@code Get}, {@code Replicate}
 * and {@code Ping} a test decides call by call: answer, fail with a status, stay silent, or answer
 * later when the test says so. It records what it received and how many of its calls the caller
 * cancelled.
 *
 * <p>Server and channels run callbacks on the calling thread ({@code directExecutor}), so a call
 * answered at once completes before the call that started it returns: the tests need no sleeps. The
 * address is a unique "host:port", so it passes {@link HostPort} validation and can be a {@link
 * Cluster} member; the same name can be served again after {@link #stop()}, as a restarted peer.
 *
 * <p>{@link #close()} stops the server and every channel of every client made by {@link #client}.
 */
final class InProcessPeer implements AutoCloseable {

  /** What the peer does with one call. */
  static final class Reply<R> {
    private final @Nullable CompletableFuture<Reply<R>> later;
    private final @Nullable R response;
    private final @Nullable Status status;

    private Reply(
        @Nullable CompletableFuture<Reply<R>> later,
        @Nullable R response,
        @Nullable Status status) {
      this.later = later;
      this.response = response;
      this.status = status;
    }

    /** Answers {@code response}. */
    static <R> Reply<R> answer(R response) {
      return new Reply<>(null, response, null);
    }

    /** Fails the call with {@code status}. */
    static <R> Reply<R> fail(Status status) {
      return new Reply<>(null, null, status);
    }

    /** Never answers: the call ends by its deadline or when either side cancels it. */
    static <R> Reply<R> silence() {
      return new Reply<>(new CompletableFuture<>(), null, null);
    }

    /** Answers with whatever {@code gate} completes with, when it does. */
    static <R> Reply<R> when(CompletableFuture<Reply<R>> gate) {
      return new Reply<>(gate, null, null);
    }
  }

  private final String address;
  private final List<ManagedChannel> channels = new CopyOnWriteArrayList<>();
  private @Nullable Server server;

  volatile Function<GetRequest, Reply<GetResponse>> onGet =
      request -> Reply.answer(GetResponse.newBuilder().setFound(true).build());
  volatile Function<ReplicateRequest, Reply<ReplicateResponse>> onReplicate =
      request -> Reply.answer(ReplicateResponse.getDefaultInstance());
  volatile Function<PingRequest, Reply<PingResponse>> onPing;

  final List<GetRequest> gets = new CopyOnWriteArrayList<>();
  final List<ReplicateRequest> replicates = new CopyOnWriteArrayList<>();
  final List<Long> replicateArrivalNanos = new CopyOnWriteArrayList<>();
  final AtomicInteger pings = new AtomicInteger();

  /** Every {@code Reads} stream callers opened, in order. */
  final List<StreamObserver<StreamedGetAnswer>> readStreams = new CopyOnWriteArrayList<>();

  /** Calls the caller cancelled or let run past their deadline while this peer kept silent. */
  final AtomicInteger cancelled = new AtomicInteger();

  private InProcessPeer(String address) {
    this.address = address;
    this.onPing = request -> Reply.answer(PingResponse.newBuilder().setAddress(address).build());
  }

  /** Starts a peer under a fresh unique address whose name starts with {@code name}. */
  static InProcessPeer start(String name) {
    InProcessPeer peer =
        new InProcessPeer(name + "-" + InProcessServerBuilder.generateName() + ":7000");
    peer.serve();
    return peer;
  }

  /**
   * Like {@link #start}, but not serving yet: calls to it fail as UNAVAILABLE until {@link #serve}.
   */
  static InProcessPeer unstarted(String name) {
    return new InProcessPeer(name + "-" + InProcessServerBuilder.generateName() + ":7000");
  }

  String address() {
    return address;
  }

  /** Serves the address (again, after {@link #stop()}). */
  synchronized InProcessPeer serve() {
    if (server != null) {
      throw new IllegalStateException("already serving " + address);
    }
    try {
      server =
          InProcessServerBuilder.forName(address)
              .directExecutor()
              .addService(new Service())
              .build()
              .start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return this;
  }

  /** Stops serving, cancelling the calls in progress: the peer is gone. */
  synchronized void stop() throws InterruptedException {
    if (server != null) {
      server.shutdownNow();
      server.awaitTermination(5, TimeUnit.SECONDS);
      server = null;
    }
  }

  /** A new channel to this peer; closed with the peer. */
  ManagedChannel channel() {
    ManagedChannel channel = InProcessChannelBuilder.forName(address).directExecutor().build();
    channels.add(channel);
    return channel;
  }

  /** A client of this peer, as {@link PeerClient} makes for a real one; closed with the peer. */
  PeerClient client(Ticker ticker) {
    return new PeerClient(address, ticker, channel(), channel());
  }

  /** The keys of every entry this peer received by {@code Replicate}, in arrival order. */
  List<String> replicatedKeys() {
    List<String> keys = new ArrayList<>();
    for (ReplicateRequest request : replicates) {
      request
          .getBatchesList()
          .forEach(
              batch ->
                  batch.getEntriesList().forEach(entry -> keys.add(entry.getKey().toStringUtf8())));
    }
    return keys;
  }

  /** Ends every {@code Reads} stream opened so far with {@code status}, as a failing peer would. */
  void endReadStreams(Status status) {
    for (StreamObserver<StreamedGetAnswer> stream : readStreams) {
      try {
        stream.onError(status.asRuntimeException());
      } catch (RuntimeException alreadyEnded) {
        // ended before
      }
    }
  }

  @Override
  public void close() throws InterruptedException {
    stop();
    for (ManagedChannel channel : channels) {
      channel.shutdownNow();
    }
    for (ManagedChannel channel : channels) {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Override
  public String toString() {
    return "InProcessPeer{" + address + "}";
  }

  private final class Service extends PeerServiceGrpc.PeerServiceImplBase {
    @Override
    public void get(GetRequest request, StreamObserver<GetResponse> observer) {
      gets.add(request);
      answer(onGet.apply(request), observer);
    }

    /** Each read of the stream is scripted as a {@code Get} call is, by {@link #onGet}. */
    @Override
    public StreamObserver<StreamedGet> reads(StreamObserver<StreamedGetAnswer> answers) {
      readStreams.add(answers);
      return new ServedReads(
          (ServerCallStreamObserver<StreamedGetAnswer>) answers,
          (request, interest) -> {
            gets.add(request);
            CompletableFuture<GetResponse> answer = new CompletableFuture<>();
            interest.onCancel(
                () -> {
                  if (!answer.isDone()) {
                    cancelled.incrementAndGet();
                  }
                });
            settle(onGet.apply(request), answer);
            return answer;
          },
          null);
    }

    @Override
    public void replicate(ReplicateRequest request, StreamObserver<ReplicateResponse> observer) {
      replicateArrivalNanos.add(System.nanoTime());
      replicates.add(request);
      answer(onReplicate.apply(request), observer);
    }

    @Override
    public void ping(PingRequest request, StreamObserver<PingResponse> observer) {
      pings.incrementAndGet();
      answer(onPing.apply(request), observer);
    }
  }

  private <R> void answer(Reply<R> reply, StreamObserver<R> observer) {
    // With a cancel handler set, answering a call already cancelled is a no-op, not an error.
    ((ServerCallStreamObserver<R>) observer).setOnCancelHandler(cancelled::incrementAndGet);
    reply(reply, observer);
  }

  private static <R> void settle(Reply<R> reply, CompletableFuture<R> answer) {
    if (reply.later != null) {
      reply.later.thenAccept(now -> settle(now, answer));
    } else if (reply.status != null) {
      answer.completeExceptionally(reply.status.asRuntimeException());
    } else {
      answer.complete(reply.response);
    }
  }

  private static <R> void reply(Reply<R> reply, StreamObserver<R> call) {
    if (reply.later != null) {
      reply.later.thenAccept(now -> reply(now, call));
    } else if (reply.status != null) {
      call.onError(reply.status.asRuntimeException());
    } else {
      call.onNext(reply.response);
      call.onCompleted();
    }
  }
}
