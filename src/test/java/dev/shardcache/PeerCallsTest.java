package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import dev.shardcache.InProcessPeer.Reply;
import dev.shardcache.PeerCalls.Failure;
import dev.shardcache.PeerCalls.Outcome;
import dev.shardcache.PeerCalls.PeerCallException;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.PingResponse;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The one peer-call policy, against an in-process peer: how each failure is classified, what it
 * does to the peer's up/down state, which user exception it becomes, and how a down peer is probed.
 * The rule pinned throughout: slow is not dead.
 */
class PeerCallsTest {
  private static final Duration LONG = Duration.ofSeconds(30);
  private static final Set<Status.Code> UNREACHABLE =
      EnumSet.of(Status.Code.UNAVAILABLE, Status.Code.UNAUTHENTICATED, Status.Code.CANCELLED);

  private final FakeTicker ticker = new FakeTicker();
  private final CountingCounter counter = new CountingCounter();
  private InProcessPeer server;
  private PeerClient peer;

  @BeforeEach
  void startPeer() {
    server = InProcessPeer.start("peer");
    peer = server.client(ticker);
  }

  @AfterEach
  void stopPeer() throws InterruptedException {
    peer.close();
    server.close();
  }

  @ParameterizedTest
  @EnumSource(value = Status.Code.class, names = "OK", mode = EnumSource.Mode.EXCLUDE)
  void eachStatusIsClassifiedAsDocumented(Status.Code code) {
    Failure expected =
        UNREACHABLE.contains(code)
            ? Failure.UNREACHABLE
            : code == Status.Code.DEADLINE_EXCEEDED ? Failure.SLOW : Failure.REFUSED;
    assertThat(PeerCalls.classify(code.toStatus())).isEqualTo(expected);

    // The same status answered by the peer: the call fails that way, and only UNREACHABLE marks
    // the peer down.
    server.onGet = request -> Reply.fail(code.toStatus().withDescription("as the test asked"));
    PeerCallException failure = failureOf(get(PeerCalls::call, LONG));

    assertThat(failure.failure()).isEqualTo(expected);
    assertThat(failure.status().getCode()).isEqualTo(code);
    assertThat(failure.peer()).isEqualTo(server.address());
    assertThat(peer.isUp()).isEqualTo(expected != Failure.UNREACHABLE);
    assertThat(counter.started).hasValue(1);
    assertThat(counter.failed).hasValue(1);
  }

  @Test
  void anAnswerCompletesTheCallAndCountsNoFailure() {
    server.onGet =
        request ->
            Reply.answer(
                GetResponse.newBuilder().setFound(true).setValue(request.getKey()).build());

    GetResponse response = PeerCalls.await(get(PeerCalls::call, LONG));

    assertThat(response.getValue().toStringUtf8()).isEqualTo("k");
    assertThat(counter.started).hasValue(1);
    assertThat(counter.failed).hasValue(0);
  }

