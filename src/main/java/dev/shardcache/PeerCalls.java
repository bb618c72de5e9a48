package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.PeerServiceGrpc.PeerServiceFutureStub;
import io.grpc.Status;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * The one policy every call from this node to a peer goes through: reads, writes, forwarding,
 * fetches, replication, hand-off and anti-entropy alike. A call
 *
 * <ol>
 *   <li>is <em>acquired</em>: a peer that is down (see {@link PeerClient}) is not called at all,
 *       and the call fails at once as unreachable, so no caller waits on a dead peer;
 *   <li>is <em>counted</em> (calls, failures) in the caller's {@link Counter};
 *   <li>runs with its own <em>deadline</em>, and is tracked by the peer's client, so that the
 *       failure detector can cancel it when it gives up on the peer;
 *   <li>has its failure <em>classified</em> as {@link Failure#UNREACHABLE} (refused, reset,
 *       cancelled, unauthenticated: the peer is marked down and the caller may fall over to the
 *       next holder), {@link Failure#SLOW} (the deadline expired: the peer keeps its keys, nobody
 *       falls over, a write's outcome is unknown) or {@link Failure#REFUSED} (the peer answered
 *       with an error: it is up, and the error is mapped by {@link RemoteErrors}).
 * </ol>
 *
 * <p>One call does not go through here: a client-only node's {@code Subscribe} stream ({@link
 * Subscription}), which has no deadline and no answer to classify; it lives as long as both nodes,
 * and its end only drops the client's copies and starts the next one after a back-off. Nothing
 * waits on it, so it cannot hold a caller on a dead peer.
 *
 * <p>"Slow is not dead" is the invariant this class exists for: a deadline never marks a peer down,
 * never makes a caller load a key a second time and never reports a write as not applied. Only the
 * heartbeats' failure detector removes a member from the ring.
 *
 * <p>Futures returned here complete on a gRPC transport thread: continuations must be short and
 * must not block (hand loads and blocking work to an executor). Cancelling one cancels its RPC
 * (without counting a failure or marking the peer down). Thread-safe; stateless.
 */
final class PeerCalls {

  private PeerCalls() {}

  /** How a call failed. */
  enum Failure {
    /** The peer could not be reached; it is marked down until it answers again. */
    UNREACHABLE,
    /** The call outlived its deadline; the peer is alive as far as this call can tell. */
    SLOW,
    /** The peer answered with an error. */
    REFUSED
  }

  /** Counts a caller's calls and their failures. */
  interface Counter {
    void callStarted();

    void callFailed();

    Counter NONE =
        new Counter() {
          @Override
          public void callStarted() {}

          @Override
          public void callFailed() {}
        };
  }

  /** Starts one RPC on a stub that already carries the deadline. */
  interface Rpc<R> {
    ListenableFuture<R> start(PeerServiceFutureStub stub);
  }

  /** A peer call that failed, with its classification. Internal: callers map it for users. */
  static final class PeerCallException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String peer;
    private final Failure failure;
    private final transient Status status;

    PeerCallException(String peer, Failure failure, Status status) {
      super(
          peer
              + ": "
              + status.getCode()
              + (status.getDescription() == null ? "" : ": " + status.getDescription()),
          status.getCause(),
          false,
          false);
      this.peer = peer;
      this.failure = failure;
      this.status = status;
    }

    String peer() {
      return peer;
    }

    Failure failure() {
      return failure;
    }

    Status status() {
      return status;
    }

    boolean isUnreachable() {
      return failure == Failure.UNREACHABLE;
    }

    /** The exception a user sees for a write that failed this way on its last holder tried. */
    ShardcacheException forWrite(String cache, String operation, Duration deadline) {
      return switch (failure) {
        case UNREACHABLE ->
            new PeerUnavailableException(
                peer,
                operation
                    + " of cache '"
                    + cache
                    + "' not applied: holder "
                    + peer
                    + " could not be reached ("
                    + status.getCode()
                    + describe(status)
                    + "); retry",
                this);
        case SLOW ->
            new OutcomeUnknownException(
                peer,
                operation
                    + " of cache '"
                    + cache
                    + "': holder "
                    + peer
                    + " did not answer within "
                    + deadline
                    + "; a holder that"
                    + " answers heartbeats is slow, not down, so the write may or may not have been"
                    + " applied: read the key, or repeat the write",
                this);
        case REFUSED -> RemoteErrors.fromStatus(status, peer, cache);
      };
    }

