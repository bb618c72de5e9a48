package dev.shardcache;

import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.StreamedGet;
import dev.shardcache.internal.proto.StreamedGetAnswer;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * The serving side of one {@code Reads} stream: each {@link StreamedGet} is served as a {@code Get}
 * call would be ({@code serve}, with its own {@link CallInterest}) and answered by exactly one
 * {@link StreamedGetAnswer} carrying its id, whatever the outcome.
 *
 * <ul>
 *   <li><b>Bounded as calls are.</b> Each read takes a slot of the calling host's calls in progress
 *       ({@link CallLimiter.HostSlots}) until it is answered or withdrawn; past the bound it is
 *       answered {@code RESOURCE_EXHAUSTED} at once and nothing is served.
 *   <li><b>Withdrawn as calls are cancelled.</b> A {@code cancel} message, or the end of the
 *       stream, cancels a read's interest (loads it would start and have not are skipped) and gives
 *       its slot back at once, as a cancelled call's slot is, even while a load it joined runs on;
 *       a withdrawn read is normally not answered and no longer holds up the end of a half-closed
 *       stream.
 *   <li><b>An answer over the caller's size limit fails its read, not the stream</b>: it is
 *       answered {@code RESOURCE_EXHAUSTED} ("exceeds maximum size"), as the call would have been.
 *   <li><b>Bad messages fail one read, not the stream.</b> A message without a read, or reusing the
 *       id of a read in progress, is answered {@code INVALID_ARGUMENT} under its id; the reads in
 *       progress are untouched.
 *   <li><b>Ends cleanly.</b> When the caller half-closes, the stream is completed once every read
 *       it sent has been answered.
 * </ul>
 *
 * <p>Messages arrive on the transport thread (see {@link ServingExecutors}); answers are sent from
 * whichever thread completes a read (the transport thread for a hit, a load thread for a load), one
 * at a time under a lock, since a gRPC stream observer is not thread-safe. Never blocks beyond that
 * lock.
 */
final class ServedReads implements StreamObserver<StreamedGet> {

  /** Serves one read: what {@code PeerService.get} does for a call. */
  interface Server {
    CompletableFuture<GetResponse> serve(GetRequest request, CallInterest interest);
  }

  private final ServerCallStreamObserver<StreamedGetAnswer> answers;
  private final Server server;
  private final CallLimiter.@Nullable HostSlots slots;
  private final Consumer<ServedReads> onEnd;
  private volatile boolean stopped;
  private final ConcurrentMap<Long, Pending> inProgress = new ConcurrentHashMap<>();

  /** A read being served: ends once, answered or withdrawn, and gives its slot back then. */
  private static final class Pending {
    final CallInterest interest = new CallInterest();
    private final AtomicBoolean settled = new AtomicBoolean();

    /** Whether this call ended the read (first of answer and withdrawal). */
    boolean settle() {
      return settled.compareAndSet(false, true);
    }
  }

  private final Object sendLock = new Object();
  private boolean halfClosed; // guarded by sendLock
  private boolean ended; // guarded by sendLock

  /**
   * A stream answering on {@code answers}; {@code slots} null when the server has no call limiter
   * (in-process tests), in which case reads are not bounded here.
   */
  ServedReads(
      ServerCallStreamObserver<StreamedGetAnswer> answers,
      Server server,
      CallLimiter.@Nullable HostSlots slots) {
    this(answers, server, slots, reads -> {});
  }

  /** As above, and calls {@code onEnd} when the stream has ended, either way (maybe twice). */
  ServedReads(
      ServerCallStreamObserver<StreamedGetAnswer> answers,
      Server server,
      CallLimiter.@Nullable HostSlots slots,
      Consumer<ServedReads> onEnd) {
    this.answers = answers;
    this.server = server;
    this.slots = slots;
    this.onEnd = onEnd;
    answers.setOnCancelHandler(this::cancelAll);
  }

  /**
   * The node is shutting down: reads from now on are answered {@code UNAVAILABLE}, and the stream
   * ends once the reads it took are answered.
   */
  void stopTaking() {
    stopped = true;
    synchronized (sendLock) {
      halfClosed = true;
      completeIfDone();
    }
  }

