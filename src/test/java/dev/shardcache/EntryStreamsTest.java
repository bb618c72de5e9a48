package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.shardcache.InProcessPeer.Reply;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.ReplicateResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link EntryStreams}, the chunking of hand-off and anti-entropy, against in-process peers whose
 * {@code Replicate} answers as each test decides: every call within the byte bound, a refused entry
 * skipped alone, a failed peer given up, one receipt per entry.
 */
class EntryStreamsTest {
  private static final int KIB = 1024;

  private final FakeTicker ticker = new FakeTicker();
  private final Logger logger = Logger.getLogger(EntryStreams.class.getName());
  private final LongAdder refused = new LongAdder();
  private final List<String> delivered = new ArrayList<>();
  private final List<String> notDelivered = new ArrayList<>();
  private @Nullable Level level;
  private InProcessPeer peer;
  private InProcessPeer other;
  private PeerClient client;
  private PeerClient otherClient;

  @BeforeEach
  void startPeers() {
    level = logger.getLevel();
    logger.setLevel(Level.SEVERE); // refused entries are logged as warnings
    peer = InProcessPeer.start("holder");
    other = InProcessPeer.start("other");
    client = peer.client(ticker);
    otherClient = other.client(ticker);
  }

  @AfterEach
  void stopPeers() throws InterruptedException {
    client.close();
    otherClient.close();
    peer.close();
    other.close();
    logger.setLevel(level);
  }

  @Test
  void everyCallStaysWithinTheByteBoundAndEveryEntryArrivesOnce() {
    EntryStreams<String> streams = streams(16 * KIB);
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      keys.add("k" + i);
      streams.add(peer.address(), entry("k" + i, KIB), "k" + i);
    }
    streams.finish();

