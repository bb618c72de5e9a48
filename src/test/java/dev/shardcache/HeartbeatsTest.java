package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.common.base.Ticker;
import com.google.protobuf.ByteString;
import dev.shardcache.InProcessPeer.Reply;
import dev.shardcache.PeerCalls.Failure;
import dev.shardcache.PeerCalls.PeerCallException;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.PingResponse;
import dev.shardcache.membership.PhiAccrualFailureDetector;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Failure detection over in-process peers that answer pings, stay silent (a ping handler that never
 * answers), or stop serving altogether. Intervals are short (20 ms) and the detector is tuned to
 * match (a silent peer is suspected about a quarter of a second after its last answer); every
 * expectation is awaited with generous bounds, never timed.
 */
class HeartbeatsTest {
  private static final Duration INTERVAL = Duration.ofMillis(20);
  private static final Duration AWAIT = Duration.ofSeconds(5);
  private static final Duration LONG = Duration.ofSeconds(30);

  private final Map<String, InProcessPeer> peers = new ConcurrentHashMap<>();
  private final List<Logger> quieted = new ArrayList<>();
  private @Nullable Cluster cluster;
  private @Nullable Heartbeats heartbeats;

  @BeforeEach
  void quietTheMembershipLogs() {
    for (Class<?> noisy : List.of(Cluster.class, PeerClient.class)) {
      Logger logger = Logger.getLogger(noisy.getName());
      logger.setLevel(Level.SEVERE);
      quieted.add(logger);
    }
  }

  @AfterEach
  void stopAll() throws InterruptedException {
    if (heartbeats != null) {
      heartbeats.close();
    }
    if (cluster != null) {
      cluster.close();
      cluster.awaitTermination(Duration.ofSeconds(5));
    }
    for (InProcessPeer peer : peers.values()) {
      peer.close();
    }
    quieted.forEach(logger -> logger.setLevel(null));
  }

  @Test
  void aSilentPeerIsSuspectedAndLeavesTheRing() {
    InProcessPeer answering = peer("answering");
    InProcessPeer silent = peer("silent");
    silent.onPing = request -> Reply.silence();

    Cluster view = start(answering, silent);

    await()
        .atMost(AWAIT)
        .until(
            () ->
                view.suspectedPeers().equals(Set.of(silent.address()))
                    && view.ring().nodes().equals(sorted(view.self(), answering.address())));
    assertThat(silent.pings).hasPositiveValue();
    // Suspected is not removed: it keeps its client (and its hints), and is still pinged.
    assertThat(view.peers()).containsExactlyInAnyOrder(answering.address(), silent.address());
    assertThat(view.client(silent.address())).isNotNull();
    int pingsWhenSuspected = silent.pings.get();
    await().atMost(AWAIT).until(() -> silent.pings.get() > pingsWhenSuspected);
  }

  @Test
  void aSilentPeerRejoinsTheRingWhenItAnswersAgain() {
    InProcessPeer answering = peer("answering");
    InProcessPeer flaky = peer("flaky");
    flaky.onPing = request -> Reply.silence();
    Cluster view = start(answering, flaky);
    await().atMost(AWAIT).until(() -> view.suspectedPeers().contains(flaky.address()));
    int epochWhileSuspected = view.ringEpoch();

    flaky.onPing = request -> Reply.answer(PingResponse.getDefaultInstance());

    await()
        .atMost(AWAIT)
        .until(
            () ->
                view.suspectedPeers().isEmpty()
                    && view.ring()
                        .nodes()
                        .equals(sorted(view.self(), answering.address(), flaky.address())));
    assertThat(view.ringEpoch()).isGreaterThan(epochWhileSuspected);
  }

  @Test
  void aPeerThatStopsIsSuspectedAndRejoinsWhenItServesAgain() throws InterruptedException {
    InProcessPeer answering = peer("answering");
    InProcessPeer restarting = peer("restarting");
    Cluster view = start(answering, restarting);
    await().atMost(AWAIT).until(() -> restarting.pings.get() > 0);

    restarting.stop();

    await()
        .atMost(AWAIT)
        .until(
            () ->
                view.suspectedPeers().equals(Set.of(restarting.address()))
                    && !view.ring().contains(restarting.address()));

    restarting.serve();

    await()
        .atMost(AWAIT)
        .until(() -> view.suspectedPeers().isEmpty() && view.ring().contains(restarting.address()));
  }

