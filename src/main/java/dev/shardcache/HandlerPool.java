package dev.shardcache;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The threads that serve peers' calls (all but {@code Get}, {@code Ping}, {@code Acknowledge} and
 * health checks, see {@link ServingExecutors}), at most {@code handlerThreads} of them, and the
 * refusal of a call that finds them all busy: {@code RESOURCE_EXHAUSTED} naming the setting,
 * answered at once. A call never runs on the transport thread instead, which would stall every call
 * on that event loop behind it.
 *
 * <h2>Idea</h2>
 *
 * Threads are made on demand and never queue a call behind a blocked one (a write blocks its thread
 * for up to half a remote timeout while it waits for replicas; a queue here made busy members look
 * dead), so when every thread is busy the pool rejects. gRPC hands the pool one task per call at a
 * time (its serializing executor drains the call's callbacks in order), and a task it cannot hand
 * over would leave the call's callbacks stranded. So a rejected task is run at once on the thread
 * that offered it, with a thread-local mark that it is refused: the interceptor ({@link #refusals})
 * then closes the call with the refusal instead of passing the callback on, and the service never
 * sees it. What the transport thread runs is only that: parsing a header or a message, the
 * cluster-secret check of the token (so that the refusal proves the secret, as every answer must),
 * and answering the error; never a handler, a codec or a loader.
 *
 * <p>The mark is read only while the rejected task runs, on its thread; a task only runs the
 * callbacks of its own call, so the mark cannot reach another call. A call is refused only before
 * its service has seen it (at its start, at its message, or at its half-close): after that, the
 * callbacks left (ready, complete, cancel) are cheap and pass on, so the interceptor never races
 * the service's own answer.
 *
 * <p>Thread-safe.
 */
final class HandlerPool implements Executor {
  private static final Logger logger = Logger.getLogger(HandlerPool.class.getName());

  /** The refusal of the task running on this thread, or null when it is not refused. */
  private static final ThreadLocal<@Nullable Status> REFUSAL = new ThreadLocal<>();

  private final int threads;
  private final ThreadPoolExecutor pool;
  private final LongAdder refused = new LongAdder();
  private final LogRateLimit logLimit = new LogRateLimit(10_000);

  HandlerPool(int threads) {
    this.threads = threads;
    this.pool =
        new ThreadPoolExecutor(
            0,
            threads,
            60,
            TimeUnit.SECONDS,
            new SynchronousQueue<>(),
            new ThreadFactoryBuilder()
                .setNameFormat("shardcache-handler-%d")
                .setDaemon(true)
                .build(),
            new ThreadPoolExecutor.AbortPolicy());
  }

  /**
   * Runs {@code task} on a handler thread or, if every one is busy (or the node is closing), runs
   * it here with its call refused.
   */
  @Override
  public void execute(Runnable task) {
    try {
      pool.execute(task);
    } catch (RejectedExecutionException rejected) {
      Status refusal = refusal();
      REFUSAL.set(refusal);
      try {
        task.run();
      } finally {
        REFUSAL.remove();
      }
    }
  }

  private Status refusal() {
    if (pool.isShutdown()) {
      return Status.UNAVAILABLE.withDescription("the node is closing");
    }
    return Status.RESOURCE_EXHAUSTED.withDescription(
        "all "
            + threads
            + " handler threads of this node are busy serving calls (its"
            + " ShardcacheNode.Builder.handlerThreads); retry later, or raise handlerThreads");
  }

  /**
   * Closes a call with {@code refusal}, counts it and logs it (at most once per 10 s). Each call is
   * closed once; a refused call's later callbacks may be rejected again, and are not counted.
   */
  private void close(ServerCall<?, ?> call, Status refusal) {
    call.close(refusal, new Metadata());
    if (refusal.getCode() != Status.Code.RESOURCE_EXHAUSTED) {
      return;
    }
    refused.increment();
    if (logLimit.tryPass(System.currentTimeMillis())) {
      logger.log(
          Level.WARNING,
          "Refusing peers'' calls: all {0} handler threads are busy ({1} refused so far); raise"
              + " ShardcacheNode.Builder.handlerThreads if this lasts",
          new Object[] {threads, refused.sum()});
    }
  }

  /** The calls refused because every handler thread was busy. */
  long refusedCount() {
    return refused.sum();
  }

  /**
   * The interceptor that closes a refused call. Whatever runs before it runs on the transport
   * thread for a refused call, so only cheap checks may (the cluster-secret check, whose proof a
   * refusal must carry); the call limiter and the service come after it.
   */
  ServerInterceptor refusals() {
    return new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(
          ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        Status refusal = REFUSAL.get();
        if (refusal != null) {
          close(call, refusal);
          return new ServerCall.Listener<>() {};
        }
        ClosingCall<Q, R> tracked = new ClosingCall<>(call);
        return new Admitted<>(next.startCall(tracked, headers), tracked);
      }
    };
  }

  /** A call that knows whether it was closed, so that a refusal never closes it twice. */
  private static final class ClosingCall<Q, R>
      extends ForwardingServerCall.SimpleForwardingServerCall<Q, R> {
    private final AtomicBoolean closed = new AtomicBoolean();

    ClosingCall(ServerCall<Q, R> call) {
      super(call);
    }

    @Override
    public void close(Status status, Metadata trailers) {
      if (closed.compareAndSet(false, true)) {
        super.close(status, trailers);
      }
    }

    boolean isClosed() {
      return closed.get();
    }
  }

  /** Passes a started call's callbacks on, unless one runs refused (see the class comment). */
  private final class Admitted<Q>
      extends ForwardingServerCallListener.SimpleForwardingServerCallListener<Q> {
    private final ClosingCall<Q, ?> call;
    private volatile boolean turnedAway;

    Admitted(ServerCall.Listener<Q> listener, ClosingCall<Q, ?> call) {
      super(listener);
      this.call = call;
    }

    /** Whether this callback must not reach the service; closes the call the first time. */
    private boolean refuse() {
      if (turnedAway) {
        return true;
      }
      Status refusal = REFUSAL.get();
      if (refusal == null) {
        return false;
      }
      turnedAway = true;
      if (!call.isClosed()) { // an inner interceptor may have refused it already
        close(call, refusal);
      }
      return true;
    }

    @Override
    public void onMessage(Q message) {
      if (!refuse()) {
        super.onMessage(message);
      }
    }

    @Override
    public void onHalfClose() {
      if (!refuse()) {
        super.onHalfClose();
      }
    }

    @Override
    public void onReady() {
      if (!turnedAway) {
        super.onReady();
      }
    }
  }

  void shutdownNow() {
    pool.shutdownNow();
  }
}
