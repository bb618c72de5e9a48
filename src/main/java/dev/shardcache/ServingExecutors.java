package dev.shardcache;

import dev.shardcache.internal.proto.PeerServiceGrpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import java.util.concurrent.Executor;
import org.jspecify.annotations.Nullable;

/**
 * Which thread serves a peer's call: a {@code Get}, the reads of a {@code Reads} stream, a {@code
 * Ping} or a health check on the transport thread that read it, every other call on the bounded
 * {@link HandlerPool}, which refuses it when every handler thread is busy.
 *
 * <p>A {@code Get} never blocks its thread: a hit answers from the shard at once, a miss hands its
 * load or its copy search to the node's load executor (which refuses, never waits, when full; see
 * {@link LoadFlights}), and a forwarded read is an asynchronous call. So handing it to a handler
 * thread buys nothing and costs a thread hop each way (a queue hand-off, a wake-up of the handler,
 * and a wake-up of the event loop to write the answer), which was the largest single cost of a
 * remote read (see docs/performance.md). A {@code Ping} only answers the node's address, and the
 * standard health service a status from a map; kept off the handler pool, heartbeats and health
 * probes are answered even while every handler thread is busy, so a busy member never looks dead. A
 * client-only member's {@code Acknowledge} only completes the futures writes wait on, so it stays
 * on the transport thread too. Writes, fetches, replication and the rest of the peer service may
 * block (a write waits for its replicas) and keep to the handler pool and its bound.
 *
 * <p>The server must be built with a direct executor for this to take effect: gRPC looks the method
 * up on the server's executor, then moves the call to the executor chosen here ({@code null}: stay
 * where the lookup ran).
 *
 * <p>Thread-safe; stateless but for the pool it hands out.
 */
final class ServingExecutors implements ServerCallExecutorSupplier {
  private static final String GET = PeerServiceGrpc.getGetMethod().getFullMethodName();
  private static final String READS = PeerServiceGrpc.getReadsMethod().getFullMethodName();
  private static final String PING = PeerServiceGrpc.getPingMethod().getFullMethodName();
  private static final String ACKNOWLEDGE =
      PeerServiceGrpc.getAcknowledgeMethod().getFullMethodName();

  private final Executor handlers;

  ServingExecutors(Executor handlers) {
    this.handlers = handlers;
  }

  @Override
  public <Q, R> @Nullable Executor getExecutor(ServerCall<Q, R> call, Metadata headers) {
    MethodDescriptor<Q, R> method = call.getMethodDescriptor();
    if (!PeerServiceGrpc.SERVICE_NAME.equals(method.getServiceName())) {
      return null; // the health service: answers from a map, and must answer a busy node too
    }
    String name = method.getFullMethodName();
    return GET.equals(name) || READS.equals(name) || PING.equals(name) || ACKNOWLEDGE.equals(name)
        ? null
        : handlers;
  }
}
