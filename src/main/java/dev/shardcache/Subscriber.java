package dev.shardcache;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.Invalidations;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * One client-only member's {@code Subscribe} stream, on the member that serves it: the messages
 * waiting for the transport, and the acknowledgements writes wait for.
 *
 * <p>Its invariants:
 *
 * <ul>
 *   <li><b>Bounded.</b> A message waits here only while gRPC's flow control says the client is not
 *       ready for more, and at most {@code maxQueuedBytes} wait (counting each message's size plus
 *       {@value #MESSAGE_OVERHEAD_BYTES}); a message larger than that waits only alone. A push past
 *       the bound ends the stream with {@code RESOURCE_EXHAUSTED}: a subscriber that cannot keep up
 *       is dropped, never buffered without bound. The client, seeing its stream end, drops every
 *       copy the stream guarded and subscribes again, so dropping a message this way never leaves a
 *       stale copy behind.
 *   <li><b>In order, one thread at a time.</b> Messages leave in the order they were pushed, and
 *       ack numbers grow along the stream; every call on the gRPC stream is made under this
 *       object's lock (gRPC's server calls are not thread-safe), and none of them blocks.
 *   <li><b>Every wait ends.</b> A future {@link #push} returned completes when the client
 *       acknowledges its number or a later one, or when the stream ends for any reason: the client
 *       then drops all its copies itself, so there is nothing left to wait for. The writer bounds
 *       its wait in any case ({@link Replication#replicaTimeout()}).
 * </ul>
 *
 * <p>Thread-safe.
 */
final class Subscriber {
  /** What a queued message counts besides its serialized size. */
  static final int MESSAGE_OVERHEAD_BYTES = 64;

  private final long id;
  private final String caller;
  private final Set<String> caches;
  private final ServerCallStreamObserver<Invalidations> call;
  private final int maxQueuedBytes;
  private final Runnable onEnd;

  private final Object lock = new Object();
  private final ArrayDeque<Invalidations> queue = new ArrayDeque<>(); // guarded by lock
  private long queuedBytes; // guarded by lock
  private boolean ended; // guarded by lock
  private long lastAck; // guarded by lock
  private final NavigableMap<Long, CompletableFuture<Void>> waiting = new TreeMap<>(); // lock

  /**
   * Registers the stream's handlers and queues the first message (the subscription's id): every
   * message pushed after this constructor returns follows it. {@code onEnd} runs once when the
   * stream ends, whichever side ends it.
   */
  Subscriber(
      long id,
      String caller,
      Set<String> caches,
      ServerCallStreamObserver<Invalidations> call,
      int maxQueuedBytes,
      Runnable onEnd) {
    this.id = id;
    this.caller = caller;
    this.caches = Set.copyOf(caches);
    this.call = call;
    this.maxQueuedBytes = maxQueuedBytes;
    this.onEnd = onEnd;
    Invalidations hello = Invalidations.newBuilder().setSubscription(id).build();
    queue.add(hello);
    queuedBytes = size(hello);
    call.setOnReadyHandler(this::drain);
    call.setOnCancelHandler(this::cancelled);
  }

  long id() {
    return id;
  }

  String caller() {
    return caller;
  }

  /** Whether the client asked for the invalidations of {@code cache}. */
  boolean wants(String cache) {
    return caches.contains(cache);
  }

  /**
   * Sends the client an invalidation of {@code keys} of {@code cache} (of the whole cache with
   * {@code all}). With {@code acknowledged}, returns a future that completes when the client has
   * dropped its copies (or the stream ended); without, returns null. Never blocks.
   */
  @Nullable CompletableFuture<Void> push(
      String cache, List<ByteString> keys, boolean all, boolean acknowledged) {
    Invalidations.Builder message =
        Invalidations.newBuilder().setCache(cache).addAllKeys(keys).setAll(all);
    CompletableFuture<Void> confirmed = null;
    boolean overflow;
    synchronized (lock) {
      if (ended) {
        return acknowledged ? CompletableFuture.completedFuture(null) : null;
      }
      if (acknowledged) {
        message.setAck(++lastAck);
        confirmed = new CompletableFuture<>();
        waiting.put(lastAck, confirmed);
      }
      Invalidations built = message.build();
      int bytes = size(built);
      overflow = !queue.isEmpty() && queuedBytes + bytes > maxQueuedBytes;
      if (!overflow) {
        queue.add(built);
        queuedBytes += bytes;
      }
    }
    if (overflow) {
      end(
          Status.RESOURCE_EXHAUSTED.withDescription(
              "subscriber "
                  + caller
                  + " fell more than "
                  + maxQueuedBytes
                  + " bytes of invalidations behind and was dropped; it drops its near copies and"
                  + " subscribes again"));
      return confirmed;
    }
    drain();
    return confirmed;
  }

  /** Confirms every ack number up to {@code ack}: the writes waiting for them may answer. */
  void acknowledge(long ack) {
    List<CompletableFuture<Void>> done;
    synchronized (lock) {
      Map<Long, CompletableFuture<Void>> upTo = waiting.headMap(ack, true);
      done = new ArrayList<>(upTo.values());
      upTo.clear();
    }
    done.forEach(future -> future.complete(null));
  }

  /** Sends what the transport is ready for, starting with the first message. */
  void start() {
    drain();
  }

  /** Hands the transport what it is ready for, in order. */
  private void drain() {
    synchronized (lock) {
      while (!ended && !queue.isEmpty() && call.isReady()) {
        Invalidations next = queue.poll();
        queuedBytes -= size(next);
        try {
          call.onNext(next);
        } catch (RuntimeException cancelled) {
          return; // the client went away; the cancel handler ends the subscription
        }
      }
    }
  }

  /** Ends the stream from this side with {@code status}: too slow, or this node is closing. */
  void end(Status status) {
    synchronized (lock) {
      if (ended) {
        return;
      }
      ended = true;
      queue.clear();
      queuedBytes = 0;
      try {
        call.onError(status.asRuntimeException());
      } catch (RuntimeException alreadyClosed) {
        // the client went away meanwhile
      }
    }
    afterEnd();
  }

  /** The client cancelled, or its connection broke. */
  private void cancelled() {
    synchronized (lock) {
      if (ended) {
        return;
      }
      ended = true;
      queue.clear();
      queuedBytes = 0;
    }
    afterEnd();
  }

  private void afterEnd() {
    List<CompletableFuture<Void>> done;
    synchronized (lock) {
      done = new ArrayList<>(waiting.values());
      waiting.clear();
    }
    done.forEach(future -> future.complete(null));
    onEnd.run();
  }

  private static int size(Invalidations message) {
    return message.getSerializedSize() + MESSAGE_OVERHEAD_BYTES;
  }

  @Override
  public String toString() {
    return "Subscriber{" + caller + ", " + Long.toHexString(id) + "}";
  }
}