    /** The exception a user sees for a read that failed this way. */
    ShardcacheException forRead(String cache, boolean loading, Duration deadline) {
      return switch (failure) {
        case SLOW ->
            loading
                ? new CacheLoadException(
                    "owner "
                        + peer
                        + " of a key of cache '"
                        + cache
                        + "' did not finish loading it within loadTimeout "
                        + deadline
                        + "; the load goes"
                        + " on there and is kept when it ends: retry later, or raise loadTimeout",
                    this)
                : new ShardcacheException(
                    "peer "
                        + peer
                        + " did not answer a read of cache '"
                        + cache
                        + "' within remoteTimeout "
                        + deadline
                        + "; it answers heartbeats, so it is slow,"
                        + " not down: retry later",
                    this);
        case UNREACHABLE, REFUSED -> forWrite(cache, "read", deadline);
      };
    }
  }

  /**
   * Calls {@code peer} (null: not a configured peer, which fails as unreachable) with a deadline
   * {@code deadline} from now. The future fails only with {@link PeerCallException}.
   */
  static <R> CompletableFuture<R> call(
      @Nullable PeerClient peer, String address, Duration deadline, Counter counter, Rpc<R> rpc) {
    return call(peer, address, deadline, counter, rpc, false);
  }

  /**
   * Like {@link #call}, for a read: the call is also abandoned (fails as unreachable, so the reader
   * falls over to the next holder) when the failure detector gives up on the peer, instead of
   * waiting out a long load deadline on a peer that is gone. Writes are never abandoned: a write
   * already sent has an unknown outcome, which only its deadline may report.
   */
  static <R> CompletableFuture<R> read(
      @Nullable PeerClient peer, String address, Duration deadline, Counter counter, Rpc<R> rpc) {
    return call(peer, address, deadline, counter, rpc, true);
  }

  /**
   * A single-key read of {@code peer} ({@link PeerClient#get}: on its read stream, or as a {@code
   * Get} call), under the same policy as {@link #read} if {@code abandonable}, else as {@link
   * #call}.
   */
  static CompletableFuture<GetResponse> get(
      @Nullable PeerClient peer,
      String address,
      Duration deadline,
      Counter counter,
      GetRequest request,
      boolean abandonable) {
    return call(peer, address, counter, client -> client.get(request, deadline), abandonable);
  }

  private static <R> CompletableFuture<R> call(
      @Nullable PeerClient peer,
      String address,
      Duration deadline,
      Counter counter,
      Rpc<R> rpc,
      boolean abandonable) {
    return call(
        peer, address, counter, client -> rpc.start(client.futureStub(deadline)), abandonable);
  }

  private static <R> CompletableFuture<R> call(
      @Nullable PeerClient peer,
      String address,
      Counter counter,
      Function<PeerClient, ListenableFuture<R>> rpc,
      boolean abandonable) {
    if (peer == null || !peer.tryAcquire()) {
      return CompletableFuture.failedFuture(
          new PeerCallException(
              address,
              Failure.UNREACHABLE,
              Status.UNAVAILABLE.withDescription(
                  peer == null
                      ? "not a configured peer of this node"
                      : "marked down after a failed call; probed in the background")));
    }
    counter.callStarted();
    CompletableFuture<R> result = new CompletableFuture<>();
    ListenableFuture<R> call;
    try {
      call = rpc.apply(peer);
    } catch (RuntimeException e) {
      counter.callFailed();
      return CompletableFuture.failedFuture(
          new PeerCallException(address, Failure.UNREACHABLE, Status.fromThrowable(e)));
    }
    if (abandonable) {
      peer.track(call);
    }
    // A caller that cancels the returned future (a scan closed early) cancels the RPC too, so the
    // peer stops working on an answer nobody will read.
    result.whenComplete(
        (response, failure) -> {
          if (result.isCancelled()) {
            call.cancel(true); // a gRPC future cancels its RPC on the wire only when interrupting
          }
        });
    Futures.addCallback(
        call,
        new FutureCallback<R>() {
          @Override
          public void onSuccess(@Nullable R response) {
            peer.untrack(call);
            peer.onAnswer();
            // gRPC completes a unary call with its one response, never null.
            result.complete(requireNonNull(response, "a unary call's response"));
          }

          @Override
          public void onFailure(Throwable t) {
            peer.untrack(call);
            if (result.isCancelled()) {
              return; // the caller cancelled it: not a failure of the call, nor of the peer
            }
            counter.callFailed();
            if (t instanceof CancellationException) {
              // Abandoned because the failure detector suspects the peer: it has left the ring, so
              // routing already avoids it; the reader falls over, and the peer's state is the
              // detector's business.
              result.completeExceptionally(
                  new PeerCallException(
                      address,
                      Failure.UNREACHABLE,
                      Status.CANCELLED.withDescription(
                          "abandoned: the failure detector suspects the peer")));
              return;
            }
            Status status = Status.fromThrowable(t);
            Failure failure = classify(status);
            switch (failure) {
              case UNREACHABLE -> peer.onUnreachable(status);
              case REFUSED -> peer.onAnswer();
              case SLOW -> {} // the failure detector, not a deadline, decides that a peer is down
            }
            result.completeExceptionally(new PeerCallException(address, failure, status));
          }
        },
        MoreExecutors.directExecutor());
    return result;
  }

  static Failure classify(Status status) {
    if (RemoteErrors.isUnreachable(status)) {
      return Failure.UNREACHABLE;
    }
    return RemoteErrors.isSlow(status) ? Failure.SLOW : Failure.REFUSED;
  }

  /**
   * Waits for {@code future}, rethrowing its failure as is (a {@link PeerCallException}, or the
   * runtime exception or error it failed with).
   */
  static <T> T await(CompletableFuture<T> future) {
    try {
      return future.get();
    } catch (ExecutionException | CompletionException e) {
      throw rethrow(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ShardcacheException("interrupted while waiting for a peer", e);
    }
  }

  /** The outcome of one call of a fan-out: a response, or the failure. */
  record Outcome<R>(@Nullable R response, @Nullable PeerCallException failure) {}

  /**
   * Waits for every call of a fan-out and returns each outcome, in the map's order. Never throws
   * for a failed call; an interrupt is rethrown as {@link ShardcacheException}.
   */
  static <R> Map<String, Outcome<R>> awaitAll(Map<String, CompletableFuture<R>> calls) {
    Map<String, Outcome<R>> outcomes = new LinkedHashMap<>();
    for (Map.Entry<String, CompletableFuture<R>> call : calls.entrySet()) {
      outcomes.put(call.getKey(), awaitOutcome(call.getValue()));
    }
    return outcomes;
  }

  /**
   * Waits for one call of a fan-out and returns its outcome. Never throws for a failed call; an
   * interrupt is rethrown as {@link ShardcacheException}.
   */
  static <R> Outcome<R> awaitOutcome(CompletableFuture<R> call) {
    try {
      return new Outcome<>(call.get(), null);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof PeerCallException failed) {
        return new Outcome<>(null, failed);
      }
      throw rethrow(cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ShardcacheException("interrupted while waiting for peers", e);
    }
  }

  static RuntimeException rethrow(@Nullable Throwable cause) {
    if (cause instanceof RuntimeException re) {
      return re;
    }
    if (cause instanceof Error error) {
      throw error;
    }
    return new ShardcacheException("call failed: " + cause, cause);
  }

  private static String describe(Status status) {
    return status.getDescription() == null ? "" : ": " + status.getDescription();
  }
}
