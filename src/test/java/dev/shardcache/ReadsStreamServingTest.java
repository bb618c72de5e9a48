package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.StreamedGet;
import dev.shardcache.internal.proto.StreamedGetAnswer;
import dev.shardcache.testing.TestCluster;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The serving side of a {@code Reads} stream on a real node over loopback, driven message by
 * message: every read is answered once under its id; a read past the host's {@code
 * maxConcurrentCallsPerPeer} is refused on its own, and the stream serves the next one once a slot
 * is free; bad messages, unknown caches and answers over the caller's size limit fail their read
 * and nothing else; a half-closed stream ends once its last read is answered.
 */
class ReadsStreamServingTest {
  private static final String SLOW = "slow";
  private static final String FAST = "fast";

  private final CountDownLatch release = new CountDownLatch(1);
  private final CountDownLatch loading = new CountDownLatch(1);
  private TestCluster cluster;
  private ManagedChannel channel;
  private Answers answers;
  private StreamObserver<StreamedGet> reads;

  /** What the node sent on the stream, by read id, and how the stream ended. */
  private static final class Answers implements StreamObserver<StreamedGetAnswer> {
    final Map<Long, StreamedGetAnswer> byId = new ConcurrentHashMap<>();
    final CompletableFuture<Status> end = new CompletableFuture<>();

    @Override
    public void onNext(StreamedGetAnswer answer) {
      if (byId.putIfAbsent(answer.getId(), answer) != null) {
        end.completeExceptionally(new AssertionError("read " + answer.getId() + " answered twice"));
      }
    }

    @Override
    public void onError(Throwable t) {
      end.complete(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
      end.complete(Status.OK);
    }

    StreamedGetAnswer answerTo(long id) {
      Awaitility.await()
          .atMost(20, TimeUnit.SECONDS)
          .until(() -> byId.containsKey(id) || end.isDone());
      assertThat(byId).as("answers; stream ended: %s", end.getNow(null)).containsKey(id);
      return byId.get(id);
    }
  }

  @BeforeEach
  void start() {
    CacheLoader<String, String> gated =
        key -> {
          loading.countDown();
          release.await();
          return "loaded:" + key;
        };
    cluster =
        TestCluster.builder()
            .size(1)
            .nodeSettings(node -> node.maxConcurrentCallsPerPeer(2))
            .cache(SLOW, CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).loader(gated).build())
            .cache(
                FAST,
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                    .loader(key -> "v".repeat(1_000))
                    .build())
            .build();
    HostPort node = HostPort.parse(cluster.node(0).address());
    channel =
        Grpc.newChannelBuilderForAddress(
                node.host(), node.port(), InsecureChannelCredentials.create())
            .build();
    answers = new Answers();
    reads = PeerServiceGrpc.newStub(channel).reads(answers);
  }

  @AfterEach
  void stop() throws InterruptedException {
    release.countDown();
    if (channel != null) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (cluster != null) {
      cluster.close();
    }
  }

  private static StreamedGet read(long id, String cache, String key) {
    return StreamedGet.newBuilder()
        .setId(id)
        .setGet(
            GetRequest.newBuilder()
                .setCache(cache)
                .setKey(ByteString.copyFromUtf8(key))
                .setLoad(true)
                .setCaller("test"))
        .build();
  }

  private static Status.Code code(StreamedGetAnswer answer) {
    return Status.fromCodeValue(answer.getCode()).getCode();
  }

  @Test
  void aReadPastTheHostsCallBoundIsRefusedAloneAndTheStreamServesTheNextOnce() {
    reads.onNext(read(1, SLOW, "a"));
    reads.onNext(read(2, SLOW, "b"));
    reads.onNext(read(3, SLOW, "c")); // a third call in progress from this host: over the bound

    StreamedGetAnswer refused = answers.answerTo(3);
    assertThat(code(refused)).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(refused.getDescription()).contains("maxConcurrentCallsPerPeer");
    assertThat(answers.byId).doesNotContainKeys(1L, 2L); // still loading, still served

    release.countDown();
    assertThat(answers.answerTo(1).getResponse().getValue().toStringUtf8()).isEqualTo("loaded:a");
    assertThat(answers.answerTo(2).getResponse().getValue().toStringUtf8()).isEqualTo("loaded:b");
    reads.onNext(read(4, SLOW, "c"));
    assertThat(answers.answerTo(4).getResponse().getValue().toStringUtf8()).isEqualTo("loaded:c");
    assertThat(answers.end).isNotDone();
  }