  @Override
  public void onNext(StreamedGet message) {
    long id = message.getId();
    if (message.getCancel()) {
      Pending pending = inProgress.get(id);
      if (pending != null) {
        withdraw(id, pending);
      }
      return;
    }
    if (stopped) {
      send(
          id,
          Status.UNAVAILABLE.withDescription(
              "this node is shutting down; read the key from another holder"));
      return;
    }
    if (!message.hasGet()) {
      send(
          id,
          Status.INVALID_ARGUMENT.withDescription("a StreamedGet needs get unless cancel is set"));
      return;
    }
    Pending pending = new Pending();
    if (inProgress.putIfAbsent(id, pending) != null) {
      send(
          id,
          Status.INVALID_ARGUMENT.withDescription(
              "read id " + id + " is already in progress on this stream; pick unused ids"));
      return;
    }
    Status refusal = slots == null ? null : slots.tryAcquire();
    if (refusal != null) {
      inProgress.remove(id, pending);
      send(id, refusal);
      return;
    }
    CompletableFuture<GetResponse> read;
    try {
      read = server.serve(message.getGet(), pending.interest);
    } catch (RuntimeException e) {
      read = CompletableFuture.failedFuture(e);
    }
    int maxAnswerBytes = message.getMaxAnswerBytes();
    Completions.whenDone(
        read, (response, failure) -> answer(id, pending, maxAnswerBytes, response, failure));
  }

  /** Withdraws a read: cancels its interest and gives its slot back; it will not be answered. */
  private void withdraw(long id, Pending pending) {
    // Settled before the interest is cancelled: cancelling can complete the read at once (a load
    // abandoned before it started), and that completion must find the read withdrawn.
    if (!pending.settle()) {
      return; // answered already
    }
    pending.interest.cancel();
    if (slots != null) {
      slots.release();
    }
    synchronized (sendLock) {
      inProgress.remove(id, pending);
      completeIfDone();
    }
  }

  private void answer(
      long id,
      Pending pending,
      int maxAnswerBytes,
      @Nullable GetResponse response,
      @Nullable Throwable failure) {
    if (!pending.settle()) {
      return; // withdrawn: its slot is back, and its caller dropped it
    }
    if (slots != null) {
      slots.release(); // before the answer, so the caller's next read finds the slot free
    }
    StreamedGetAnswer answer;
    if (failure == null && response != null) {
      answer = StreamedGetAnswer.newBuilder().setId(id).setResponse(response).build();
      if (maxAnswerBytes > 0 && answer.getSerializedSize() > maxAnswerBytes) {
        answer =
            refusal(
                id,
                Status.RESOURCE_EXHAUSTED.withDescription(
                    "the answer exceeds maximum size "
                        + maxAnswerBytes
                        + " of the caller: "
                        + answer.getSerializedSize()
                        + " bytes"));
      }
    } else {
      Throwable cause =
          failure instanceof CompletionException && failure.getCause() != null
              ? failure.getCause()
              : failure;
      answer =
          refusal(
              id,
              RemoteErrors.toStatus(cause == null ? new IllegalStateException("no answer") : cause)
                  .getStatus());
    }
    synchronized (sendLock) {
      // Under the lock with the send, so that a half-closed stream is not completed between this
      // read leaving the map and its answer going out.
      inProgress.remove(id, pending);
      sendLocked(answer);
    }
  }

  private void send(long id, Status status) {
    synchronized (sendLock) {
      sendLocked(refusal(id, status));
    }
  }

  private static StreamedGetAnswer refusal(long id, Status status) {
    StreamedGetAnswer.Builder answer =
        StreamedGetAnswer.newBuilder().setId(id).setCode(status.getCode().value());
    if (status.getDescription() != null) {
      answer.setDescription(status.getDescription());
    }
    return answer.build();
  }

  private void sendLocked(StreamedGetAnswer answer) {
    if (ended) {
      return; // the caller went away: nobody is left to answer
    }
    try {
      answers.onNext(answer);
    } catch (RuntimeException cancelled) {
      ended = true;
      onEnd.accept(this);
      return;
    }
    completeIfDone();
  }

  /** The caller half-closed: no more reads will come. */
  @Override
  public void onCompleted() {
    synchronized (sendLock) {
      halfClosed = true;
      completeIfDone();
    }
  }

  /** The stream failed or was cancelled: nobody will read the answers. */
  @Override
  public void onError(Throwable t) {
    cancelAll();
  }

  private void completeIfDone() { // holding sendLock
    if (halfClosed && !ended && inProgress.isEmpty()) {
      ended = true;
      onEnd.accept(this);
      try {
        answers.onCompleted();
      } catch (RuntimeException cancelled) {
        // the caller went away meanwhile
      }
    }
  }

  private void cancelAll() {
    synchronized (sendLock) {
      ended = true;
    }
    onEnd.accept(this);
    inProgress.forEach(this::withdraw);
  }
}
