package dev.shardcache;

import com.google.protobuf.MessageLite;
import io.grpc.Attributes;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;

/**
 * A call whose cluster token covers its request message, and whose answer must prove the secret.
 *
 * <h2>Deferred start</h2>
 *
 * gRPC sends a call's headers when the call starts, before its message; but the token in the
 * headers must name the message's digest. So this call holds {@code start} back: it keeps the
 * listener, the headers and any {@code request(n)} and compression setting, and starts the real
 * call in the first {@code sendMessage} (or {@code halfClose}, with an empty body), once it has
 * serialized the message, signed it, and put the token in the headers. The message is serialized
 * once: the real call is made with a byte-array marshaller and sent the very bytes the digest
 * covers.
 *
 * <p>{@code request} and {@code cancel} may come from any thread. Until the real call has started
 * and its buffered requests are passed on, they are buffered under a lock; after, passed straight
 * on. A cancel before the real call starts never starts it, and the listener hears {@code
 * CANCELLED} once, from the cancelling thread.
 *
 * <h2>Checking the answer</h2>
 *
 * The listener takes the server's proof from the response headers or, for an answer of trailers
 * only (an error before any header), from the trailers. Messages that arrive without a proof are
 * dropped; an end without a proof becomes {@code UNAUTHENTICATED}, unless the call ended without
 * any answer: {@code UNAVAILABLE} or {@code CANCELLED} (which callers also treat as an unreachable
 * peer), or {@code DEADLINE_EXCEEDED} once the deadline has passed (slow, not an impostor: an
 * impostor's early {@code DEADLINE_EXCEEDED} is refused). A refused answer keeps the peer's status
 * and description in its own.
 */
final class SignedClientCall<Q, R> extends ClientCall<Q, R> {
  private static final Map<MethodDescriptor<?, ?>, MethodDescriptor<byte[], ?>> AS_BYTES =
      new ConcurrentHashMap<>();

  private enum State {
    NEW,
    STARTING,
    STARTED
  }

  private final PeerAuthentication auth;
  private final MethodDescriptor<Q, R> method;
  private final CallOptions options;
  private final ClientCall<byte[], R> delegate;
  private final String caller;
  private final String target;
  private final @Nullable Deadline contextDeadline = Context.current().getDeadline();

  private final Object lock = new Object();
  private State state = State.NEW; // guarded by lock
  private @Nullable Proving listener; // guarded by lock
  private @Nullable Metadata headers; // guarded by lock
  private int requested; // guarded by lock, while not STARTED
  private @Nullable Boolean compression; // guarded by lock, while not STARTED
  private @Nullable Status cancelled; // guarded by lock
  private boolean cancelPending; // guarded by lock: cancelled while STARTING

  @SuppressWarnings("unchecked")
  SignedClientCall(
      PeerAuthentication auth,
      MethodDescriptor<Q, R> method,
      CallOptions options,
      Channel next,
      String caller) {
    this.auth = auth;
    this.method = method;
    this.options = options;
    MethodDescriptor<byte[], R> bytes =
        (MethodDescriptor<byte[], R>)
            AS_BYTES.computeIfAbsent(
                method,
                m -> m.toBuilder(BytesMarshaller.INSTANCE, m.getResponseMarshaller()).build());
    this.delegate = next.newCall(bytes, options);
    this.caller = caller;
    this.target = next.authority();
  }

  @Override
  public void start(Listener<R> responseListener, Metadata requestHeaders) {
    Proving proving = new Proving(responseListener);
    Status early;
    synchronized (lock) {
      if (listener != null) {
        throw new IllegalStateException("call already started");
      }
      listener = proving;
      headers = requestHeaders;
      early = cancelled;
    }
    if (early != null) {
      proving.closeOnce(early, new Metadata());
    }
  }

  @Override
  public void request(int numMessages) {
    synchronized (lock) {
      if (state != State.STARTED) {
        requested += numMessages;
        return;
      }
    }
    delegate.request(numMessages);
  }

  @Override
  public void setMessageCompression(boolean enabled) {
    synchronized (lock) {
      if (state != State.STARTED) {
        compression = enabled;
        return;
      }
    }
    delegate.setMessageCompression(enabled);
  }