  @Test
  void aDeadlineNeverMarksThePeerDown() {
    PeerCalls.await(get(PeerCalls::call, LONG)); // connected, so the deadline is the peer's doing
    server.onGet = request -> Reply.silence();

    PeerCallException failure = failureOf(get(PeerCalls::call, Duration.ofMillis(200)));

    assertThat(failure.failure()).isEqualTo(Failure.SLOW);
    assertThat(failure.status().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    assertThat(peer.isUp()).isTrue();
    assertThat(peer.tryAcquire()).isTrue();
    // A write whose holder is slow may have been applied: its outcome is unknown, not a failure.
    assertThat(failure.forWrite("users", "put", Duration.ofMillis(50)))
        .isInstanceOf(OutcomeUnknownException.class)
        .hasMessageContaining("did not answer within")
        .satisfies(
            e -> assertThat(((OutcomeUnknownException) e).peer()).isEqualTo(server.address()));
    // A read that asked the owner to load: the load goes on there, so it is not loaded again here.
    assertThat(failure.forRead("users", true, Duration.ofMillis(50)))
        .isInstanceOf(CacheLoadException.class)
        .hasMessageContaining("loadTimeout");
    ShardcacheException plainRead = failure.forRead("users", false, Duration.ofMillis(50));
    assertThat(plainRead)
        .isExactlyInstanceOf(ShardcacheException.class)
        .hasMessageContaining("slow, not down");

    // The next call goes to the peer as usual.
    server.onGet = request -> Reply.answer(GetResponse.getDefaultInstance());
    int before = server.gets.size();
    PeerCalls.await(get(PeerCalls::call, LONG));
    assertThat(server.gets).hasSize(before + 1);
  }

  @Test
  void anUnreachablePeerIsMarkedDownAndTheNextCallFailsWithoutTouchingIt() {
    server.onGet = request -> Reply.fail(Status.UNAVAILABLE.withDescription("going away"));
    PeerCallException first = failureOf(get(PeerCalls::call, LONG));
    assertThat(first.isUnreachable()).isTrue();
    assertThat(peer.isUp()).isFalse();
    assertThat(first.forWrite("users", "put", LONG))
        .isInstanceOf(PeerUnavailableException.class)
        .hasMessageContaining("not applied")
        .hasMessageContaining("going away");

    server.onGet = request -> Reply.answer(GetResponse.getDefaultInstance());
    CompletableFuture<GetResponse> next = get(PeerCalls::call, LONG);

    assertThat(next).isCompletedExceptionally(); // at once: nobody waits on a down peer
    PeerCallException fast = failureOf(next);
    assertThat(fast.failure()).isEqualTo(Failure.UNREACHABLE);
    assertThat(fast.status().getDescription()).contains("marked down");
    assertThat(server.gets).hasSize(1);
    assertThat(counter.started).hasValue(1); // the skipped call was never started
  }

  @Test
  void aPeerThatIsNotConfiguredFailsAsUnreachable() {
    PeerCallException failure =
        failureOf(
            PeerCalls.<GetResponse>call(
                null,
                "elsewhere:1",
                LONG,
                counter,
                stub -> stub.get(GetRequest.getDefaultInstance())));

    assertThat(failure.failure()).isEqualTo(Failure.UNREACHABLE);
    assertThat(failure.peer()).isEqualTo("elsewhere:1");
    assertThat(counter.started).hasValue(0);
  }

  @Test
  void aPeerWithNoServerIsUnreachable() throws InterruptedException {
    server.stop();

    PeerCallException failure = failureOf(get(PeerCalls::call, LONG));

    assertThat(failure.failure()).isEqualTo(Failure.UNREACHABLE);
    assertThat(failure.status().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(peer.isUp()).isFalse();
  }

  @Test
  void aDownPeerIsProbedOnceAfterItsBackOffAndAnAnswerBringsItUp() {
    CompletableFuture<Reply<PingResponse>> probeAnswer = new CompletableFuture<>();
    server.onPing = request -> Reply.when(probeAnswer);
    peer.onUnreachable(Status.UNAVAILABLE);

    // Within the back-off: callers are turned away and the peer is left alone.
    assertThat(peer.tryAcquire()).isFalse();
    ticker.advance(PeerClient.INITIAL_BACKOFF.dividedBy(2));
    assertThat(peer.tryAcquire()).isFalse();
    assertThat(server.pings).hasValue(0);

    // Past the back-off (and its jitter, at most a fifth): the first caller starts one probe, and
    // still does not wait for it; the callers after it start no other.
    ticker.advance(PeerClient.INITIAL_BACKOFF.multipliedBy(2));
    assertThat(peer.tryAcquire()).isFalse();
    assertThat(peer.tryAcquire()).isFalse();
    ticker.advance(PeerClient.MAX_BACKOFF);
    assertThat(peer.tryAcquire()).isFalse();
    assertThat(server.pings).hasValue(1);
    assertThat(server.gets).isEmpty();

    probeAnswer.complete(Reply.answer(PingResponse.getDefaultInstance()));

    await().atMost(Duration.ofSeconds(5)).until(peer::isUp);
    assertThat(peer.tryAcquire()).isTrue();
    PeerCalls.await(get(PeerCalls::call, LONG));
    assertThat(server.gets).hasSize(1);
  }

  @Test
  void aProbeAnsweredWithAnErrorStillBringsThePeerUp() {
    server.onPing = request -> Reply.fail(Status.UNIMPLEMENTED);
    peer.onUnreachable(Status.UNAVAILABLE);
    ticker.advance(PeerClient.INITIAL_BACKOFF.multipliedBy(2));

    assertThat(peer.tryAcquire()).isFalse();

    await().atMost(Duration.ofSeconds(5)).until(peer::isUp);
    assertThat(server.pings).hasValue(1);
  }

  @Test
  void aFailedProbeKeepsThePeerDownAndDoublesTheBackOff() {
    server.onPing = request -> Reply.fail(Status.UNAVAILABLE);
    peer.onUnreachable(Status.UNAVAILABLE);
    ticker.advance(PeerClient.INITIAL_BACKOFF.multipliedBy(2));

    assertThat(peer.tryAcquire()).isFalse();
    // In-process with direct executors, the probe is sent, refused and recorded before
    // tryAcquire returns; the back-off below is measured from this ticker reading.
    assertThat(server.pings).hasValue(1);
    assertThat(peer.isUp()).isFalse();

    // The back-off is now twice the initial one, plus up to a fifth of jitter: a caller after
    // 1.2 times the initial back-off starts nothing, one after 2.7 times starts the next probe.
    ticker.advance(PeerClient.INITIAL_BACKOFF.multipliedBy(12).dividedBy(10));
    assertThat(peer.tryAcquire()).isFalse();
    assertThat(server.pings).hasValue(1);
    ticker.advance(PeerClient.INITIAL_BACKOFF.multipliedBy(15).dividedBy(10));
    assertThat(peer.tryAcquire()).isFalse();
    assertThat(server.pings).hasValue(2);
    assertThat(peer.isUp()).isFalse();
  }

  @Test
  void abandonedReadsFailAsUnreachableWithoutMarkingThePeerDown() {
    server.onGet = request -> Reply.silence();
    CompletableFuture<GetResponse> read = get(PeerCalls::read, LONG);
    CompletableFuture<GetResponse> write = get(PeerCalls::call, LONG);
    assertThat(read).isNotDone();

    peer.abandonCalls();

    PeerCallException failure = failureOf(read);
    assertThat(failure.failure()).isEqualTo(Failure.UNREACHABLE);
    assertThat(failure.status().getCode()).isEqualTo(Status.Code.CANCELLED);
    assertThat(peer.isUp()).isTrue();
    // A write already sent is never abandoned: only its deadline may report its unknown outcome.
    assertThat(write).isNotDone();

    // The peer is still up: the next read goes to it as usual.
    server.onGet = request -> Reply.answer(GetResponse.getDefaultInstance());
    PeerCalls.await(get(PeerCalls::read, LONG));
    assertThat(server.gets).hasSize(3);
  }

  @Test
  void anAbandonedReadIsCancelledOnTheWire() {
    server.onGet = request -> Reply.silence();
    CompletableFuture<GetResponse> read = get(PeerCalls::read, LONG);
    await().atMost(Duration.ofSeconds(5)).until(() -> server.gets.size() == 1);

    peer.abandonCalls();

    assertThat(failureOf(read).status().getCode()).isEqualTo(Status.Code.CANCELLED);
    await().atMost(Duration.ofSeconds(5)).until(() -> server.cancelled.get() == 1);
  }

  /**
   * A caller that loses interest (a scan closed early) cancels the future; the RPC is cancelled on
   * the wire, so the peer stops working on it, and neither a failure nor the peer's state changes.
   */
  @Test
  void cancellingTheFutureCancelsTheCallOnTheWire() {
    server.onGet = request -> Reply.silence();
    for (Kind kind : new Kind[] {PeerCalls::call, PeerCalls::read}) {
      int before = server.cancelled.get();
      int received = server.gets.size();
      CompletableFuture<GetResponse> call = get(kind, LONG);
      await().atMost(Duration.ofSeconds(5)).until(() -> server.gets.size() > received);

      assertThat(call.cancel(true)).isTrue();

      await().atMost(Duration.ofSeconds(5)).until(() -> server.cancelled.get() == before + 1);
    }
    assertThat(counter.started).hasValue(2);
    assertThat(counter.failed).hasValue(0);
    assertThat(peer.isUp()).isTrue();
  }

  @Test
  void awaitAllReturnsEveryOutcomeInTheMapsOrder() throws InterruptedException {
    try (InProcessPeer refusing = InProcessPeer.start("refusing");
        PeerClient refusingClient = refusing.client(ticker)) {
      refusing.onGet =
          request -> Reply.fail(Status.INVALID_ARGUMENT.withDescription("no such cache"));
      server.onGet =
          request ->
              Reply.answer(
                  GetResponse.newBuilder().setFound(true).setValue(request.getKey()).build());
      Map<String, CompletableFuture<GetResponse>> calls = new LinkedHashMap<>();
      calls.put("zeta", get(peer, "zeta"));
      calls.put(
          "refused",
          PeerCalls.call(
              refusingClient,
              refusing.address(),
              LONG,
              counter,
              stub ->
                  stub.get(GetRequest.newBuilder().setKey(ByteString.copyFromUtf8("x")).build())));
      calls.put(
          "absent",
          PeerCalls.call(
              null, "absent:1", LONG, counter, stub -> stub.get(GetRequest.getDefaultInstance())));
      calls.put("alpha", get(peer, "alpha"));

      Map<String, Outcome<GetResponse>> outcomes = PeerCalls.awaitAll(calls);

      assertThat(new ArrayList<>(outcomes.keySet()))
          .containsExactly("zeta", "refused", "absent", "alpha");
      assertThat(outcomes.get("zeta").response().getValue().toStringUtf8()).isEqualTo("zeta");
      assertThat(outcomes.get("zeta").failure()).isNull();
      assertThat(outcomes.get("refused").response()).isNull();
      assertThat(outcomes.get("refused").failure().failure()).isEqualTo(Failure.REFUSED);
      assertThat(outcomes.get("absent").failure().failure()).isEqualTo(Failure.UNREACHABLE);
      assertThat(outcomes.get("alpha").response().getValue().toStringUtf8()).isEqualTo("alpha");
    }
  }

  @Test
  void awaitAllRethrowsAFailureThatIsNotAPeerCall() {
    Map<String, CompletableFuture<String>> calls = new LinkedHashMap<>();
    calls.put("ok", CompletableFuture.completedFuture("fine"));
    calls.put("bug", CompletableFuture.failedFuture(new IllegalStateException("a bug")));

    assertThatThrownBy(() -> PeerCalls.awaitAll(calls))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("a bug");
  }

  // ---------------------------------------------------------------------------------------------

  /** {@link PeerCalls#call} or {@link PeerCalls#read}. */
  private interface Kind {
    CompletableFuture<GetResponse> start(
        PeerClient peer,
        String address,
        Duration deadline,
        PeerCalls.Counter counter,
        PeerCalls.Rpc<GetResponse> rpc);
  }

  private CompletableFuture<GetResponse> get(Kind kind, Duration deadline) {
    return kind.start(
        peer,
        server.address(),
        deadline,
        counter,
        stub ->
            stub.get(
                GetRequest.newBuilder()
                    .setCache("users")
                    .setKey(ByteString.copyFromUtf8("k"))
                    .build()));
  }

  private CompletableFuture<GetResponse> get(PeerClient client, String key) {
    return PeerCalls.call(
        client,
        server.address(),
        LONG,
        counter,
        stub -> stub.get(GetRequest.newBuilder().setKey(ByteString.copyFromUtf8(key)).build()));
  }

  private static PeerCallException failureOf(CompletableFuture<?> call) {
    try {
      PeerCalls.await(call);
    } catch (PeerCallException e) {
      return e;
    }
    throw new AssertionError("expected the call to fail: " + call);
  }

  private static final class CountingCounter implements PeerCalls.Counter {
    final AtomicInteger started = new AtomicInteger();
    final AtomicInteger failed = new AtomicInteger();

    @Override
    public void callStarted() {
      started.incrementAndGet();
    }

    @Override
    public void callFailed() {
      failed.incrementAndGet();
    }
  }
}
