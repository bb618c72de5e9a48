package dev.shardcache;

import dev.shardcache.internal.proto.PeerServiceGrpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import java.util.concurrent.Executor;
import org.jspecify.annotations.Nullable;

/**
 * Which thread serves a peer's call: a {@code Get} on the transport thread that read it, every
 * other call on the bounded handler pool.
 *
 * <p>A {@code Get} never blocks its thread: a hit answers from the shard at once, a miss hands its
 * load or its copy search to the node's load executor (which refuses, never waits, when full; see
 * {@link LoadFlights}), and a forwarded read is an asynchronous call. So handing it to a handler
 * thread buys nothing and costs a thread hop each way (a queue hand-off, a wake-up of the handler,
 * and a wake-up of the event loop to write the answer), which was the largest single cost of a
 * remote read (see docs/performance.md). A client-only member's {@code Acknowledge} only completes
 * the futures writes wait on, so it stays on the transport thread too. Writes, fetches, replication
 * and the rest may block (a write waits for its replicas) and keep to the handler pool and its
 * bound.
 *
 * <p>The server must be built with a direct executor for this to take effect: gRPC looks the method
 * up on the server's executor, then moves the call to the executor chosen here ({@code null}: stay
 * where the lookup ran).
 *
 * <p>Thread-safe; stateless but for the pool it hands out.
 */
final class ServingExecutors implements ServerCallExecutorSupplier {
  private static final String GET = PeerServiceGrpc.getGetMethod().getFullMethodName();
  private static final String ACKNOWLEDGE =
      PeerServiceGrpc.getAcknowledgeMethod().getFullMethodName();

  private final Executor handlers;

  ServingExecutors(Executor handlers) {
    this.handlers = handlers;
  }

  @Override
  public <Q, R> @Nullable Executor getExecutor(ServerCall<Q, R> call, Metadata headers) {
    String method = call.getMethodDescriptor().getFullMethodName();
    return GET.equals(method) || ACKNOWLEDGE.equals(method) ? null : handlers;
  }
}
