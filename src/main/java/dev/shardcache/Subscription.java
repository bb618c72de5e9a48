package dev.shardcache;

import dev.shardcache.internal.proto.Invalidations;
import dev.shardcache.internal.proto.SubscribeRequest;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.jspecify.annotations.Nullable;

/**
 * A client-only node's link to one member's invalidations: at most one {@code Subscribe} stream at
 * a time, and when to open the next one after it ends.
 *
 * <p>States: <em>idle</em> (no stream; the next may open once {@link #retryAt} has passed),
 * <em>opening</em> (a stream was started; the member has not confirmed it yet) and <em>open</em>
 * (the member has registered the stream and sent its id: every write it applies from now on is
 * pushed here). Only the stream a link started last counts: the events of a stream it replaced or
 * cancelled are ignored, so a late callback can never reopen the gate ({@link Subscriptions}).
 *
 * <p>After a stream ends, the next waits a back-off: {@value #INITIAL_BACKOFF_MILLIS} ms, doubled
 * after each stream that ended without opening, up to {@value #MAX_BACKOFF_MILLIS} ms, with up to a
 * fifth more at random so that many clients of a restarted member do not come back at once.
 *
 * <p>Thread-safe: the stream's callbacks (gRPC threads) and the subscriptions' tick meet under this
 * object's lock, which is never held while calling out.
 */
final class Subscription {
  static final long INITIAL_BACKOFF_MILLIS = 100;
  static final long MAX_BACKOFF_MILLIS = 5_000;

  /** What happens on a link, told to the subscriptions; called on gRPC threads, never blocking. */
  interface Events {
    void opened(Subscription link);

    void pushed(Subscription link, long subscription, Invalidations message);

    void ended(Subscription link, Set<String> caches, Status status);
  }

  private enum State {
    IDLE,
    OPENING,
    OPEN
  }

  private final String member;
  private final Events events;
  private State state = State.IDLE; // guarded by this
  private @Nullable Stream current; // guarded by this
  private long retryAtNanos = System.nanoTime(); // guarded by this
  private long backoffMillis = INITIAL_BACKOFF_MILLIS; // guarded by this

  Subscription(String member, Events events) {
    this.member = member;
    this.events = events;
  }

  String member() {
    return member;
  }

  /** Whether a stream is open for every cache of {@code caches}. */
  synchronized boolean isOpenFor(Set<String> caches) {
    Stream stream = current;
    return state == State.OPEN && stream != null && stream.caches.containsAll(caches);
  }

  /** Whether a stream is open or opening for exactly {@code caches}. */
  synchronized boolean carries(Set<String> caches) {
    Stream stream = current;
    return state != State.IDLE && stream != null && stream.caches.equals(caches);
  }

  /** Whether no stream runs. */
  synchronized boolean isIdle() {
    return state == State.IDLE;
  }

  /** Whether no stream runs and the back-off has passed. */
  synchronized boolean mayOpen(long nowNanos) {
    return state == State.IDLE && nowNanos - retryAtNanos >= 0;
  }

  /**
   * Opens a stream for {@code caches} over {@code client}, replacing (cancelling) the one running,
   * if any; the replaced stream's copies are dropped by the gate's closing, since this link is not
   * open again until the member confirms the new one.
   */
  void open(PeerClient client, String self, Set<String> caches) {
    Stream fresh = new Stream(Set.copyOf(caches));
    Stream replaced;
    synchronized (this) {
      replaced = current;
      current = fresh;
      state = State.OPENING;
    }
    if (replaced != null) {
      replaced.cancel("replaced by a subscription to " + caches);
    }
    SubscribeRequest request =
        SubscribeRequest.newBuilder().setCaller(self).addAllCaches(fresh.caches).build();
    try {
      client.streamStub().subscribe(request, fresh);
    } catch (RuntimeException e) {
      fresh.onError(Status.fromThrowable(e).asRuntimeException());
    }
  }

  /** Cancels the stream, if any, and leaves the link idle: the member left, or the node closes. */
  void close() {
    Stream stream;
    synchronized (this) {
      stream = current;
      current = null;
      state = State.IDLE;
    }
    if (stream != null) {
      stream.cancel("the subscription is closed");
    }
  }

  /** One {@code Subscribe} call; its events count only while it is the link's current stream. */
  private final class Stream implements ClientResponseObserver<SubscribeRequest, Invalidations> {
    final Set<String> caches;
    private volatile @Nullable ClientCallStreamObserver<SubscribeRequest> call;
    private volatile long id;

    Stream(Set<String> caches) {
      this.caches = caches;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<SubscribeRequest> requestStream) {
      call = requestStream;
    }

    void cancel(String why) {
      ClientCallStreamObserver<SubscribeRequest> started = call;
      if (started != null) {
        started.cancel(why, null);
      }
    }

    @Override
    public void onNext(Invalidations message) {
      if (id == 0) {
        if (message.getSubscription() == 0) {
          return; // a member always names the subscription first; nothing to act on before
        }
        id = message.getSubscription();
        synchronized (Subscription.this) {
          if (current != this) {
            return;
          }
          state = State.OPEN;
          backoffMillis = INITIAL_BACKOFF_MILLIS;
        }
        events.opened(Subscription.this);
        return;
      }
      synchronized (Subscription.this) {
        if (current != this) {
          return;
        }
      }
      events.pushed(Subscription.this, id, message);
    }

    @Override
    public void onError(Throwable t) {
      end(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
      end(Status.UNAVAILABLE.withDescription("member " + member + " ended the subscription"));
    }

    private void end(Status status) {
      synchronized (Subscription.this) {
        if (current != this) {
          return;
        }
        current = null;
        state = State.IDLE;
        long jitter = ThreadLocalRandom.current().nextLong(backoffMillis / 5 + 1);
        retryAtNanos = System.nanoTime() + Duration.ofMillis(backoffMillis + jitter).toNanos();
        if (id == 0) {
          backoffMillis = Math.min(backoffMillis * 2, MAX_BACKOFF_MILLIS);
        }
      }
      events.ended(Subscription.this, caches, status);
    }
  }

  @Override
  public String toString() {
    return "Subscription{" + member + "}";
  }
}