  @Override
  public void sendMessage(Q message) {
    byte[] body;
    if (message instanceof MessageLite lite) {
      body = lite.toByteArray(); // what the protobuf marshaller would write
    } else {
      try (InputStream in = method.streamRequest(message)) {
        body = in.readAllBytes();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    if (startOnce(body)) {
      delegate.sendMessage(body);
    }
  }

  @Override
  public void halfClose() {
    if (startOnce(new byte[0])) {
      delegate.halfClose();
    }
  }

  /** Starts the real call, signed for {@code body}, if not yet; false if the call was cancelled. */
  private boolean startOnce(byte[] body) {
    Proving proving;
    Metadata startHeaders;
    synchronized (lock) {
      if (cancelled != null) {
        return false;
      }
      if (listener == null || headers == null) {
        throw new IllegalStateException("call not started");
      }
      if (state != State.NEW) {
        return true;
      }
      state = State.STARTING;
      proving = listener;
      startHeaders = headers;
    }
    String token = auth.token(method.getFullMethodName(), auth.now(), caller, target, body);
    startHeaders.discardAll(PeerAuthentication.TOKEN);
    startHeaders.put(PeerAuthentication.TOKEN, token);
    proving.token = token;
    delegate.start(proving, startHeaders);
    while (true) {
      int n;
      Boolean compress;
      boolean cancel;
      synchronized (lock) {
        n = requested;
        compress = compression;
        cancel = cancelPending;
        requested = 0;
        compression = null;
        cancelPending = false;
        if (n == 0 && compress == null && !cancel) {
          state = State.STARTED;
          return cancelled == null;
        }
      }
      if (compress != null) {
        delegate.setMessageCompression(compress);
      }
      if (n > 0) {
        delegate.request(n);
      }
      if (cancel) {
        Status status = cancelledStatus();
        delegate.cancel(status.getDescription(), status.getCause());
      }
    }
  }

  private Status cancelledStatus() {
    synchronized (lock) {
      return cancelled == null ? Status.CANCELLED : cancelled;
    }
  }

  @Override
  public void cancel(@Nullable String message, @Nullable Throwable cause) {
    Status status = Status.CANCELLED.withDescription(message).withCause(cause);
    Proving early;
    synchronized (lock) {
      if (cancelled != null) {
        return;
      }
      cancelled = status;
      if (state == State.STARTING) {
        cancelPending = true; // the starting thread passes it on once the real call has started
        return;
      }
      early = state == State.NEW ? listener : null;
      if (state == State.NEW && early == null) {
        return; // start() will end the call
      }
    }
    if (early != null) {
      early.closeOnce(status, new Metadata()); // the real call never starts
    } else {
      delegate.cancel(message, cause);
    }
  }

  @Override
  public boolean isReady() {
    synchronized (lock) {
      if (state != State.STARTED) {
        return false;
      }
    }
    return delegate.isReady();
  }

  @Override
  public Attributes getAttributes() {
    return delegate.getAttributes();
  }

  /** Whether a call that ended with {@code status} may have had no answer at all. */
  private boolean endedWithoutAnswer(Status status) {
    return switch (status.getCode()) {
      case UNAVAILABLE, CANCELLED -> true;
      case DEADLINE_EXCEEDED -> expired(options.getDeadline()) || expired(contextDeadline);
      default -> false;
    };
  }

  private static boolean expired(@Nullable Deadline deadline) {
    return deadline != null && deadline.isExpired();
  }

  /** Passes the answer on only if it proves the secret; ends the call once. */
  private final class Proving extends Listener<R> {
    private final Listener<R> next;
    private final AtomicBoolean closed = new AtomicBoolean();
    volatile @Nullable String token;
    private boolean proven; // read and written on the call's executor, in order

    Proving(Listener<R> next) {
      this.next = next;
    }

    private boolean proves(Metadata metadata) {
      String sent = token;
      return sent != null && auth.verifyReply(sent, metadata.get(PeerAuthentication.REPLY));
    }

    @Override
    public void onHeaders(Metadata responseHeaders) {
      proven = proven || proves(responseHeaders);
      next.onHeaders(responseHeaders);
    }

    @Override
    public void onMessage(R message) {
      if (proven) {
        next.onMessage(message);
      } // else dropped: the end of the call refuses the answer
    }

    @Override
    public void onReady() {
      next.onReady();
    }

    @Override
    public void onClose(Status status, Metadata trailers) {
      proven = proven || proves(trailers);
      if (proven || endedWithoutAnswer(status) || status.getCode() == Status.Code.UNAUTHENTICATED) {
        closeOnce(status, trailers); // the peer's own refusal keeps its description
        return;
      }
      auth.count(PeerAuthentication.Refusal.UNPROVEN_REPLY);
      closeOnce(
          Status.UNAUTHENTICATED
              .withDescription(
                  "peer "
                      + target
                      + " answered "
                      + status.getCode()
                      + (status.getDescription() == null
                          ? ""
                          : " (" + status.getDescription() + ")")
                      + " without proving the cluster secret; is it a member configured with the same secret?")
              .withCause(status.getCause()),
          trailers);
    }

    void closeOnce(Status status, Metadata trailers) {
      if (closed.compareAndSet(false, true)) {
        next.onClose(status, trailers);
      }
    }
  }

  /** Requests already serialized: the bytes the token's digest covers are the bytes sent. */
  enum BytesMarshaller implements MethodDescriptor.Marshaller<byte[]> {
    INSTANCE;

    @Override
    public InputStream stream(byte[] value) {
      return new KnownLengthBytes(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  /**
   * Lets gRPC frame the message without copying it first to learn its length ({@link KnownLength}),
   * and write it in one piece ({@link Drainable}): gRPC copies a stream that cannot drain itself
   * through a fresh 8 KiB buffer, which was the largest allocation of a signed call (see
   * docs/performance.md).
   */
  private static final class KnownLengthBytes extends ByteArrayInputStream
      implements KnownLength, Drainable {
    KnownLengthBytes(byte[] bytes) {
      super(bytes);
    }

    @Override
    public synchronized int drainTo(OutputStream target) throws IOException {
      int length = count - pos;
      target.write(buf, pos, length);
      pos = count;
      return length;
    }
  }
}
