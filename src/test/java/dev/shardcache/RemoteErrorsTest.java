package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.EnumSet;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The one mapping between local exceptions and gRPC statuses, both ways (docs/protocol.md,
 * "Errors"): what a serving node answers for each failure, and what a caller raises for each
 * answer.
 */
class RemoteErrorsTest {
  private static final String PEER = "10.0.0.2:7070";
  private static final String CACHE = "users";

  private final Logger logger = Logger.getLogger(RemoteErrors.class.getName());
  private Level level;

  @BeforeEach
  void quietTheUnexpectedFailureLog() {
    level = logger.getLevel();
    logger.setLevel(Level.OFF);
  }

  @AfterEach
  void restoreTheLog() {
    logger.setLevel(level);
  }

  // ----- serving side: exception -> status -------------------------------------------------------

  @Test
  void aStatusExceptionIsSentAsItIs() {
    StatusRuntimeException sent =
        Status.RESOURCE_EXHAUSTED.withDescription("busy").asRuntimeException();

    assertThat(RemoteErrors.toStatus(sent)).isSameAs(sent);
  }

  @Test
  void aFailedLoadIsAFailedPrecondition() {
    StatusRuntimeException status =
        RemoteErrors.toStatus(new CacheLoadException("loader threw IOException: disk", null));

    assertThat(status.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(status.getStatus().getDescription()).isEqualTo("loader threw IOException: disk");
  }

  @Test
  void aWriteToANonHolderIsAborted() {
    StatusRuntimeException status =
        RemoteErrors.toStatus(new NotHolderException("no holder reachable"));

    assertThat(status.getStatus().getCode()).isEqualTo(Status.Code.ABORTED);
    assertThat(status.getStatus().getDescription()).isEqualTo("no holder reachable");
  }

  @Test
  void malformedInputIsAnInvalidArgument() {
    assertThat(RemoteErrors.toStatus(new CodecException("not a UTF-8 string")).getStatus())
        .satisfies(s -> assertThat(s.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT))
        .satisfies(s -> assertThat(s.getDescription()).isEqualTo("not a UTF-8 string"));
    assertThat(RemoteErrors.toStatus(new IllegalArgumentException("value over 1 MiB")).getStatus())
        .satisfies(s -> assertThat(s.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT))
        .satisfies(s -> assertThat(s.getDescription()).isEqualTo("value over 1 MiB"));
  }

  @Test
  void aNodeThatIsClosingIsUnavailable() {
    StatusRuntimeException status = RemoteErrors.toStatus(new IllegalStateException("node closed"));

    assertThat(status.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getStatus().getDescription()).isEqualTo("node closed");
  }

  @Test
  void anythingElseIsInternalAndNamesTheExceptionAndTheLog() {
    StatusRuntimeException status = RemoteErrors.toStatus(new ArithmeticException("/ by zero"));

    assertThat(status.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getStatus().getDescription())
        .contains("java.lang.ArithmeticException")
        .contains("/ by zero")
        .contains("see this node's log");
  }

  // ----- calling side: status -> exception -------------------------------------------------------

  @Test
  void aFailedPreconditionIsAFailedLoadOnTheOwner() {
    ShardcacheException e =
        RemoteErrors.fromStatus(
            Status.FAILED_PRECONDITION.withDescription("loader returned null"), PEER, CACHE);

    assertThat(e)
        .isExactlyInstanceOf(CacheLoadException.class)
        .hasMessageContaining("owner " + PEER)
        .hasMessageContaining("'" + CACHE + "'")
        .hasMessageContaining("loader returned null");
  }

  @Test
  void abortedIsAPeerUnavailableWriteNotApplied() {
    ShardcacheException e =
        RemoteErrors.fromStatus(
            Status.ABORTED.withDescription("could reach no holder"), PEER, CACHE);

    assertThat(e)
        .isExactlyInstanceOf(PeerUnavailableException.class)
        .hasMessageContaining("did not apply a write")
        .hasMessageContaining("could reach no holder");
    assertThat(((PeerUnavailableException) e).peer()).isEqualTo(PEER);
  }

  @ParameterizedTest
  @EnumSource(
      value = Status.Code.class,
      names = {"NOT_FOUND", "INVALID_ARGUMENT"})
  void aRejectedRequestNamesThePeerAndItsReason(Status.Code code) {
    ShardcacheException e =
        RemoteErrors.fromStatus(
            code.toStatus().withDescription("cache 'users' is not defined"), PEER, CACHE);

    assertThat(e)
        .isExactlyInstanceOf(ShardcacheException.class)
        .hasMessageContaining("peer " + PEER + " rejected")
        .hasMessageContaining("cache 'users' is not defined");
  }

  @Test
  void resourceExhaustedNamesBothCauses() {
    ShardcacheException e =
        RemoteErrors.fromStatus(
            Status.RESOURCE_EXHAUSTED.withDescription("too many calls"), PEER, CACHE);

    assertThat(e)
        .isExactlyInstanceOf(ShardcacheException.class)
        .hasMessageContaining("for want of resources")
        .hasMessageContaining("too many calls")
        .hasMessageContaining("maxInboundMessageBytes")
        .hasMessageContaining("maxConcurrentCallsPerPeer");
  }

  @Test
  void aMessageOverTheInboundLimitNamesTheSettingAndWhatToChange() {
    Status tooLarge =
        Status.RESOURCE_EXHAUSTED.withDescription("gRPC message exceeds maximum size 65536: 70000");
    assertThat(RemoteErrors.isMessageTooLarge(tooLarge)).isTrue();
    assertThat(RemoteErrors.isMessageTooLarge(Status.RESOURCE_EXHAUSTED.withDescription("busy")))
        .isFalse();

    ShardcacheException e = RemoteErrors.fromStatus(tooLarge, PEER, CACHE);

    assertThat(e)
        .isExactlyInstanceOf(ShardcacheException.class)
        .hasMessageContaining("cache '" + CACHE + "'")
        .hasMessageContaining(PEER)
        .hasMessageContaining("over maxInboundMessageBytes")
        .hasMessageContaining("65536: 70000")
        .hasMessageContaining("maxKeyBytes + maxValueBytes below every member's")
        .hasMessageNotContaining("maxConcurrentCallsPerPeer");
  }

  @ParameterizedTest
  @EnumSource(
      value = Status.Code.class,
      names = {"UNKNOWN", "INTERNAL", "UNIMPLEMENTED", "DATA_LOSS"})
  void anyOtherStatusNamesItsCodeAndKeepsTheStatusAsCause(Status.Code code) {
    ShardcacheException e =
        RemoteErrors.fromStatus(code.toStatus().withDescription("oops"), PEER, CACHE);

    assertThat(e)
        .isExactlyInstanceOf(ShardcacheException.class)
        .hasMessageContaining("with " + code)
        .hasMessageContaining("oops")
        .hasCauseInstanceOf(StatusRuntimeException.class);
    assertThat(((StatusRuntimeException) e.getCause()).getStatus().getCode()).isEqualTo(code);
  }

  @Test
  void aStatusWithoutDescriptionDoesNotSayNull() {
    assertThat(RemoteErrors.fromStatus(Status.ABORTED, PEER, CACHE).getMessage())
        .doesNotContain("null");
    assertThat(RemoteErrors.fromStatus(Status.INTERNAL, PEER, CACHE).getMessage())
        .doesNotContain("null");
  }

  // ----- both ways
  // ---------------------------------------------------------------------------------

  @Test
  void aServingFailureReachesTheCallerAsTheMatchingException() {
    assertThat(roundTrip(new CacheLoadException("loader threw", null)))
        .isExactlyInstanceOf(CacheLoadException.class)
        .hasMessageContaining("loader threw");
    assertThat(roundTrip(new NotHolderException("not mine")))
        .isExactlyInstanceOf(PeerUnavailableException.class)
        .hasMessageContaining("not mine");
    assertThat(roundTrip(new CodecException("bad bytes")))
        .isExactlyInstanceOf(ShardcacheException.class)
        .hasMessageContaining("rejected")
        .hasMessageContaining("bad bytes");
  }

  @Test
  void aClosingNodeIsUnreachableForTheCaller() {
    Status sent = RemoteErrors.toStatus(new IllegalStateException("closing")).getStatus();

    assertThat(RemoteErrors.isUnreachable(sent)).isTrue();
    assertThat(PeerCalls.classify(sent)).isEqualTo(PeerCalls.Failure.UNREACHABLE);
  }

  @ParameterizedTest
  @EnumSource(Status.Code.class)
  void onlyUnreachableCodesAreUnreachableAndOnlyTheDeadlineIsSlow(Status.Code code) {
    Set<Status.Code> unreachable =
        EnumSet.of(Status.Code.UNAVAILABLE, Status.Code.UNAUTHENTICATED, Status.Code.CANCELLED);

    assertThat(RemoteErrors.isUnreachable(code.toStatus())).isEqualTo(unreachable.contains(code));
    assertThat(RemoteErrors.isSlow(code.toStatus()))
        .isEqualTo(code == Status.Code.DEADLINE_EXCEEDED);
  }

  private static ShardcacheException roundTrip(Throwable failure) {
    return RemoteErrors.fromStatus(RemoteErrors.toStatus(failure).getStatus(), PEER, CACHE);
  }
}