  @Test
  void aPeerThatWasNeverHeardFromIsSuspected() {
    InProcessPeer answering = peer("answering");
    InProcessPeer late = track(InProcessPeer.unstarted("late"));

    Cluster view = start(answering, late);

    await().atMost(AWAIT).until(() -> view.suspectedPeers().equals(Set.of(late.address())));
    late.serve();
    await()
        .atMost(AWAIT)
        .until(() -> view.suspectedPeers().isEmpty() && view.ring().contains(late.address()));
  }

  @Test
  void suspicionAbandonsTheReadsInProgressToThePeerButNotItsWrites() {
    InProcessPeer answering = peer("answering");
    InProcessPeer slow = peer("slow");
    slow.onGet = request -> Reply.silence(); // a load that takes longer than the test
    Cluster view = start(answering, slow);
    PeerClient client = view.client(slow.address());
    CompletableFuture<GetResponse> read =
        PeerCalls.read(
            client, slow.address(), LONG, PeerCalls.Counter.NONE, stub -> stub.get(get("k")));
    CompletableFuture<GetResponse> write =
        PeerCalls.call(
            client, slow.address(), LONG, PeerCalls.Counter.NONE, stub -> stub.get(get("w")));
    await().atMost(AWAIT).until(() -> slow.gets.size() == 2);
    assertThat(read).isNotDone();

    slow.onPing = request -> Reply.silence(); // and now it stops answering heartbeats too

    PeerCallException failure = failureOf(read);
    assertThat(view.suspectedPeers()).contains(slow.address()); // suspected first
    assertThat(failure.failure()).isEqualTo(Failure.UNREACHABLE);
    assertThat(failure.status().getCode()).isEqualTo(Status.Code.CANCELLED);
    assertThat(client.isUp()).isTrue(); // the detector decides; the abandoned call does not
    assertThat(write).isNotDone();
  }

  @Test
  void anAnsweringPeerStaysInTheRing() {
    InProcessPeer first = peer("first");
    InProcessPeer second = peer("second");
    Cluster view = start(first, second);

    await().atMost(AWAIT).until(() -> first.pings.get() >= 10 && second.pings.get() >= 10);

    assertThat(view.suspectedPeers()).isEmpty();
    assertThat(view.ring().nodes())
        .isEqualTo(sorted(view.self(), first.address(), second.address()));
  }

  // ---------------------------------------------------------------------------------------------

  private InProcessPeer peer(String name) {
    return track(InProcessPeer.start(name));
  }

  private InProcessPeer track(InProcessPeer peer) {
    peers.put(peer.address(), peer);
    return peer;
  }

  /** A cluster of this node and {@code members}, watched by heartbeats every {@link #INTERVAL}. */
  private Cluster start(InProcessPeer... members) {
    List<String> addresses = Arrays.stream(members).map(InProcessPeer::address).toList();
    Cluster view =
        new Cluster(
            "self:7000",
            addresses,
            16,
            Duration.ofSeconds(1),
            ReplicationLimits.DEFAULT,
            (previous, next) -> {},
            address -> peers.get(address).client(Ticker.systemTicker()),
            ShardcacheNode.DEFAULT_MAX_CLOCK_SKEW);
    cluster = view;
    heartbeats =
        new Heartbeats(
            () -> view,
            INTERVAL,
            () ->
                PhiAccrualFailureDetector.builder()
                    .firstHeartbeatEstimate(INTERVAL)
                    .acceptableHeartbeatPause(Duration.ofMillis(100))
                    .minStdDeviation(Duration.ofMillis(20))
                    .build());
    return view;
  }

  private static GetRequest get(String key) {
    return GetRequest.newBuilder()
        .setCache("users")
        .setKey(ByteString.copyFromUtf8(key))
        .setLoad(true)
        .build();
  }

  private static List<String> sorted(String... members) {
    return Arrays.stream(members).sorted().toList();
  }

  private static PeerCallException failureOf(CompletableFuture<?> call) {
    try {
      call.get(AWAIT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof PeerCallException failed) {
        return failed;
      }
      throw new AssertionError("failed otherwise", e.getCause());
    } catch (Exception e) {
      throw new AssertionError("expected the call to fail within " + AWAIT, e);
    }
    throw new AssertionError("expected the call to fail: " + call);
  }
}
