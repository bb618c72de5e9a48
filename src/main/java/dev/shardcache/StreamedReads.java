package dev.shardcache;

import com.google.common.util.concurrent.AbstractFuture;
import com.google.common.util.concurrent.ListenableFuture;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.StreamedGet;
import dev.shardcache.internal.proto.StreamedGetAnswer;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * This node's reads of one peer, carried on one long-lived {@code Reads} stream instead of one
 * {@code Get} call each: a read is one message each way, with no HTTP/2 stream, headers, deadline
 * timer or call objects of its own (the largest cost of a remote read; see docs/performance.md).
 *
 * <p>Each read behaves as a {@code Get} call would for {@link PeerCalls}, which classifies its
 * failure: it fails with the {@link io.grpc.StatusRuntimeException} the peer answered for it; with
 * {@code DEADLINE_EXCEEDED} when its deadline passes (slow, not dead: the stream and the other
 * reads go on, and the peer is told to withdraw it); and, when the stream itself ends (the
 * connection failed or the peer shut down), every read in progress on it fails with the stream's
 * status, and the next read opens a new stream. Cancelling a read's future withdraws it the same
 * way.
 *
 * <p>Thread-safe. {@link #get} never blocks: it sends under a short lock (a gRPC stream observer is
 * not thread-safe), and its future completes on a gRPC transport thread or, past its deadline, on
 * the JVM's one deadline thread.
 */
final class StreamedReads {

  /**
   * How finely read deadlines are kept: a read fails at most this long after its deadline. Reads
   * are swept for expired deadlines once per tick in which one of them is due, instead of each
   * scheduling (and cancelling) a timer of its own, which made the deadline thread wake once per
   * read whenever only one read was in flight (each new timer was the earliest).
   */
  static final Duration DEADLINE_TICK = Duration.ofMillis(10);

  private static final long TICK_NANOS = DEADLINE_TICK.toNanos();
  private static final long ORIGIN = System.nanoTime();

  /** One daemon thread sweeping every peer's reads in the JVM; a sweep only fails futures. */
  private static final ScheduledThreadPoolExecutor SWEEPER = newSweeperThread();

  private final PeerServiceGrpc.PeerServiceStub stub;
  private final int maxAnswerBytes;
  private final AtomicLong ids = new AtomicLong();
  private final Set<Long> sweepsScheduled = ConcurrentHashMap.newKeySet();
  private final Object lock = new Object();
  private volatile @Nullable Stream current; // written under lock

  /**
   * Reads over {@code stub}, whose channel accepts messages of at most {@code maxAnswerBytes} (0:
   * no bound); the peer refuses a larger answer per read instead of sending it and ending the
   * stream.
   */
  StreamedReads(PeerServiceGrpc.PeerServiceStub stub, int maxAnswerBytes) {
    this.stub = stub;
    this.maxAnswerBytes = maxAnswerBytes;
  }

  private static ScheduledThreadPoolExecutor newSweeperThread() {
    ScheduledThreadPoolExecutor thread =
        new ScheduledThreadPoolExecutor(
            1,
            runnable -> {
              Thread t = new Thread(runnable, "shardcache-read-deadlines");
              t.setDaemon(true);
              return t;
            });
    thread.setRemoveOnCancelPolicy(true);
    return thread;
  }

  /**
   * Sends {@code request}; the future fails with {@code DEADLINE_EXCEEDED} after {@code deadline}
   * (up to {@link #DEADLINE_TICK} later).
   */
  ListenableFuture<GetResponse> get(GetRequest request, Duration deadline) {
    long due = System.nanoTime() + deadline.toNanos();
    Read read;
    int attempt = 0;
    do { // a second attempt only if this node could not send at all: the peer never saw the read
      Stream stream = stream();
      read = new Read(stream, ids.incrementAndGet(), due, deadline);
    } while (!read.stream.start(read, request, maxAnswerBytes) && ++attempt < 2);
    sweepAfter(due);
    return read;
  }

  /** Makes sure a sweep runs in the first tick after {@code due}. */
  private void sweepAfter(long due) {
    long tick = (due - ORIGIN) / TICK_NANOS + 1;
    if (sweepsScheduled.add(tick)) {
      SWEEPER.schedule(
          () -> sweep(tick), ORIGIN + tick * TICK_NANOS - System.nanoTime(), TimeUnit.NANOSECONDS);
    }
  }

  /** Fails every read of the open stream whose deadline has passed. */
  private void sweep(long tick) {
    sweepsScheduled.remove(tick);
    Stream stream = current; // the reads of an ended stream have failed with it
    if (stream == null) {
      return;
    }
    long now = System.nanoTime();
    for (Read read : stream.reads.values()) {
      if (now - read.due >= 0) {
        read.fail(
            Status.DEADLINE_EXCEEDED.withDescription(
                "no answer on the read stream within " + read.deadline));
      }
    }
  }