  /**
   * A withdrawn read gives its slot back at once, as a cancelled call does, even though the load it
   * joined runs on; otherwise reads whose loads hang would use up the host's bound for good.
   */
  @Test
  void aWithdrawnReadGivesItsSlotBackWhileItsLoadRunsOn() throws Exception {
    reads.onNext(read(1, SLOW, "a"));
    reads.onNext(read(2, SLOW, "b"));
    assertThat(loading.await(20, TimeUnit.SECONDS)).isTrue();

    reads.onNext(StreamedGet.newBuilder().setId(1).setCancel(true).build());
    reads.onNext(read(3, SLOW, "c")); // the host's bound is 2: this one needs read 1's slot

    release.countDown();
    assertThat(answers.answerTo(3).getResponse().getValue().toStringUtf8()).isEqualTo("loaded:c");
    assertThat(answers.answerTo(2).getResponse().getValue().toStringUtf8()).isEqualTo("loaded:b");
  }

  @Test
  void badMessagesAndUnknownCachesFailTheirReadAndNothingElse() {
    release.countDown();
    reads.onNext(StreamedGet.newBuilder().setId(1).build()); // no read
    reads.onNext(read(2, "nope", "a"));
    reads.onNext(read(3, FAST, "a"));

    assertThat(code(answers.answerTo(1))).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(answers.answerTo(1).getDescription()).contains("needs get");
    assertThat(code(answers.answerTo(2))).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(answers.answerTo(2).getDescription()).contains("no cache named 'nope'");
    assertThat(answers.answerTo(3).getResponse().getFound()).isTrue();
    assertThat(answers.end).isNotDone();
  }

  @Test
  void aReusedIdOfAReadInProgressIsRefusedWithoutTouchingTheFirst() {
    reads.onNext(read(1, SLOW, "a"));
    reads.onNext(read(1, SLOW, "b"));

    StreamedGetAnswer refused = answers.answerTo(1);
    assertThat(code(refused)).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(refused.getDescription()).contains("already in progress");
    answers.byId.clear();
    release.countDown();
    assertThat(answers.answerTo(1).getResponse().getValue().toStringUtf8()).isEqualTo("loaded:a");
  }

  @Test
  void anAnswerOverTheCallersLimitFailsItsReadAndTheStreamGoesOn() {
    reads.onNext(read(1, FAST, "big").toBuilder().setMaxAnswerBytes(500).build());
    reads.onNext(read(2, FAST, "big").toBuilder().setMaxAnswerBytes(2_000).build());

    StreamedGetAnswer refused = answers.answerTo(1);
    assertThat(code(refused)).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(
            RemoteErrors.isMessageTooLarge(
                Status.RESOURCE_EXHAUSTED.withDescription(refused.getDescription())))
        .as("worded as gRPC words a message over its limit: %s", refused.getDescription())
        .isTrue();
    assertThat(answers.answerTo(2).getResponse().getValue().size()).isEqualTo(1_000);
    assertThat(answers.end).isNotDone();
  }

  @Test
  void aHalfClosedStreamEndsOnceItsLastReadIsAnswered() throws Exception {
    reads.onNext(read(1, SLOW, "a"));
    reads.onCompleted();
    Thread.sleep(200); // the stream must not end while read 1 is still loading
    assertThat(answers.end).isNotDone();

    release.countDown();

    assertThat(answers.end.get(20, TimeUnit.SECONDS)).isEqualTo(Status.OK);
    assertThat(answers.byId.get(1L).getResponse().getValue().toStringUtf8()).isEqualTo("loaded:a");
  }

  /**
   * Regression: a graceful server shutdown waits for every call in progress, and a peer's read
   * stream never ends on its own, so closing a node used to wait out its grace and then cut the
   * stream. Now the closing node stops taking reads and completes the stream once the reads it took
   * are answered.
   */
  @Test
  void aClosingNodeCompletesTheStreamOnceItsReadsAreAnswered() throws Exception {
    reads.onNext(read(1, SLOW, "a"));
    assertThat(loading.await(20, TimeUnit.SECONDS)).isTrue();

    cluster.node(0).close(); // cuts the gated load short: read 1 is answered with its failure

    assertThat(answers.end.get(20, TimeUnit.SECONDS)).isEqualTo(Status.OK);
    assertThat(answers.byId).containsKey(1L);
  }
}
