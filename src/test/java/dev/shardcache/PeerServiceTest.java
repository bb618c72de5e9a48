package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.GetAllRequest;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.KeyWrite;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PingRequest;
import dev.shardcache.internal.proto.PutRequest;
import dev.shardcache.internal.proto.Refusal;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.ReplicateResponse;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.internal.proto.WriteAllRequest;
import dev.shardcache.internal.proto.WriteAllResponse;
import dev.shardcache.replication.HybridLogicalClock;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Raw, badly formed peer requests against a real node: each gets a status that says what is wrong,
 * and the node keeps its entries and keeps serving.
 */
class PeerServiceTest {

  private ShardcacheNode node;
  private DistributedCache<String, Long> cache;
  private ManagedChannel channel;
  private PeerServiceGrpc.PeerServiceBlockingStub stub;

  @BeforeEach
  void setUp() throws IOException {
    node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    cache =
        node.cache(
            "counts",
            CacheConfig.builder(Codecs.utf8(), Codecs.longs())
                .maxKeyBytes(16)
                .loader(k -> (long) k.length())
                .build());
    node.start();
    cache.put("kept", 42L);
    HostPort address = HostPort.parse(node.address());
    channel =
        Grpc.newChannelBuilderForAddress(
                address.host(), address.port(), InsecureChannelCredentials.create())
            .build();
    stub = PeerServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  @AfterEach
  void tearDown() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    node.close();
  }

  @Test
  void anUnknownCacheIsNotFound() {
    assertStatus(
        () -> stub.get(GetRequest.newBuilder().setCache("nope").setKey(utf8("k")).build()),
        Status.Code.NOT_FOUND,
        "no cache named 'nope'");
  }

  @Test
  void aMalformedKeyIsInvalid() {
    ByteString notUtf8 = ByteString.copyFrom(new byte[] {(byte) 0xFF, (byte) 0xFE});
    assertStatus(
        () ->
            stub.get(
                GetRequest.newBuilder().setCache("counts").setKey(notUtf8).setLoad(true).build()),
        Status.Code.INVALID_ARGUMENT,
        "key for cache 'counts' is malformed");
  }

  @Test
  void anOversizedKeyIsInvalid() {
    assertStatus(
        () ->
            stub.get(
                GetRequest.newBuilder().setCache("counts").setKey(utf8("k".repeat(17))).build()),
        Status.Code.INVALID_ARGUMENT,
        "over this node's maxKeyBytes 16");
  }

  @Test
  void aMalformedValueIsInvalidAndStoresNothing() {
    assertStatus(
        () ->
            stub.put(
                PutRequest.newBuilder()
                    .setCache("counts")
                    .setKey(utf8("kept"))
                    .setValue(ByteString.copyFrom(new byte[3]))
                    .build()),
        Status.Code.INVALID_ARGUMENT,
        "exactly 8 bytes, got 3");
  }

  @Test
  void anOversizedBatchIsInvalid() {
    GetAllRequest.Builder request = GetAllRequest.newBuilder().setCache("counts");
    for (int i = 0; i <= CacheConfig.MAX_KEYS_PER_BATCH; i++) {
      request.addKeys(utf8("k" + i));
    }
    assertStatus(
        () -> stub.getAll(request.build()), Status.Code.INVALID_ARGUMENT, "split the batch");
  }

  @Test
  void aBatchWriteWithOneBadValueIsInvalidAndAppliesNoneOfItsWrites() {
    WriteAllRequest request =
        WriteAllRequest.newBuilder()
            .setCache("counts")
            .addWrites(KeyWrite.newBuilder().setKey(utf8("fresh")).setValue(longValue(7)))
            .addWrites(KeyWrite.newBuilder().setKey(utf8("kept"))) // a remove
            .addWrites(
                KeyWrite.newBuilder()
                    .setKey(utf8("bad"))
                    .setValue(ByteString.copyFrom(new byte[3])))
            .build();
    assertStatus(
        () -> stub.writeAll(request), Status.Code.INVALID_ARGUMENT, "exactly 8 bytes, got 3");
    assertThat(cache.getIfPresent("fresh")).isNull();
  }

  @Test
  void anOversizedBatchWriteIsInvalid() {
    WriteAllRequest.Builder request = WriteAllRequest.newBuilder().setCache("counts");
    for (int i = 0; i <= CacheConfig.MAX_KEYS_PER_BATCH; i++) {
      request.addWrites(KeyWrite.newBuilder().setKey(utf8("k" + i)).setValue(longValue(i)));
    }
    assertStatus(
        () -> stub.writeAll(request.build()), Status.Code.INVALID_ARGUMENT, "split the batch");
    assertStatus(
        () ->
            stub.writeAll(
                WriteAllRequest.newBuilder()
                    .setCache("nope")
                    .addWrites(KeyWrite.newBuilder().setKey(utf8("k")))
                    .build()),
        Status.Code.NOT_FOUND,
        "no cache named 'nope'");
  }