  /** The open stream, or a new one if there is none or it has ended. */
  private Stream stream() {
    Stream open = current;
    if (open != null && open.ended == null) {
      return open;
    }
    synchronized (lock) {
      Stream stream = current;
      if (stream == null || stream.ended != null) {
        stream = new Stream();
        // Opened outside the caller's gRPC context: a read made while serving a peer's call (a
        // forwarded read) would otherwise tie the stream to that call, and the call's end or
        // deadline would cancel the stream and every read on it.
        Stream opening = stream;
        Context.ROOT.run(() -> stub.reads(opening)); // calls beforeStart: keeps the request side
        // Published only now, started: the unlocked path above must never hand out a stream
        // without its request side (a read sent on it would go nowhere and wait out its deadline).
        current = stream;
      }
      return stream;
    }
  }

  /** One read in progress: completes once, then leaves its stream's map. */
  private static final class Read extends AbstractFuture<GetResponse> {
    private final Stream stream;
    private final long id;
    private final long due;
    private final Duration deadline;
    private volatile boolean answeredByPeer;

    Read(Stream stream, long id, long due, Duration deadline) {
      this.stream = stream;
      this.id = id;
      this.due = due;
      this.deadline = deadline;
    }

    boolean fail(Status status) {
      return setException(status.asRuntimeException());
    }

    void answer(GetResponse response) {
      answeredByPeer = true;
      set(response);
    }

    void refuse(Status status) {
      answeredByPeer = true;
      fail(status);
    }

    @Override
    protected void afterDone() {
      stream.reads.remove(id, this);
      if (!answeredByPeer) { // its deadline passed or its caller gave up: the peer may stop
        stream.withdraw(id);
      }
    }
  }

  /** One {@code Reads} call; reads go to the newest one, and each ends with its own stream. */
  private static final class Stream
      implements ClientResponseObserver<StreamedGet, StreamedGetAnswer> {
    final ConcurrentMap<Long, Read> reads = new ConcurrentHashMap<>();
    volatile @Nullable Status ended;
    private @Nullable ClientCallStreamObserver<StreamedGet> requests; // guarded by this

    @Override
    public void beforeStart(ClientCallStreamObserver<StreamedGet> requests) {
      synchronized (this) {
        this.requests = requests;
      }
    }

    /**
     * Sends {@code read}. Returns false, with the read discarded and this stream marked ended, if
     * this node could not send on the stream at all (its call was cancelled here); otherwise the
     * read is on its way, or failed with the stream's end.
     */
    boolean start(Read read, GetRequest request, int maxAnswerBytes) {
      reads.put(read.id, read);
      StreamedGet message =
          StreamedGet.newBuilder()
              .setId(read.id)
              .setGet(request)
              .setMaxAnswerBytes(maxAnswerBytes)
              .build();
      RuntimeException broken = send(message);
      if (broken != null) {
        reads.remove(read.id, read);
        // Nothing more goes through this stream: its other reads fail now (no sweep looks at a
        // replaced stream), and the next read opens a new one.
        end(
            Status.UNAVAILABLE
                .withDescription("the read stream could not be written on this node")
                .withCause(broken));
        return false;
      }
      // The stream may have ended before the send, or between the put and the send without seeing
      // this read.
      Status why = ended;
      if (why != null) {
        read.fail(why);
      }
      return true;
    }

    /** Tells the peer to withdraw read {@code id}, unless the stream has ended. */
    void withdraw(long id) {
      if (ended == null) {
        // If it cannot be written, the call is gone and with it anything left to stop.
        RuntimeException ignored = send(StreamedGet.newBuilder().setId(id).setCancel(true).build());
      }
    }

    /**
     * Sends {@code message} unless the stream has ended; returns what writing it threw (the call
     * was cancelled on this node), or null.
     */
    private @Nullable RuntimeException send(StreamedGet message) {
      synchronized (this) {
        ClientCallStreamObserver<StreamedGet> out = requests;
        if (out == null || ended != null) {
          return null;
        }
        try {
          out.onNext(message);
          return null;
        } catch (RuntimeException e) {
          return e;
        }
      }
    }

    @Override
    public void onNext(StreamedGetAnswer answer) {
      Read read = reads.get(answer.getId());
      if (read == null) {
        return; // withdrawn: its deadline passed, or its caller gave up
      }
      if (answer.getCode() == 0) {
        read.answer(answer.getResponse());
      } else {
        read.refuse(
            Status.fromCodeValue(answer.getCode()).withDescription(answer.getDescription()));
      }
    }

    @Override
    public void onError(Throwable t) {
      end(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
      end(Status.UNAVAILABLE.withDescription("the peer ended the read stream"));
    }

    private void end(Status status) {
      ended = status;
      for (Read read : reads.values()) {
        read.fail(status);
      }
    }
  }
}
