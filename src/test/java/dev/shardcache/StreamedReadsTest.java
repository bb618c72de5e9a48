package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import dev.shardcache.InProcessPeer.Reply;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import io.grpc.Context;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Single-key reads on a peer's long-lived {@code Reads} stream, as {@link PeerCalls} sees them:
 * many reads share one stream and each gets its own answer in whatever order the peer sends them; a
 * read past its deadline is slow (not dead), withdrawn, and leaves the stream and the peer up; the
 * end of a stream fails only the reads on it, and the next read opens a new one; a read its caller
 * cancels is withdrawn.
 */
class StreamedReadsTest {
  private static final Duration LONG = Duration.ofSeconds(30);

  private final FakeTicker ticker = new FakeTicker();
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

  private CompletableFuture<GetResponse> read(String key, Duration deadline) {
    GetRequest request =
        GetRequest.newBuilder().setCache("c").setKey(ByteString.copyFromUtf8(key)).build();
    return PeerCalls.get(peer, server.address(), deadline, PeerCalls.Counter.NONE, request, true);
  }

  private static GetResponse value(String text) {
    return GetResponse.newBuilder().setFound(true).setValue(ByteString.copyFromUtf8(text)).build();
  }

  @Test
  void manyReadsShareOneStreamAndEachGetsItsOwnAnswerInAnyOrder() {
    Map<String, CompletableFuture<Reply<GetResponse>>> gates = new ConcurrentHashMap<>();
    server.onGet =
        request -> {
          CompletableFuture<Reply<GetResponse>> gate = new CompletableFuture<>();
          gates.put(request.getKey().toStringUtf8(), gate);
          return Reply.when(gate);
        };
    List<CompletableFuture<GetResponse>> reads = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      reads.add(read("k" + i, LONG));
    }
    await().atMost(10, TimeUnit.SECONDS).until(() -> gates.size() == 50);
    for (int i = 49; i >= 0; i--) { // the reverse of the order they were sent in
      gates.get("k" + i).complete(Reply.answer(value("v" + i)));
    }

    for (int i = 0; i < 50; i++) {
      assertThat(reads.get(i).join().getValue().toStringUtf8()).isEqualTo("v" + i);
    }
    assertThat(server.readStreams).hasSize(1);
    assertThat(server.gets).hasSize(50);
  }

  @Test
  void aReadPastItsDeadlineIsSlowIsWithdrawnAndTheStreamAndPeerStayUp() {
    server.onGet =
        request ->
            request.getKey().toStringUtf8().equals("slow")
                ? Reply.silence()
                : Reply.answer(value("fast"));

    CompletableFuture<GetResponse> slow = read("slow", Duration.ofMillis(100));

    assertThatThrownBy(() -> PeerCalls.await(slow))
        .isInstanceOfSatisfying(
            PeerCalls.PeerCallException.class,
            e -> {
              assertThat(e.failure()).isEqualTo(PeerCalls.Failure.SLOW);
              assertThat(e.status().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
            });
    await().atMost(10, TimeUnit.SECONDS).until(() -> server.cancelled.get() == 1);
    assertThat(peer.isUp()).isTrue();
    assertThat(read("other", LONG).join().getValue().toStringUtf8()).isEqualTo("fast");
    assertThat(server.readStreams).as("the same stream carried on").hasSize(1);
  }

  /** Deadlines are swept per tick: a short one sent after a long one still fails at its own. */
  @Test
  void aShortDeadlineAfterALongOneFailsAtItsOwnWhileTheLongOneWaits() {
    server.onGet = request -> Reply.silence();
    CompletableFuture<GetResponse> patient = read("patient", LONG);
    CompletableFuture<GetResponse> hasty = read("hasty", Duration.ofMillis(100));

    assertThatThrownBy(() -> hasty.get(10, TimeUnit.SECONDS))
        .hasCauseInstanceOf(PeerCalls.PeerCallException.class)
        .cause()
        .satisfies(
            e ->
                assertThat(((PeerCalls.PeerCallException) e).failure())
                    .isEqualTo(PeerCalls.Failure.SLOW));
    assertThat(patient).isNotDone();
  }

  /**
   * Regression (CI, this session): a read made while serving a peer's call (a forwarded read)
   * opened the stream inside that call's gRPC context, so the call's end cancelled the stream; the
   * next read found it cancelled and marked the peer down. The stream now outlives any caller's
   * context, cancelled or past its deadline.
   */
  @Test
  void aStreamOpenedInsideAnotherCallsContextOutlivesThatCall() throws Exception {
    server.onGet = request -> Reply.answer(value("v"));
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    try {
      Context.CancellableContext incoming =
          Context.current().withDeadlineAfter(200, TimeUnit.MILLISECONDS, scheduler);
      assertThat(incoming.call(() -> read("a", LONG)).join().getFound()).isTrue();

      incoming.cancel(null); // the call that opened the stream ends
      Thread.sleep(300); // and its deadline passes
    } finally {
      scheduler.shutdownNow();
    }

    assertThat(read("b", LONG).join().getFound()).isTrue();
    assertThat(server.readStreams).as("the same stream carried on").hasSize(1);
    assertThat(peer.isUp()).isTrue();
  }

  @Test
  void theEndOfAStreamFailsItsReadsAndTheNextReadOpensANewStream() {
    server.onGet = request -> Reply.silence();
    CompletableFuture<GetResponse> waiting = read("a", LONG);
    await().atMost(10, TimeUnit.SECONDS).until(() -> server.gets.size() == 1);

    server.endReadStreams(Status.INTERNAL.withDescription("the peer's stream broke"));

    assertThatThrownBy(() -> PeerCalls.await(waiting))
        .isInstanceOfSatisfying(
            PeerCalls.PeerCallException.class,
            e -> {
              assertThat(e.status().getCode()).isEqualTo(Status.Code.INTERNAL);
              assertThat(e.status().getDescription()).contains("the peer's stream broke");
            });
    server.onGet = request -> Reply.answer(value("again"));
    assertThat(read("a", LONG).join().getValue().toStringUtf8()).isEqualTo("again");
    assertThat(server.readStreams).hasSize(2);
  }

  @Test
  void aReadItsCallerCancelsIsWithdrawn() {
    server.onGet = request -> Reply.silence();
    CompletableFuture<GetResponse> waiting = read("a", LONG);
    await().atMost(10, TimeUnit.SECONDS).until(() -> server.gets.size() == 1);

    waiting.cancel(true);

    await().atMost(10, TimeUnit.SECONDS).until(() -> server.cancelled.get() == 1);
    assertThat(peer.isUp()).isTrue();
  }

  @Test
  void aReadThePeerRefusesFailsWithItsStatusAsACallWould() {
    server.onGet = request -> Reply.fail(Status.NOT_FOUND.withDescription("no cache named 'c'"));

    assertThatThrownBy(() -> PeerCalls.await(read("a", LONG)))
        .isInstanceOfSatisfying(
            PeerCalls.PeerCallException.class,
            e -> {
              assertThat(e.failure()).isEqualTo(PeerCalls.Failure.REFUSED);
              assertThat(e.status().getCode()).isEqualTo(Status.Code.NOT_FOUND);
              assertThat(e.status().getDescription()).isEqualTo("no cache named 'c'");
            });
    assertThat(peer.isUp()).isTrue();
  }
}
