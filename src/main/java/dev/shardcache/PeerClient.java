package dev.shardcache;

import com.google.common.base.Ticker;
import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.MoreExecutors;
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
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The channel to one peer, and the peer's reachability as this node sees it.
 *
 * <p>A peer is <em>up</em> until a call to it fails with a transport error (refused, reset,
 * deadline). It is then <em>down</em>: calls are not attempted (callers fall back at once). The
 * first caller after each back-off period starts one {@code Ping} probe in the background and falls
 * back too, so no caller ever waits on a dead peer. The probe waits for the connection (up to
 * {@link #PROBE_TIMEOUT}); its answer brings the peer up, its failure doubles the back-off, up to
 * {@link #MAX_BACKOFF}. So a dead peer costs the callers one failed call in all, and is probed a few
 * times a second at most. State changes are logged once each, never per call.
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
  private final PeerServiceGrpc.PeerServiceFutureStub futureStub;
  private final PeerServiceGrpc.PeerServiceBlockingStub blockingStub;
  private final Ticker ticker;

  private final Object lock = new Object();
  private volatile boolean down;
  private long retryAtNanos; // guarded by lock
  private long backoffNanos = INITIAL_BACKOFF.toNanos(); // guarded by lock
  private boolean probeInFlight; // guarded by lock

  PeerClient(String address, Ticker ticker) {
    this(address, ticker, InsecureChannelCredentials.create(), List.of());
  }

  PeerClient(String address, Ticker ticker, ChannelCredentials credentials,
      List<ClientInterceptor> interceptors) {
    this.address = address;
    this.ticker = ticker;
    HostPort hostPort = HostPort.parse(address);
    this.channel =
        Grpc.newChannelBuilderForAddress(hostPort.host(), hostPort.port(), credentials)
            .intercept(interceptors)
            .maxInboundMessageSize(ShardcacheNode.MAX_MESSAGE_BYTES)
            .userAgent("shardcache")
            // Every callback on this channel is short and non-blocking (loads are handed to the
            // node's executor), so running them on the transport thread saves a thread hop per call.
            .directExecutor()
            .build();
    this.futureStub = PeerServiceGrpc.newFutureStub(channel);
    this.blockingStub = PeerServiceGrpc.newBlockingStub(channel);
  }

  String address() {
    return address;
  }

  PeerServiceGrpc.PeerServiceFutureStub futureStub(Duration timeout) {
    return futureStub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  PeerServiceGrpc.PeerServiceBlockingStub blockingStub(Duration timeout) {
    return blockingStub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /** Makes the channel try to connect now, skipping gRPC's own reconnect back-off. */
  void reconnectNow() {
    channel.resetConnectBackoff();
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
        futureStub
            .withWaitForReady()
            .withDeadlineAfter(PROBE_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS)
            .ping(PingRequest.getDefaultInstance()),
        new FutureCallback<PingResponse>() {
          @Override
          public void onSuccess(PingResponse response) {
            onAnswer();
          }

          @Override
          public void onFailure(Throwable t) {
            Status status = Status.fromThrowable(t);
            if (RemoteErrors.isUnreachable(status) || status.getCode() == Status.Code.CANCELLED) {
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
    logger.log(Level.INFO, "Peer {0} is reachable again; its keys are read from it once more", address);
  }

  /**
   * Records how a call failed: a failure to reach the peer marks it down, any other failure is an
   * answer from it. Returns whether the peer was unreachable.
   */
  boolean recordFailure(Status status) {
    if (RemoteErrors.isUnreachable(status)) {
      onUnreachable(status);
      return true;
    }
    onAnswer();
    return false;
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
    }
  }

  @Override
  public void close() {
    channel.shutdownNow();
  }

  void awaitTermination(Duration timeout) throws InterruptedException {
    channel.awaitTermination(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  @Override
  public String toString() {
    return "PeerClient{" + address + (down ? ", down" : ", up") + "}";
  }
}