  @Test
  void aWellFormedBatchWriteAppliesEachWriteAndReportsNoFailure() {
    WriteAllResponse response =
        stub.writeAll(
            WriteAllRequest.newBuilder()
                .setCache("counts")
                .addWrites(KeyWrite.newBuilder().setKey(utf8("a")).setValue(longValue(1)))
                .addWrites(KeyWrite.newBuilder().setKey(utf8("b")).setValue(longValue(2)))
                .addWrites(KeyWrite.newBuilder().setKey(utf8("kept")))
                .build());

    assertThat(response.getFailuresList()).isEmpty();
    assertThat(cache.getIfPresent("a")).isEqualTo(1L);
    assertThat(cache.getIfPresent("b")).isEqualTo(2L);
    assertThat(cache.getIfPresent("kept")).isNull();
  }

  private static ByteString longValue(long value) {
    return ByteString.copyFrom(Codecs.longs().encode(value));
  }

  @Test
  void pingAnswersWithTheNodesAddress() {
    assertThat(stub.ping(PingRequest.getDefaultInstance()).getAddress()).isEqualTo(node.address());
  }

  @Test
  void wellFormedRequestsAreServed() {
    assertThat(
            stub.get(
                    GetRequest.newBuilder()
                        .setCache("counts")
                        .setKey(utf8("abc"))
                        .setLoad(true)
                        .build())
                .getValue())
        .isEqualTo(ByteString.copyFrom(Codecs.longs().encode(3L)));
    assertThat(
            stub.get(GetRequest.newBuilder().setCache("counts").setKey(utf8("absent")).build())
                .getFound())
        .isFalse();
  }

  @Test
  void aReplicateThatAsksForRefusalsAppliesTheRestAndListsWhatItRefused() {
    long now = HybridLogicalClock.pack(System.currentTimeMillis(), 0);
    long anHourAhead = HybridLogicalClock.pack(System.currentTimeMillis() + 3_600_000, 0);
    ReplicateRequest request =
        ReplicateRequest.newBuilder()
            .setCaller("peer:7000")
            .addBatches(CacheBatch.newBuilder().setCache("nope").addEntries(count("n", 1, now)))
            .addBatches(
                CacheBatch.newBuilder()
                    .setCache("counts")
                    .addEntries(count("good1", 1, now))
                    .addEntries(count("a-key-longer-than-16", 2, now))
                    .addEntries(count("future", 3, anHourAhead))
                    .addEntries(count("malformed", 4, now).toBuilder().setValue(utf8("abc")))
                    .addEntries(count("good2", 5, now))
                    .addNearInvalidations(utf8("good1"))
                    .addNearInvalidations(utf8("a-key-longer-than-16")))
            .addBatches(
                CacheBatch.newBuilder()
                    .setCache("counts")
                    .setClearedBefore(anHourAhead)
                    .addEntries(count("after-clear", 6, now)))
            .build();

    // Without asking, the first refusal fails the call, and an unknown cache changes nothing.
    assertStatus(() -> stub.replicate(request), Status.Code.NOT_FOUND, "no cache named 'nope'");
    assertThat(cache.getIfPresent("good1")).isNull();

    ReplicateResponse response =
        stub.replicate(request.toBuilder().setReportRefusals(true).build());

    assertThat(response.getRefusedList())
        .extracting(PeerServiceTest::describe)
        .containsExactly(
            "batch 0: NOT_FOUND",
            "batch 1 entry 1: INVALID_ARGUMENT",
            "batch 1 entry 2: INVALID_ARGUMENT",
            "batch 1 entry 3: INVALID_ARGUMENT",
            "batch 1 near 1: INVALID_ARGUMENT",
            "batch 2: INVALID_ARGUMENT");
    assertThat(response.getRefused(2).getDescription()).contains("ahead of this node's clock");
    assertThat(cache.getIfPresent("good1")).isEqualTo(1L);
    assertThat(cache.getIfPresent("good2")).isEqualTo(5L);
    assertThat(cache.getIfPresent("future")).isNull();
    assertThat(cache.getIfPresent("malformed")).isNull();
    assertThat(cache.getIfPresent("after-clear")).isNull();
    assertThat(cache.get("kept")).isEqualTo(42L); // the refused clear cleared nothing
  }

  /** "batch B[ entry E| near N]: CODE" of a refusal. */
  private static String describe(Refusal refusal) {
    return "batch "
        + refusal.getBatch()
        + (refusal.hasEntry() ? " entry " + refusal.getEntry() : "")
        + (refusal.hasNearInvalidation() ? " near " + refusal.getNearInvalidation() : "")
        + ": "
        + Status.fromCodeValue(refusal.getCode()).getCode();
  }

  private static VersionedEntry count(String key, long value, long timestamp) {
    return VersionedEntry.newBuilder()
        .setKey(utf8(key))
        .setValue(ByteString.copyFrom(Codecs.longs().encode(value)))
        .setTimestamp(timestamp)
        .setWriter(7)
        .build();
  }

  private void assertStatus(ThrowingCallable call, Status.Code code, String message) {
    assertThatThrownBy(call)
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(code);
              assertThat(e.getStatus().getDescription()).contains(message);
            });
    // The node is unharmed: the other entry is intact and it still serves.
    assertThat(cache.get("kept")).isEqualTo(42L);
    assertThat(stub.ping(PingRequest.getDefaultInstance()).getAddress()).isEqualTo(node.address());
  }

  private static ByteString utf8(String s) {
    return ByteString.copyFromUtf8(s);
  }
}
