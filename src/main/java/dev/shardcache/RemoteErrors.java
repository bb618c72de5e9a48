package dev.shardcache;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The one mapping between local exceptions and gRPC {@link Status} on the wire, in both directions
 * (see docs/protocol.md, "Errors"). Keeping it in one place is what lets a caller tell an owner
 * that could not load a key (the caller must not load it again) from an owner it could not reach
 * (the caller falls over to the next holder), and both from an owner that is only slow (nobody
 * falls over: see {@link PeerCalls}).
 */
final class RemoteErrors {
  private static final Logger logger = Logger.getLogger(RemoteErrors.class.getName());

  private RemoteErrors() {}

  /**
   * Whether a call failed because the peer could not be reached, rather than by its answer or its
   * slowness. A peer that fails authentication counts as unreachable: it is not a member to trust.
   * A call cancelled because the failure detector gave up on the peer counts too. A deadline that
   * expired does <em>not</em>: the peer may be busy with a slow load while it answers heartbeats,
   * and only the failure detector decides that a peer is gone.
   */
  static boolean isUnreachable(Status status) {
    return switch (status.getCode()) {
      case UNAVAILABLE, UNAUTHENTICATED, CANCELLED -> true;
      default -> false;
    };
  }

  /** Whether a call ran past its deadline: the peer is slow, and the outcome of a write unknown. */
  static boolean isSlow(Status status) {
    return status.getCode() == Status.Code.DEADLINE_EXCEEDED;
  }

  /** The status a serving node answers with for {@code failure}. */
  static StatusRuntimeException toStatus(Throwable failure) {
    if (failure instanceof StatusRuntimeException sre) {
      return sre;
    }
    if (failure instanceof CacheLoadException) {
      return Status.FAILED_PRECONDITION.withDescription(failure.getMessage()).asRuntimeException();
    }
    if (failure instanceof OverloadedException) {
      return Status.RESOURCE_EXHAUSTED.withDescription(failure.getMessage()).asRuntimeException();
    }
    if (failure instanceof NotHolderException) {
      return Status.ABORTED.withDescription(failure.getMessage()).asRuntimeException();
    }
    if (failure instanceof CodecException || failure instanceof IllegalArgumentException) {
      return Status.INVALID_ARGUMENT.withDescription(failure.getMessage()).asRuntimeException();
    }
    if (failure instanceof IllegalStateException) {
      // The node is closing or not yet started.
      return Status.UNAVAILABLE.withDescription(failure.getMessage()).asRuntimeException();
    }
    logger.log(Level.WARNING, "Unexpected failure serving a peer request", failure);
    return Status.INTERNAL
        .withDescription(
            "unexpected "
                + failure.getClass().getName()
                + ": "
                + failure.getMessage()
                + " (see this node's log)")
        .asRuntimeException();
  }

  /**
   * Whether {@code status} is gRPC's refusal of one message over an inbound size limit: a request
   * over the peer's {@code maxInboundMessageBytes}, or an answer over this node's (gRPC words both
   * the same way, so the caller cannot tell them apart).
   */
  static boolean isMessageTooLarge(Status status) {
    String description = status.getDescription();
    return status.getCode() == Status.Code.RESOURCE_EXHAUSTED
        && description != null
        && description.contains("exceeds maximum size");
  }

  /** The exception a caller raises for an answer of {@code peer} that is an error. */
  static ShardcacheException fromStatus(Status status, String peer, String cache) {
    String description = status.getDescription() == null ? "" : status.getDescription();
    if (isMessageTooLarge(status)) {
      return new ShardcacheException(
          "a message of cache '"
              + cache
              + "' between this node and peer "
              + peer
              + " is over maxInboundMessageBytes ("
              + description
              + "): the request over the peer's limit, or its answer over this node's. Keep the"
              + " cache's maxKeyBytes + maxValueBytes below every member's maxInboundMessageBytes,"
              + " or raise maxInboundMessageBytes on every member",
          null);
    }
    return switch (status.getCode()) {
      case FAILED_PRECONDITION ->
          new CacheLoadException(
              "owner " + peer + " could not load a key of cache '" + cache + "': " + description,
              null);
      case ABORTED ->
          new PeerUnavailableException(
              peer,
              "peer " + peer + " did not apply a write of cache '" + cache + "': " + description,
              null);
      case NOT_FOUND, INVALID_ARGUMENT ->
          new ShardcacheException(
              "peer " + peer + " rejected a request for cache '" + cache + "': " + description,
              null);
      case RESOURCE_EXHAUSTED ->
          new ShardcacheException(
              "peer "
                  + peer
                  + " refused a request for cache '"
                  + cache
                  + "' for want of resources: "
                  + description
                  + " (a message over its maxInboundMessageBytes, more calls in"
                  + " progress than its maxConcurrentCallsPerPeer, every one of its handlerThreads"
                  + " busy, more loads than its maxConcurrentLoads, or more token nonces than its"
                  + " maxNonces)",
              null);
      default ->
          new ShardcacheException(
              "peer "
                  + peer
                  + " failed a request for cache '"
                  + cache
                  + "' with "
                  + status.getCode()
                  + ": "
                  + description,
              status.asRuntimeException());
    };
  }
}
