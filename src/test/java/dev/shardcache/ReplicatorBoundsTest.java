package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import dev.shardcache.InProcessPeer.Reply;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.Refusal;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.ReplicateResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The replicator's bounds against in-process peers: requests bounded in bytes, per-peer and
 * per-node byte budgets, refusals that cost only what was refused, one peer never holding up
 * another, and no queue left for a peer that left. (The same bounds between real nodes: {@code
 * HintBoundsClusterTest}.)
 */
class ReplicatorBoundsTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(30);
  private static final Duration AWAIT = Duration.ofSeconds(10);
  private static final int KIB = 1024;

  private final FakeTicker ticker = new FakeTicker();
  private final List<Replicator> replicators = new ArrayList<>();
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final Logger logger = Logger.getLogger(Replicator.class.getName());
  private @Nullable Level level;
  private InProcessPeer peer;
  private InProcessPeer other;
  private Map<String, PeerClient> clients;

  /** While false the replicator finds no client for any peer, and keeps its queues. */
  private volatile boolean reachable = true;

  /** While true the replicator's own thread finds no client: only close() can send. */
  private volatile boolean onlyTheFinalFlush;

  @BeforeEach
  void startPeers() {
    level = logger.getLevel();
    logger.setLevel(Level.SEVERE); // refusals and drops are logged as warnings
    peer = InProcessPeer.start("replica");
    other = InProcessPeer.start("other");
    PeerClient peerClient = peer.client(ticker);
    PeerClient otherClient = other.client(ticker);
    closeables.addAll(List.of(peerClient, otherClient, peer, other));
    clients = Map.of(peer.address(), peerClient, other.address(), otherClient);
  }

  @AfterEach
  void stopAll() throws Exception {
    replicators.forEach(Replicator::close);
    for (AutoCloseable closeable : closeables) {
      closeable.close();
    }
    logger.setLevel(level);
  }

  @Test
  void everyRequestStaysWithinTheByteBoundAndAnEntryLargerThanItGoesAlone() {
    int bound = 1024 * KIB;
    Replicator replicator = replicator(limits(bound, 64L << 20, 64L << 20, Duration.ofMinutes(1)));
    reachable = false;
    for (int i = 0; i < 10; i++) {
      replicator.enqueue(peer.address(), "users", entry("k" + i, 300 * KIB));
    }
    replicator.enqueue(peer.address(), "users", entry("huge", 1536 * KIB));
    reachable = true;

    await().atMost(AWAIT).until(() -> replicator.sent() == 11);

    List<String> sizes = new ArrayList<>();
    for (ReplicateRequest request : peer.replicates) {
      sizes.add(request.getSerializedSize() / KIB + " KiB/" + entryCount(request));
      assertThat(request.getReportRefusals()).isTrue();
      if (entryCount(request) > 1) {
        assertThat(request.getSerializedSize()).isLessThanOrEqualTo(bound);
      }
    }
    System.out.println("requests (size/entries) under a 1024 KiB bound: " + sizes);
    assertThat(peer.replicatedKeys()).hasSize(11).doesNotHaveDuplicates().contains("huge");
    assertThat(peer.replicates)
        .filteredOn(request -> request.getSerializedSize() > bound)
        .singleElement()
        .satisfies(alone -> assertThat(entryCount(alone)).isEqualTo(1));
    assertThat(replicator.dropped()).isZero();
  }

  @Test
  void anEntryThePeerRefusesIsDroppedAloneAndItsBatchMatesAreApplied() {
    peer.onReplicate =
        request -> {
          ReplicateResponse.Builder response = ReplicateResponse.newBuilder();
          for (int b = 0; b < request.getBatchesCount(); b++) {
            List<VersionedEntry> entries = request.getBatches(b).getEntriesList();
            for (int e = 0; e < entries.size(); e++) {
              if (entries.get(e).getKey().toStringUtf8().equals("bad")) {
                response.addRefused(
                    Refusal.newBuilder()
                        .setBatch(b)
                        .setEntry(e)
                        .setCode(Status.Code.INVALID_ARGUMENT.value())
                        .setDescription("stamped an hour ahead"));
              }
            }
          }
          return Reply.answer(response.build());
        };
    Replicator replicator = replicator(ReplicationLimits.DEFAULT);
    reachable = false;
    replicator.enqueue(peer.address(), "users", entry("a", 10));
    replicator.enqueue(peer.address(), "users", entry("bad", 10));
    replicator.enqueue(peer.address(), "users", entry("b", 10));
    reachable = true;

    await().atMost(AWAIT).until(() -> replicator.backlog() == 0 && replicator.sent() == 2);
    assertThat(peer.replicates).hasSize(1); // one request, nothing sent again
    assertThat(replicator.dropped()).isEqualTo(1);
    assertThat(replicator.refused()).isEqualTo(1);
  }

  @Test
  void aCacheThePeerLacksWaitsWhileOtherCachesFlowAndIsDroppedAfterTheGrace() {
    peer.onReplicate =
        request -> {
          ReplicateResponse.Builder response = ReplicateResponse.newBuilder();
          for (int b = 0; b < request.getBatchesCount(); b++) {
            if (request.getBatches(b).getCache().equals("missing")) {
              response.addRefused(
                  Refusal.newBuilder()
                      .setBatch(b)
                      .setCode(Status.Code.NOT_FOUND.value())
                      .setDescription("no cache named 'missing'"));
            }
          }
          return Reply.answer(response.build());
        };
    Replicator replicator =
        replicator(limits(4 << 20, 64L << 20, 64L << 20, Duration.ofMillis(300)));
    reachable = false;
    replicator.enqueue(peer.address(), "missing", entry("m1", 10));
    replicator.enqueue(peer.address(), "missing", entry("m2", 10));
    replicator.enqueue(peer.address(), "users", entry("u1", 10));
    replicator.enqueue(peer.address(), "users", entry("u2", 10));
    reachable = true;

    await().atMost(AWAIT).until(() -> replicator.sent() == 2);
    // While "missing" waits for its retry, another write of "users" goes at once.
    replicator.enqueue(peer.address(), "users", entry("u3", 10));
    await().atMost(AWAIT).until(() -> replicator.sent() == 3);
    // The retry of "missing", a second later, is refused again, past the grace: dropped.
    await().atMost(AWAIT).until(() -> replicator.dropped() == 2 && replicator.backlog() == 0);

    List<List<String>> caches = new ArrayList<>();
    for (ReplicateRequest request : peer.replicates) {
      caches.add(request.getBatchesList().stream().map(CacheBatch::getCache).toList());
    }
    System.out.println("caches of each request: " + caches);
    assertThat(caches.get(0)).containsExactlyInAnyOrder("missing", "users");
    assertThat(caches.get(1)).containsExactly("users");
    assertThat(caches.get(2)).containsExactly("missing");
    assertThat(peer.replicatedKeys()).containsSubsequence("u1", "u3", "m1");
    assertThat(replicator.refused()).isEqualTo(2);
    assertThat(replicator.sent()).isEqualTo(3);
  }

  @Test
  void aPeerThatDoesNotAnswerDoesNotDelayAnother() {
    CompletableFuture<Reply<ReplicateResponse>> silentUntil = new CompletableFuture<>();
    peer.onReplicate = request -> Reply.when(silentUntil);
    Replicator replicator = replicator(ReplicationLimits.DEFAULT);
    replicator.enqueue(peer.address(), "users", entry("slow", 10));
    await().atMost(AWAIT).until(() -> peer.replicates.size() == 1); // its call is in flight

    replicator.enqueue(other.address(), "users", entry("a", 10));
    await().atMost(AWAIT).until(() -> other.replicatedKeys().contains("a"));
    replicator.enqueue(other.address(), "users", entry("b", 10));
    await().atMost(AWAIT).until(() -> other.replicatedKeys().contains("b"));
    assertThat(replicator.sent()).isEqualTo(2);

    silentUntil.complete(Reply.answer(ReplicateResponse.getDefaultInstance()));
    await().atMost(AWAIT).until(() -> replicator.sent() == 3);
  }

  @Test
  void aRequestRefusedForWantOfResourcesIsSentAgainInSmallerOnes() {
    int peerLimit = 700 * KIB; // a peer whose maxInboundMessageBytes is below our bound
    peer.onReplicate =
        request ->
            request.getSerializedSize() > peerLimit
                ? Reply.fail(Status.RESOURCE_EXHAUSTED.withDescription("message too large"))
                : Reply.answer(ReplicateResponse.getDefaultInstance());
    Replicator replicator =
        replicator(limits(4 << 20, 64L << 20, 64L << 20, Duration.ofMinutes(1)));
    reachable = false;
    for (int i = 0; i < 8; i++) {
      replicator.enqueue(peer.address(), "users", entry("k" + i, 200 * KIB));
    }
    reachable = true;

    await().atMost(AWAIT).until(() -> replicator.sent() == 8);
    List<String> applied = new ArrayList<>();
    List<String> sizes = new ArrayList<>();
    for (ReplicateRequest request : peer.replicates) {
      boolean refused = request.getSerializedSize() > peerLimit;
      sizes.add(request.getSerializedSize() / KIB + " KiB" + (refused ? " refused" : ""));
      if (!refused) {
        request.getBatchesList().stream()
            .flatMap(batch -> batch.getEntriesList().stream())
            .forEach(entry -> applied.add(entry.getKey().toStringUtf8()));
      }
    }
    System.out.println("requests to a peer that takes at most 700 KiB: " + sizes);
    assertThat(applied).hasSize(8).doesNotHaveDuplicates();
    assertThat(replicator.dropped()).isZero();
  }

  @Test
  void thePerPeerBudgetKeepsTheNewestWritesAndCountsWhatItDrops() {
    long budget = 64 * KIB;
    Replicator replicator = replicator(limits(4 << 20, budget, 1L << 20, Duration.ofMinutes(1)));
    reachable = false;
    for (int i = 0; i < 100; i++) {
      replicator.enqueue(peer.address(), "users", entry("k" + i, 4 * KIB));
    }
    // A key written again and again is one item.
    for (int i = 0; i < 1_000; i++) {
      replicator.enqueue(peer.address(), "users", entry("k99", 4 * KIB, 100 + i));
    }

    long itemBytes = entry("k10", 4 * KIB).getSerializedSize() + HintQueue.ITEM_OVERHEAD_BYTES;
    long kept = budget / itemBytes;
    System.out.printf(
        "per-peer budget %d B: %d items kept in %d B, %d dropped%n",
        budget, replicator.backlog(), replicator.queuedBytes(), replicator.dropped());
    assertThat(replicator.queuedBytes()).isLessThanOrEqualTo(budget);
    assertThat(replicator.backlog()).isEqualTo(kept);
    assertThat(replicator.dropped()).isEqualTo(100 - kept);

    reachable = true;
    await().atMost(AWAIT).until(() -> replicator.backlog() == 0);
    List<String> newest = new ArrayList<>();
    for (long i = 100 - kept; i < 100; i++) {
      newest.add("k" + i);
    }
    assertThat(peer.replicatedKeys()).containsExactlyInAnyOrderElementsOf(newest);
    assertThat(replicator.queuedBytes()).isZero();
  }

  @Test
  void theNodeBudgetTrimsTheLargestQueue() {
    long perPeer = 256 * KIB;
    long total = 300 * KIB;
    Replicator replicator = replicator(limits(4 << 20, perPeer, total, Duration.ofMinutes(1)));
    reachable = false;
    for (int i = 0; i < 60; i++) {
      replicator.enqueue(peer.address(), "users", entry("p" + i, 4 * KIB)); // ~250 KiB
    }
    assertThat(replicator.dropped()).isZero();
    for (int i = 0; i < 20; i++) {
      replicator.enqueue(other.address(), "users", entry("o" + i, 4 * KIB)); // ~85 KiB
    }

    System.out.printf(
        "node budget %d B: %d B queued, %d items dropped%n",
        total, replicator.queuedBytes(), replicator.dropped());
    assertThat(replicator.queuedBytes()).isLessThanOrEqualTo(total);
    assertThat(replicator.dropped()).isPositive();
    reachable = true;
    await().atMost(AWAIT).until(() -> replicator.backlog() == 0);
    // The node's bound took from the largest queue: the smaller one was never trimmed.
    assertThat(other.replicatedKeys()).hasSize(20);
    assertThat(peer.replicatedKeys()).hasSize(60 - (int) replicator.dropped());
  }

  @Test
  void enqueuesRacingDeparturesLeaveNoQueueAndLoseNothingUncounted() throws Exception {
    Replicator replicator = replicator(ReplicationLimits.DEFAULT);
    reachable = false;
    AtomicBoolean stop = new AtomicBoolean();
    AtomicLong enqueued = new AtomicLong();
    ExecutorService pool = Executors.newFixedThreadPool(3);
    try {
      List<Future<?>> writers = new ArrayList<>();
      for (int w = 0; w < 2; w++) {
        int writer = w;
        writers.add(
            pool.submit(
                () -> {
                  for (int i = 0; !stop.get(); i++) {
                    replicator.enqueue(peer.address(), "users", entry(writer + ":" + i, 16));
                    enqueued.incrementAndGet();
                  }
                }));
      }
      for (int round = 0;
          round < 2_000 || (enqueued.get() < 50_000 && round < 1_000_000);
          round++) {
        replicator.retain(round % 2 == 0 ? List.of() : List.of(peer.address()));
      }
      replicator.retain(List.of());
      stop.set(true);
      for (Future<?> writer : writers) {
        writer.get(10, TimeUnit.SECONDS);
      }
      replicator.retain(List.of()); // after the last enqueue
    } finally {
      pool.shutdownNow();
    }

    System.out.printf(
        "%d enqueues racing membership changes: %d dropped, %d queued%n",
        enqueued.get(), replicator.dropped(), replicator.backlog());
    assertThat(replicator.queuedPeers()).isEmpty();
    assertThat(replicator.queuedBytes()).isZero();
    assertThat(replicator.backlog()).isZero();
    assertThat(replicator.dropped()).isEqualTo(enqueued.get()); // every key distinct, none sent
  }

  @Test
  void closeFlushesPeersSideBySide() {
    peer.onReplicate = request -> Reply.silence();
    Replicator replicator = replicator(ReplicationLimits.DEFAULT);
    onlyTheFinalFlush = true;
    replicator.enqueue(peer.address(), "users", entry("stuck", 10));
    replicator.enqueue(other.address(), "users", entry("flushed", 10));

    replicator.close(Duration.ofSeconds(1)); // the silent peer takes all of it

    assertThat(other.replicatedKeys()).containsExactly("flushed");
  }

  // ---------------------------------------------------------------------------------------------

  private static ReplicationLimits limits(
      int maxRequestBytes, long perPeer, long total, Duration grace) {
    return new ReplicationLimits(maxRequestBytes, perPeer, total, grace);
  }

  /** A replicator whose members are the two peers, found while {@link #reachable}. */
  private Replicator replicator(ReplicationLimits limits) {
    Replicator replicator =
        new Replicator(
            "self:7000",
            address ->
                reachable
                        && !(onlyTheFinalFlush
                            && Thread.currentThread().getName().startsWith("shardcache-replicator"))
                    ? clients.get(address)
                    : null,
            TIMEOUT,
            limits);
    replicator.retain(List.of(peer.address(), other.address()));
    replicators.add(replicator);
    return replicator;
  }

  private static VersionedEntry entry(String key, int valueBytes) {
    return entry(key, valueBytes, 10);
  }

  private static VersionedEntry entry(String key, int valueBytes, long timestamp) {
    return VersionedEntry.newBuilder()
        .setKey(ByteString.copyFromUtf8(key))
        .setValue(ByteString.copyFrom(new byte[valueBytes]))
        .setTimestamp(timestamp)
        .setWriter(1)
        .build();
  }

  private static int entryCount(ReplicateRequest request) {
    return request.getBatchesList().stream().mapToInt(CacheBatch::getEntriesCount).sum();
  }
}