    assertThat(peer.replicates).hasSizeGreaterThan(6); // 100 KiB in chunks of at most 16 KiB
    for (ReplicateRequest request : peer.replicates) {
      assertThat(request.getSerializedSize()).isLessThanOrEqualTo(16 * KIB);
    }
    assertThat(peer.replicatedKeys()).containsExactlyElementsOf(keys);
    assertThat(delivered).containsExactlyElementsOf(keys);
    assertThat(notDelivered).isEmpty();
    assertThat(streams.sentBytes())
        .isEqualTo(peer.replicates.stream().mapToLong(ReplicateRequest::getSerializedSize).sum());
  }

  @Test
  void anEntryLargerThanTheBoundTravelsAlone() {
    EntryStreams<String> streams = streams(16 * KIB);
    streams.add(peer.address(), entry("small-1", KIB), "small-1");
    streams.add(peer.address(), entry("huge", 40 * KIB), "huge");
    streams.add(peer.address(), entry("small-2", KIB), "small-2");
    streams.finish();

    assertThat(peer.replicates)
        .extracting(EntryStreamsTest::keysOf)
        .containsExactly(List.of("small-1"), List.of("huge"), List.of("small-2"));
    assertThat(delivered).containsExactly("small-1", "huge", "small-2");
  }

  @Test
  void anEntryThePeerRefusesIsSkippedAloneAndItsNeighboursArrive() {
    peer.onReplicate =
        request ->
            keysOf(request).contains("k13")
                ? Reply.fail(Status.INVALID_ARGUMENT.withDescription("no k13 here"))
                : Reply.answer(ReplicateResponse.getDefaultInstance());
    EntryStreams<String> streams = streams(64 * KIB);
    for (int i = 0; i < 40; i++) {
      streams.add(peer.address(), entry("k" + i, KIB), "k" + i);
    }
    streams.finish();

    assertThat(notDelivered).containsExactly("k13");
    assertThat(delivered).hasSize(39).doesNotContain("k13");
    assertThat(refused.sum()).isEqualTo(1);
    assertThat(streams.failed(peer.address())).isFalse();
  }

  @Test
  void aChunkOverThePeersInboundLimitIsSplitUntilItFits() {
    int peerLimit = 8 * KIB; // the peer was configured lower than this node's bound
    peer.onReplicate =
        request ->
            request.getSerializedSize() > peerLimit
                ? Reply.fail(Status.RESOURCE_EXHAUSTED.withDescription("message too large"))
                : Reply.answer(ReplicateResponse.getDefaultInstance());
    EntryStreams<String> streams = streams(64 * KIB);
    for (int i = 0; i < 50; i++) {
      streams.add(peer.address(), entry("k" + i, KIB), "k" + i);
    }
    streams.finish();

    assertThat(delivered).hasSize(50);
    assertThat(notDelivered).isEmpty();
    assertThat(refused.sum()).isZero();
  }

  @Test
  void aPeerThatRefusesEverythingIsGivenUpAfterAFewDozenCalls() {
    peer.onReplicate = request -> Reply.fail(Status.INVALID_ARGUMENT.withDescription("no"));
    EntryStreams<String> streams = streams(64 * KIB);
    for (int i = 0; i < 500; i++) {
      streams.add(peer.address(), entry("k" + i, 100), "k" + i);
    }
    streams.finish();

    assertThat(delivered).isEmpty();
    assertThat(notDelivered).hasSize(500);
    assertThat(refused.sum()).isEqualTo(EntryStreams.MAX_REFUSED_PER_PEER);
    assertThat(streams.failed(peer.address())).isTrue();
    assertThat(peer.replicates.size()).isLessThan(100);
  }

  @Test
  void anUnreachablePeerIsGivenUpAndAnotherStillGetsItsEntries() throws InterruptedException {
    peer.stop();
    EntryStreams<String> streams = streams(16 * KIB);
    for (int i = 0; i < 60; i++) {
      streams.add(peer.address(), entry("to-gone" + i, KIB), "to-gone" + i);
      streams.add(other.address(), entry("to-other" + i, KIB), "to-other" + i);
    }
    streams.finish();

    assertThat(streams.failed(peer.address())).isTrue();
    assertThat(notDelivered).hasSize(60).allMatch(key -> key.startsWith("to-gone"));
    assertThat(delivered).hasSize(60).allMatch(key -> key.startsWith("to-other"));
    assertThat(refused.sum()).isZero();
  }

  @Test
  void aPeerWithoutTheCacheIsGivenUpAfterOneCall() {
    peer.onReplicate = request -> Reply.fail(Status.NOT_FOUND.withDescription("no cache named"));
    EntryStreams<String> streams = streams(16 * KIB);
    for (int i = 0; i < 60; i++) {
      streams.add(peer.address(), entry("k" + i, KIB), "k" + i);
    }
    streams.finish();

    assertThat(peer.replicates).hasSize(1);
    assertThat(notDelivered).hasSize(60);
    assertThat(refused.sum()).isZero();
  }

  @Test
  void buffersForManyPeersTogetherStayNearTheBound() {
    int bound = 16 * KIB;
    List<InProcessPeer> peers = new ArrayList<>();
    List<PeerClient> clients = new ArrayList<>();
    try {
      for (int i = 0; i < 8; i++) {
        InProcessPeer started = InProcessPeer.start("many" + i);
        peers.add(started);
        clients.add(started.client(ticker));
      }
      EntryStreams<String> streams =
          new EntryStreams<>(
              target(
                  address -> {
                    for (int i = 0; i < peers.size(); i++) {
                      if (peers.get(i).address().equals(address)) {
                        return clients.get(i);
                      }
                    }
                    return null;
                  },
                  bound),
              receipts(),
              refused);
      // Round-robin over 8 peers: without the shared bound, 8 buffers of 16 KiB would be held.
      for (int i = 0; i < 400; i++) {
        InProcessPeer to = peers.get(i % peers.size());
        streams.add(to.address(), entry("k" + i, KIB), "k" + i);
        // Each entry takes a little over 1 KiB: at most two bounds' worth waits, plus the one
        // added.
        assertThat(i + 1 - delivered.size()).isLessThanOrEqualTo(2 * bound / KIB + 1);
      }
      streams.finish();
      assertThat(delivered).hasSize(400);
    } finally {
      clients.forEach(PeerClient::close);
      for (InProcessPeer started : peers) {
        try {
          started.close();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }
  }

  // ---------------------------------------------------------------- helpers

  private EntryStreams<String> streams(int maxBatchBytes) {
    return new EntryStreams<>(
        target(
            address ->
                address.equals(peer.address())
                    ? client
                    : address.equals(other.address()) ? otherClient : null,
            maxBatchBytes),
        receipts(),
        refused);
  }

  private static EntryStreams.Target target(
      java.util.function.Function<String, @Nullable PeerClient> clients, int maxBatchBytes) {
    return new EntryStreams.Target(
        "self:1",
        clients,
        "kv",
        () -> 0L,
        Duration.ofSeconds(5),
        maxBatchBytes,
        EntryStreams.NO_DEADLINE);
  }

  private EntryStreams.Receipts<String> receipts() {
    return new EntryStreams.Receipts<>() {
      @Override
      public void delivered(String to, List<String> keys) {
        delivered.addAll(keys);
      }

      @Override
      public void notDelivered(String to, List<String> keys) {
        notDelivered.addAll(keys);
      }
    };
  }

  private static VersionedEntry entry(String key, int valueBytes) {
    byte[] value = new byte[valueBytes];
    Arrays.fill(value, (byte) 'v');
    return VersionedEntry.newBuilder()
        .setKey(ByteString.copyFromUtf8(key))
        .setValue(ByteString.copyFrom(value))
        .setTimestamp(1L << 20)
        .setWriter(7)
        .build();
  }

  private static List<String> keysOf(ReplicateRequest request) {
    List<String> keys = new ArrayList<>();
    for (CacheBatch batch : request.getBatchesList()) {
      batch.getEntriesList().forEach(entry -> keys.add(entry.getKey().toStringUtf8()));
    }
    return keys;
  }
}
