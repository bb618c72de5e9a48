package dev.shardcache;

import dev.shardcache.internal.proto.PeerServiceGrpc;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;

/**
 * Bounds the calls in progress from each remote host: past {@code maxPerPeer}, a new call is
 * answered {@code RESOURCE_EXHAUSTED} at once, before it reaches the service, so one misbehaving or
 * flooding peer cannot occupy every handler thread. Thread-safe; counters are removed when they
 * drop to zero, so the map holds only hosts with calls in progress.
 *
 * <p>A client-only member's {@code Subscribe} stream is not counted: it lasts as long as the
 * client, holds no thread, and has a bound of its own ({@link Subscribers}), so counting it would
 * only take a slot from the host's calls for good (several clients on one host, one slot each).
 *
 * <p>A {@code Reads} stream is not counted either; each read it carries is, as a {@code Get} call
 * would be: the stream's serving side ({@link ServedReads}) takes a slot per read from the {@link
 * HostSlots} this interceptor puts in the call's {@link Context} ({@link #SLOTS}), and answers a
 * read past the bound {@code RESOURCE_EXHAUSTED}, so moving reads onto streams neither loosens the
 * bound nor lets a peer multiply it by opening more streams.
 */
final class CallLimiter implements ServerInterceptor {
  private static final String SUBSCRIBE = PeerServiceGrpc.getSubscribeMethod().getFullMethodName();
  private static final String READS = PeerServiceGrpc.getReadsMethod().getFullMethodName();

  /** The slots of the calling host, in the context of a {@code Reads} stream. */
  static final Context.Key<HostSlots> SLOTS = Context.key("shardcache-host-slots");

  /** The calls-in-progress slots of one remote host. Thread-safe. */
  interface HostSlots {
    /** Takes a slot, or returns the refusal to answer with when the host has none left. */
    @Nullable Status tryAcquire();

    /** Gives back a slot {@link #tryAcquire} took. */
    void release();
  }

  private final int maxPerPeer;
  private final ConcurrentMap<String, AtomicInteger> inFlight = new ConcurrentHashMap<>();
  private final LongAdder refused = new LongAdder();

  CallLimiter(int maxPerPeer) {
    this.maxPerPeer = maxPerPeer;
  }

  long refusedCount() {
    return refused.sum();
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    String method = call.getMethodDescriptor().getFullMethodName();
    if (SUBSCRIBE.equals(method)) {
      return next.startCall(call, headers);
    }
    String host = hostOf(call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR));
    if (READS.equals(method)) {
      HostSlots slots =
          new HostSlots() {
            @Override
            public @Nullable Status tryAcquire() {
              return CallLimiter.this.tryAcquire(host);
            }

            @Override
            public void release() {
              CallLimiter.this.release(host);
            }
          };
      return Contexts.interceptCall(Context.current().withValue(SLOTS, slots), call, headers, next);
    }
    Status refusal = tryAcquire(host);
    if (refusal != null) {
      call.close(refusal, new Metadata());
      return new ServerCall.Listener<>() {};
    }
    AtomicBoolean released = new AtomicBoolean();
    Runnable release =
        () -> {
          if (released.compareAndSet(false, true)) {
            release(host);
          }
        };
    ServerCall<Q, R> tracked =
        new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
          @Override
          public void close(Status status, Metadata trailers) {
            release.run();
            super.close(status, trailers);
          }
        };
    ServerCall.Listener<Q> listener;
    try {
      listener = next.startCall(tracked, headers);
    } catch (RuntimeException e) {
      release.run();
      throw e;
    }
    return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onCancel() {
        release.run();
        super.onCancel();
      }

      @Override
      public void onComplete() {
        release.run();
        super.onComplete();
      }
    };
  }

  /** Takes a slot of {@code host}, or returns the refusal when it has none left. */
  private @Nullable Status tryAcquire(String host) {
    AtomicInteger counter =
        inFlight.compute(
            host,
            (h, c) -> {
              AtomicInteger count = c == null ? new AtomicInteger() : c;
              count.incrementAndGet();
              return count;
            });
    if (counter.get() <= maxPerPeer) {
      return null;
    }
    release(host);
    refused.increment();
    return Status.RESOURCE_EXHAUSTED.withDescription(
        "more than "
            + maxPerPeer
            + " calls in progress from "
            + host
            + "; retry later, or raise"
            + " ShardcacheNode.Builder.maxConcurrentCallsPerPeer");
  }

  private void release(String host) {
    inFlight.computeIfPresent(host, (h, c) -> c.decrementAndGet() == 0 ? null : c);
  }

  private static String hostOf(SocketAddress address) {
    if (address instanceof InetSocketAddress inet) {
      return inet.getAddress() == null ? inet.getHostString() : inet.getAddress().getHostAddress();
    }
    return String.valueOf(address);
  }
}
