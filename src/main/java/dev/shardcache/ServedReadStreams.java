package dev.shardcache;

import dev.shardcache.internal.proto.StreamedGetAnswer;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * The {@code Reads} streams this node serves, so that its shutdown can end them: a stream never
 * ends on its own while both nodes run, and a graceful server shutdown waits for every call in
 * progress, so without this each peer's open stream would hold the shutdown for its whole grace.
 *
 * <p>{@link #close} makes every stream, and every stream opened after it, stop taking reads (each
 * later read is answered {@code UNAVAILABLE}, so its caller falls over to the next holder) and end
 * once the reads it took are answered. Thread-safe.
 */
final class ServedReadStreams {
  private final Set<ServedReads> open = ConcurrentHashMap.newKeySet();
  private volatile boolean closed;

  /** Serves a new stream answering on {@code answers}; see {@link ServedReads}. */
  ServedReads open(
      ServerCallStreamObserver<StreamedGetAnswer> answers,
      ServedReads.Server server,
      CallLimiter.@Nullable HostSlots slots) {
    ServedReads reads = new ServedReads(answers, server, slots, open::remove);
    open.add(reads);
    if (closed) { // close() may have passed before the add: stop it here
      reads.stopTaking();
    }
    return reads;
  }

  /** The streams open now. */
  int count() {
    return open.size();
  }

  /** Stops every stream from taking reads; each ends once its reads are answered. */
  void close() {
    closed = true;
    for (ServedReads reads : open) {
      reads.stopTaking();
    }
  }
}
