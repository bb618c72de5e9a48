package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import dev.shardcache.InProcessPeer.Reply;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.ReplicateResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The replicator's per-peer hint queues against an in-process peer whose {@code Replicate} answers
 * as each test decides. Hints are held back deterministically by making the peer's client
 * unavailable to the replicator ({@link #reachable}) while a test fills a queue.
 */
class ReplicatorTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(5);
  private static final Duration AWAIT = Duration.ofSeconds(5);
  private static final long BUDGET = 1 << 20;

  private final FakeTicker ticker = new FakeTicker();
  private final List<Replicator> replicators = new ArrayList<>();
  private final Logger logger = Logger.getLogger(Replicator.class.getName());
  private @Nullable Level level;
  private InProcessPeer peer;
  private PeerClient client;

  /** While false the replicator finds no client for the peer, and keeps its queue. */
  private volatile boolean reachable = true;

  @BeforeEach
  void startPeer() {
    level = logger.getLevel();
    logger.setLevel(Level.SEVERE); // refused batches are logged as warnings
    peer = InProcessPeer.start("replica");
    client = peer.client(ticker);
  }

  @AfterEach
  void stopAll() throws InterruptedException {
    replicators.forEach(Replicator::close);
    client.close();
    peer.close();
    logger.setLevel(level);
  }

  @Test
  void aNewerWriteOfAKeyReplacesTheQueuedOne() {
    Replicator replicator = replicator(BUDGET, TIMEOUT);
    reachable = false;
    replicator.enqueue(peer.address(), "users", entry("k", 10, 1));
    replicator.enqueue(peer.address(), "users", entry("j", 10, 1));
    replicator.enqueue(peer.address(), "users", entry("k", 20, 1));
    replicator.enqueue(peer.address(), "users", entry("k", 15, 1)); // older than the queued one
    replicator.enqueue(peer.address(), "users", entry("j", 10, 2)); // same time, higher writer
    replicator.enqueue(peer.address(), "users", entry("j", 10, 0)); // same time, lower writer
    assertThat(replicator.backlog()).isEqualTo(2);

    reachable = true;

    await().atMost(AWAIT).until(() -> replicator.sent() == 2);
    assertThat(peer.replicates).hasSize(1);
    assertThat(versions(peer.replicates.get(0))).containsExactly("k@20/1", "j@10/2");
    assertThat(replicator.dropped()).isZero();
  }

  @Test
  void hintsAreKeptWhileThePeerIsUnreachableAndDeliveredWhenItAnswers() {
    peer.onReplicate = request -> Reply.fail(Status.UNAVAILABLE.withDescription("restarting"));
    Replicator replicator = replicator(BUDGET, TIMEOUT);
    replicator.enqueue(peer.address(), "users", entry("k", 10, 1));

    await().atMost(AWAIT).until(() -> !client.isUp() && replicator.backlog() == 1);
    assertThat(peer.replicates).hasSize(1);
    assertThat(replicator.dropped()).isZero();

    // The peer is back; the replicator hears of it through the probe that follows the back-off.
    peer.onReplicate = request -> Reply.answer(ReplicateResponse.getDefaultInstance());
    ticker.advance(PeerClient.INITIAL_BACKOFF.multipliedBy(2));

    await().atMost(AWAIT).until(() -> replicator.sent() == 1);
    assertThat(client.isUp()).isTrue();
    assertThat(peer.pings).hasPositiveValue();
    assertThat(peer.replicates).hasSize(2);
    assertThat(versions(peer.replicates.get(1))).containsExactly("k@10/1");
    assertThat(replicator.backlog()).isZero();
  }

  @Test
  void hintsAreKeptWhileThePeerIsSlowAndThePeerIsNotMarkedDown() {
    peer.onReplicate = request -> Reply.silence();
    Replicator replicator = replicator(BUDGET, Duration.ofMillis(50));
    replicator.enqueue(peer.address(), "users", entry("k", 10, 1));

    // Each attempt runs out its deadline; the peer stays up, so the next attempt follows at once.
    await().atMost(AWAIT).until(() -> peer.replicates.size() >= 3);
    assertThat(client.isUp()).isTrue();
    assertThat(replicator.dropped()).isZero();

    peer.onReplicate = request -> Reply.answer(ReplicateResponse.getDefaultInstance());

    await().atMost(AWAIT).until(() -> replicator.sent() == 1);
    assertThat(replicator.backlog()).isZero();
    assertThat(peer.replicatedKeys()).containsOnly("k");
  }

  @Test
  void aBatchThatFailsIsPutBackBehindANewerWriteQueuedMeanwhile() {
    CompletableFuture<Reply<ReplicateResponse>> firstAnswer = new CompletableFuture<>();
    peer.onReplicate = request -> Reply.when(firstAnswer);
    Replicator replicator = replicator(BUDGET, TIMEOUT);
    replicator.enqueue(peer.address(), "users", entry("k", 10, 1));
    await().atMost(AWAIT).until(() -> peer.replicates.size() == 1);

    // While k@10 is on its way, a newer write of k is queued; then the call fails as slow.
    replicator.enqueue(peer.address(), "users", entry("k", 20, 1));
    peer.onReplicate = request -> Reply.answer(ReplicateResponse.getDefaultInstance());
    firstAnswer.complete(Reply.fail(Status.DEADLINE_EXCEEDED));

    await().atMost(AWAIT).until(() -> replicator.sent() == 1);
    assertThat(peer.replicates).hasSize(2);
    assertThat(versions(peer.replicates.get(1))).containsExactly("k@20/1");
    assertThat(replicator.backlog()).isZero();
  }

  @Test
  void aCacheThePeerDoesNotDefineYetIsRetriedLater() {
    AtomicInteger calls = new AtomicInteger();
    peer.onReplicate =
        request ->
            calls.incrementAndGet() == 1
                ? Reply.fail(Status.NOT_FOUND.withDescription("cache 'users' is not defined"))
                : Reply.answer(ReplicateResponse.getDefaultInstance());
    Replicator replicator = replicator(BUDGET, TIMEOUT);
    replicator.enqueue(peer.address(), "users", entry("k", 10, 1));

    await().atMost(AWAIT).until(() -> replicator.sent() == 1);

    assertThat(peer.replicates).hasSize(2);
    assertThat(versions(peer.replicates.get(1))).containsExactly("k@10/1");
    assertThat(replicator.dropped()).isZero();
    assertThat(client.isUp()).isTrue();
    // Not in the next drain (every 5 ms) but after a pause (a second).
    long gapNanos = peer.replicateArrivalNanos.get(1) - peer.replicateArrivalNanos.get(0);
    assertThat(Duration.ofNanos(gapNanos)).isGreaterThanOrEqualTo(Duration.ofMillis(500));
  }

  @Test
  void aRefusedBatchIsDroppedAndCounted() {
    peer.onReplicate =
        request -> Reply.fail(Status.INVALID_ARGUMENT.withDescription("too far ahead"));
    Replicator replicator = replicator(BUDGET, TIMEOUT);
    reachable = false;
    replicator.enqueue(peer.address(), "users", entry("a", 10, 1));
    replicator.enqueue(peer.address(), "users", entry("b", 10, 1));
    reachable = true;

    await().atMost(AWAIT).until(() -> replicator.dropped() == 2);
    assertThat(replicator.backlog()).isZero();
    assertThat(client.isUp()).isTrue();

    // Nothing of the refused batch is sent again.
    peer.onReplicate = request -> Reply.answer(ReplicateResponse.getDefaultInstance());
    replicator.enqueue(peer.address(), "users", entry("c", 10, 1));
    await().atMost(AWAIT).until(() -> replicator.sent() == 1);
    assertThat(peer.replicates).hasSize(2);
    assertThat(versions(peer.replicates.get(1))).containsExactly("c@10/1");
  }

  @Test
  void aFullQueueDropsItsOldestEntriesAndCountsThem() {
    long itemBytes = entry("k1", 10, 1).getSerializedSize() + HintQueue.ITEM_OVERHEAD_BYTES;
    Replicator replicator = replicator(3 * itemBytes, TIMEOUT);
    reachable = false;
    for (int i = 1; i <= 5; i++) {
      replicator.enqueue(peer.address(), "users", entry("k" + i, 10, 1));
    }
    assertThat(replicator.backlog()).isEqualTo(3);
    assertThat(replicator.queuedBytes()).isEqualTo(3 * itemBytes);
    assertThat(replicator.dropped()).isEqualTo(2);

    reachable = true;

    await().atMost(AWAIT).until(() -> replicator.sent() == 3);
    assertThat(peer.replicatedKeys()).containsExactly("k3", "k4", "k5");
  }

  @Test
  void aQueueIsSentInBatchesOfAtMost500() {
    Replicator replicator = replicator(BUDGET, TIMEOUT);
    reachable = false;
    for (int i = 0; i < 1_200; i++) {
      replicator.enqueue(peer.address(), "users", entry("k" + i, 10, 1));
    }
    reachable = true;

    await().atMost(AWAIT).until(() -> replicator.sent() == 1_200);
    assertThat(peer.replicates)
        .extracting(ReplicatorTest::entryCount)
        .containsExactly(500, 500, 200);
    assertThat(peer.replicatedKeys()).hasSize(1_200).doesNotHaveDuplicates();
  }

  @Test
  void aQueuedClearTravelsInTheSameRequestAheadOfTheEntries() {
    Replicator replicator = replicator(BUDGET, TIMEOUT);
    reachable = false;
    replicator.enqueue(peer.address(), "users", entry("dead", 50, 1));
    replicator.enqueue(peer.address(), "users", entry("alive", 150, 1));
    replicator.enqueue(peer.address(), "orders", entry("other", 50, 1));
    replicator.enqueueClear(peer.address(), "users", 100);
    replicator.enqueueClear(peer.address(), "users", 80); // an older clear changes nothing
    replicator.enqueueNearInvalidation(peer.address(), "users", utf8("near"));
    // The clear removed the entry it makes dead: the clear, two entries, one invalidation remain.
    assertThat(replicator.backlog()).isEqualTo(4);

    reachable = true;

    await().atMost(AWAIT).until(() -> replicator.backlog() == 0 && replicator.sent() == 4);
    assertThat(peer.replicates).hasSize(1);
    ReplicateRequest request = peer.replicates.get(0);
    assertThat(request.getBatchesList())
        .extracting(CacheBatch::getCache)
        .containsExactly("users", "orders");
    CacheBatch users = request.getBatches(0);
    assertThat(users.getClearedBefore()).isEqualTo(100);
    assertThat(users.getEntriesList())
        .extracting(e -> e.getKey().toStringUtf8())
        .containsExactly("alive");
    assertThat(users.getNearInvalidationsList()).containsExactly(utf8("near"));
    CacheBatch orders = request.getBatches(1);
    assertThat(orders.getClearedBefore()).isZero();
    assertThat(orders.getEntriesList())
        .extracting(e -> e.getKey().toStringUtf8())
        .containsExactly("other");
  }

  @Test
  void dropOlderThanRemovesTheEntriesAClearMadeDeadFromEveryQueue() throws InterruptedException {
    try (InProcessPeer second = InProcessPeer.start("second");
        PeerClient secondClient = second.client(ticker)) {
      Replicator replicator =
          replicator(
              BUDGET,
              TIMEOUT,
              address ->
                  !reachable
                      ? null
                      : address.equals(peer.address())
                          ? client
                          : address.equals(second.address()) ? secondClient : null);
      replicator.retain(List.of(peer.address(), second.address()));
      reachable = false;
      for (String to : List.of(peer.address(), second.address())) {
        replicator.enqueue(to, "users", entry("old", 50, 1));
        replicator.enqueue(to, "users", entry("new", 150, 1));
        replicator.enqueue(to, "orders", entry("other", 50, 1));
      }

      replicator.dropOlderThan("users", 100);

      assertThat(replicator.backlog()).isEqualTo(4);
      assertThat(replicator.dropped()).isZero(); // dead, not lost: nothing to repair
      reachable = true;
      await().atMost(AWAIT).until(() -> replicator.sent() == 4);
      for (InProcessPeer receiver : List.of(peer, second)) {
        assertThat(receiver.replicatedKeys()).containsExactly("new", "other");
        // Dropping is not a clear: no clear travels with the entries.
        assertThat(receiver.replicates.get(0).getBatchesList())
            .allSatisfy(batch -> assertThat(batch.getClearedBefore()).isZero());
      }
    }
  }

  @Test
  void aPeerThatLeavesLosesItsQueueAndOneThatComesBackStartsAfresh() {
    Replicator replicator = replicator(BUDGET, TIMEOUT);
    reachable = false;
    replicator.enqueue(peer.address(), "users", entry("a", 10, 1));
    replicator.enqueue(peer.address(), "users", entry("b", 10, 1));

    replicator.retain(List.of());

    assertThat(replicator.backlog()).isZero();
    assertThat(replicator.queuedBytes()).isZero();
    assertThat(replicator.queuedPeers()).isEmpty();
    assertThat(replicator.dropped()).isEqualTo(2);
    // A write for a peer that is no longer a member makes no queue; it is counted as dropped.
    replicator.enqueue(peer.address(), "users", entry("late", 10, 1));
    assertThat(replicator.queuedPeers()).isEmpty();
    assertThat(replicator.dropped()).isEqualTo(3);

    replicator.retain(List.of(peer.address()));
    reachable = true;
    replicator.enqueue(peer.address(), "users", entry("c", 10, 1));
    await().atMost(AWAIT).until(() -> replicator.sent() == 1);
    assertThat(peer.replicatedKeys()).containsExactly("c");
  }

  @Test
  void closeFlushesWhatIsQueuedToAReachablePeer() {
    Replicator replicator = replicator(BUDGET, TIMEOUT, onlyForTheFinalFlush());
    for (int i = 0; i < 1_200; i++) {
      replicator.enqueue(peer.address(), "users", entry("k" + i, 10, 1));
    }

    replicator.close(Duration.ofSeconds(5));

    assertThat(replicator.sent()).isEqualTo(1_200);
    assertThat(replicator.backlog()).isZero();
    assertThat(peer.replicates)
        .extracting(ReplicatorTest::entryCount)
        .containsExactly(500, 500, 200);
    // A closed replicator queues nothing more.
    replicator.enqueue(peer.address(), "users", entry("late", 10, 1));
    assertThat(replicator.backlog()).isZero();
  }

  @Test
  void closeDoesNotCallADownPeer() {
    Replicator replicator = replicator(BUDGET, TIMEOUT, onlyForTheFinalFlush());
    replicator.enqueue(peer.address(), "users", entry("k", 10, 1));
    client.onUnreachable(Status.UNAVAILABLE);

    replicator.close(Duration.ofSeconds(5));

    assertThat(peer.replicates).isEmpty();
    assertThat(replicator.sent()).isZero();
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * A replicator of {@code budget} bytes per peer that finds {@link #peer}'s client while {@link
   * #reachable}.
   */
  private Replicator replicator(long budget, Duration timeout) {
    return replicator(
        budget, timeout, address -> reachable && address.equals(peer.address()) ? client : null);
  }

  /** A replicator of {@code budget} bytes per peer whose one member is {@link #peer}. */
  private Replicator replicator(
      long budget, Duration timeout, Function<String, @Nullable PeerClient> clients) {
    ReplicationLimits limits =
        new ReplicationLimits(
            ReplicationLimits.DEFAULT.maxRequestBytes(),
            budget,
            budget * 2,
            ReplicationLimits.DEFAULT.refusalGrace());
    Replicator replicator = new Replicator("self:7000", clients, timeout, limits);
    replicator.retain(List.of(peer.address()));
    replicators.add(replicator);
    return replicator;
  }

  /** Finds no client on the replicator's own thread: only the final flush of close() can send. */
  private Function<String, @Nullable PeerClient> onlyForTheFinalFlush() {
    return address ->
        Thread.currentThread().getName().startsWith("shardcache-replicator")
                || !address.equals(peer.address())
            ? null
            : client;
  }

  private static VersionedEntry entry(String key, long timestamp, long writer) {
    return VersionedEntry.newBuilder()
        .setKey(utf8(key))
        .setValue(utf8(key + "@" + timestamp))
        .setTimestamp(timestamp)
        .setWriter(writer)
        .build();
  }

  private static ByteString utf8(String s) {
    return ByteString.copyFromUtf8(s);
  }

  /** "key@timestamp/writer" of each entry of a request, in order. */
  private static List<String> versions(ReplicateRequest request) {
    List<String> versions = new ArrayList<>();
    request
        .getBatchesList()
        .forEach(
            batch ->
                batch
                    .getEntriesList()
                    .forEach(
                        e ->
                            versions.add(
                                e.getKey().toStringUtf8()
                                    + "@"
                                    + e.getTimestamp()
                                    + "/"
                                    + e.getWriter())));
    return versions;
  }

  private static int entryCount(ReplicateRequest request) {
    return request.getBatchesList().stream().mapToInt(CacheBatch::getEntriesCount).sum();
  }
}
