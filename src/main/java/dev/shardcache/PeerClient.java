package dev.shardcache;

import com.google.common.base.Ticker;
import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PingRequest;
import dev.shardcache.internal.proto.PingResponse;
import io.grpc.ChannelCredentials;
import io.grpc.ClientInterceptor;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The channels to one peer, and the peer's reachability as this node sees it.
 *
 * <p>Two channels, two connections: one for data calls and one for heartbeats and probes, so a ping
 * never queues behind large replication batches or slow loads on the same connection, and a busy
 * peer is not taken for a dead one. Single-key reads go on one long-lived stream on the data
 * connection ({@link StreamedReads}) unless the cluster has a secret.
 *
 * <p>A peer is <em>up</em> until a call to it fails because it could not be reached (refused,
 * reset, authentication failed: see {@link PeerCalls}); a call that merely runs past its deadline
 * says the peer is slow, not down, and changes nothing here. A down peer: calls are not attempted
 * (callers fall back at once). The first caller after each back-off period starts one {@code Ping}
 * probe in the background and falls back too, so no caller ever waits on a dead peer. The probe
 * waits for the connection (up to {@link #PROBE_TIMEOUT}); its answer brings the peer up, its
 * failure doubles the back-off, up to {@link #MAX_BACKOFF}. So a dead peer costs the callers one
 * failed call in all, and is probed a few times a second at most. State changes are logged once
 * each, never per call.
 *
 * <p>Thread-safe. The up path is one volatile read.
 */
final class PeerClient implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(PeerClient.class.getName());

  static final Duration INITIAL_BACKOFF = Duration.ofMillis(200);
  static final Duration MAX_BACKOFF = Duration.ofSeconds(5);
  static final Duration PROBE_TIMEOUT = Duration.ofSeconds(2);

  private final String address;
  private final ManagedChannel channel;
  private final ManagedChannel controlChannel;
  private final PeerServiceGrpc.PeerServiceFutureStub futureStub;
  private final PeerServiceGrpc.PeerServiceFutureStub controlStub;
  private final PeerServiceGrpc.PeerServiceStub streamStub;
  private final Ticker ticker;
  private final @Nullable StreamedReads reads;

  /** Calls in progress, cancelled when the failure detector gives up on the peer. */
  private final Set<Future<?>> inFlight = ConcurrentHashMap.newKeySet();

  private final Object lock = new Object();
  private volatile boolean down;
  private long retryAtNanos; // guarded by lock
  private long backoffNanos = INITIAL_BACKOFF.toNanos(); // guarded by lock
  private boolean probeInFlight; // guarded by lock

  PeerClient(String address, Ticker ticker) {
    this(
        address,
        ticker,
        InsecureChannelCredentials.create(),
        List.of(),
        ShardcacheNode.MAX_MESSAGE_BYTES);
  }

  /**
   * A client whose channels accept answers of at most {@code maxInboundMessageBytes} (the node's
   * own inbound cap); a larger answer fails the call with {@code RESOURCE_EXHAUSTED}.
   */
  PeerClient(
      String address,
      Ticker ticker,
      ChannelCredentials credentials,
      List<ClientInterceptor> interceptors,
      int maxInboundMessageBytes) {
    this(
        address,
        ticker,
        newChannel(address, credentials, interceptors, maxInboundMessageBytes),
        newChannel(address, credentials, interceptors, maxInboundMessageBytes),
        // The only client interceptor is the cluster secret's signer, whose token covers the one
        // request message of a call: the later messages of a stream would go unsigned, and the
        // peer refuses them. So with a secret each read stays a signed Get call.
        interceptors.isEmpty(),
        maxInboundMessageBytes);
  }

  /** A client over the given channels; tests pass in-process channels here. */
  PeerClient(String address, Ticker ticker, ManagedChannel channel, ManagedChannel controlChannel) {
    this(address, ticker, channel, controlChannel, true, 0);
  }

  private PeerClient(
      String address,
      Ticker ticker,
      ManagedChannel channel,
      ManagedChannel controlChannel,
      boolean streamReads,
      int maxInboundMessageBytes) {
    this.address = address;
    this.ticker = ticker;
    this.channel = channel;
    this.controlChannel = controlChannel;
    this.futureStub = PeerServiceGrpc.newFutureStub(channel);
    this.controlStub = PeerServiceGrpc.newFutureStub(controlChannel);
    this.streamStub = PeerServiceGrpc.newStub(channel);
    this.reads = streamReads ? new StreamedReads(streamStub, maxInboundMessageBytes) : null;
  }

  private static ManagedChannel newChannel(
      String address,
      ChannelCredentials credentials,
      List<ClientInterceptor> interceptors,
      int maxInboundMessageBytes) {
    HostPort hostPort = HostPort.parse(address);
    return Grpc.newChannelBuilderForAddress(hostPort.host(), hostPort.port(), credentials)
        .intercept(interceptors)
        .maxInboundMessageSize(maxInboundMessageBytes)
        .userAgent("shardcache")
        // Every callback on this channel is short and non-blocking (loads are handed to the
        // node's executor), so running them on the transport thread saves a thread hop per call.
        .directExecutor()
        .build();
  }

  String address() {
    return address;
  }

  PeerServiceGrpc.PeerServiceFutureStub futureStub(Duration timeout) {
    return futureStub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /**
   * Reads one key of the peer with a deadline {@code timeout} from now: on the peer's long-lived
   * {@code Reads} stream ({@link StreamedReads}), or, with a cluster secret, as a signed {@code
   * Get} call. Either way the future fails with the {@link io.grpc.StatusRuntimeException} a {@code
   * Get} call would have ended with.
   */
  ListenableFuture<GetResponse> get(GetRequest request, Duration timeout) {
    StreamedReads streamed = reads;
    return streamed != null ? streamed.get(request, timeout) : futureStub(timeout).get(request);
  }

  /**
   * A stub for a client-only node's {@code Subscribe} stream, on the data connection and without a
   * deadline: the stream lasts as long as both nodes run (see {@link Subscription}).
   */
  PeerServiceGrpc.PeerServiceStub streamStub() {
    return streamStub;
  }

  /** The stub of the heartbeat connection, with a deadline {@code timeout} from now. */
  PeerServiceGrpc.PeerServiceFutureStub controlStub(Duration timeout) {
    return controlStub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /** Tracks a call in progress until it completes, so {@link #abandonCalls} can cancel it. */
  @SuppressWarnings("CollectionUndefinedEquality") // tracked by identity, Future's own equals
  void track(Future<?> call) {
    inFlight.add(call);
    if (call.isDone()) {
      inFlight.remove(call);
    }
  }

  /** Stops tracking a completed call. */
  @SuppressWarnings("CollectionUndefinedEquality") // tracked by identity, Future's own equals
  void untrack(Future<?> call) {
    inFlight.remove(call);
  }

  /**
   * Cancels every call in progress to this peer: the failure detector decided it is gone, so a
   * caller waiting for its answer (a slow load, say) falls over now instead of at its deadline.
   */
  void abandonCalls() {
    for (Future<?> call : inFlight) {
      call.cancel(true); // a gRPC future cancels its RPC on the wire only when asked to interrupt
    }
  }

  /** Makes the heartbeat channel try to connect now, skipping gRPC's own reconnect back-off. */
  void resetControlBackoff() {
    controlChannel.resetConnectBackoff();
  }

  /** Makes the channels try to connect now, skipping gRPC's own reconnect back-off. */
  void reconnectNow() {
    channel.resetConnectBackoff();
    controlChannel.resetConnectBackoff();
  }

  /** Whether the peer is currently considered reachable. */
  boolean isUp() {
    return !down;
  }

  /**
   * Returns whether a call may be made now: true while the peer is up. While it is down this
   * returns false, and starts a background probe if the back-off period has passed.
   */
  boolean tryAcquire() {
    if (!down) {
      return true;
    }
    synchronized (lock) {
      if (!down) {
        return true;
      }
      if (probeInFlight || ticker.read() - retryAtNanos < 0) {
        return false;
      }
      probeInFlight = true;
    }
    probe();
    return false;
  }

  private void probe() {
    // gRPC has its own reconnect back-off (up to two minutes); the probe should connect now.
    channel.resetConnectBackoff();
    Futures.addCallback(
        futureStub // the data connection: a probe's answer means data calls work again
            .withWaitForReady()
            .withDeadlineAfter(PROBE_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS)
            .ping(PingRequest.getDefaultInstance()),
        new FutureCallback<PingResponse>() {
          @Override
          public void onSuccess(@Nullable PingResponse response) {
            onAnswer();
          }

          @Override
          public void onFailure(Throwable t) {
            Status status = Status.fromThrowable(t);
            // The probe waits for a connection: running out of time means there was none.
            if (RemoteErrors.isUnreachable(status) || RemoteErrors.isSlow(status)) {
              onUnreachable(status);
            } else {
              onAnswer(); // it answered, if only with an error
            }
          }
        },
        MoreExecutors.directExecutor());
  }

  /** Records that the peer answered (successfully or with an application error). */
  void onAnswer() {
    if (!down) {
      return;
    }
    synchronized (lock) {
      if (!down) {
        return;
      }
      down = false;
      probeInFlight = false;
      backoffNanos = INITIAL_BACKOFF.toNanos();
    }
    logger.log(
        Level.INFO, "Peer {0} is reachable again; its keys are read from it once more", address);
  }

  /** Records that a call failed because the peer could not be reached. */
  void onUnreachable(Status status) {
    boolean wentDown = false;
    synchronized (lock) {
      if (!down) {
        down = true;
        wentDown = true;
        backoffNanos = INITIAL_BACKOFF.toNanos();
      } else if (probeInFlight) {
        backoffNanos = Math.min(backoffNanos * 2, MAX_BACKOFF.toNanos());
      } else {
        return; // a call issued before the peer went down; the state already reflects it
      }
      probeInFlight = false;
      long jitter = ThreadLocalRandom.current().nextLong(backoffNanos / 5 + 1);
      retryAtNanos = ticker.read() + backoffNanos + jitter;
    }
    if (wentDown) {
      logger.log(
          Level.WARNING,
          "Peer {0} is unreachable ({1}: {2}); reads of its keys load locally and writes to it fail"
              + " until it answers again (retried with back-off up to {3})",
          new Object[] {address, status.getCode(), status.getDescription(), MAX_BACKOFF});
      if (status.getCause() != null) {
        logger.log(Level.FINE, "Why peer " + address + " is unreachable", status.getCause());
      }
    }
  }

  @Override
  public void close() {
    channel.shutdownNow();
    controlChannel.shutdownNow();
  }

  void awaitTermination(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    channel.awaitTermination(timeout.toNanos(), TimeUnit.NANOSECONDS);
    controlChannel.awaitTermination(
        Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
  }

  @Override
  public String toString() {
    return "PeerClient{" + address + (down ? ", down" : ", up") + "}";
  }
}
