package dev.shardcache.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.PeerTls;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PingRequest;
import dev.shardcache.internal.proto.PutRequest;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The limits of issue 5 at their exact edges, on a real node: a message of exactly {@code
 * maxInboundMessageBytes} is served and one byte more is refused; a header block under 16 KiB is
 * served and one over it never reaches the service; {@code maxConcurrentCallsPerPeer} calls run at
 * once and the next is refused at once (health probes still answer); and settings that would weaken
 * them are refused when the node is configured.
 */
class LimitsTest {

  private static final int MAX_MESSAGE = 64 * 1024;

  @TempDir Path dir;

  private final List<ShardcacheNode> nodes = new ArrayList<>();
  private final List<ManagedChannel> channels = new ArrayList<>();
  private ExecutorService pool;

  @AfterEach
  void tearDown() {
    if (pool != null) {
      pool.shutdownNow();
    }
    channels.forEach(ManagedChannel::shutdownNow);
    nodes.forEach(ShardcacheNode::close);
  }

  @Test
  void aMessageOfExactlyTheLimitIsServedAndOneByteMoreIsRefused() throws IOException {
    ShardcacheNode node =
        start(ShardcacheNode.builder().listen("127.0.0.1", 0).maxInboundMessageBytes(MAX_MESSAGE));
    DistributedCache<String, String> data =
        node.cache(
            "data",
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .maxValueBytes(4 * MAX_MESSAGE)
                .build());
    PeerServiceGrpc.PeerServiceBlockingStub stub = stub(node);

    PutRequest exact = putOfSize("exact", MAX_MESSAGE);
    PutRequest over = putOfSize("over", MAX_MESSAGE + 1);
    assertThat(exact.getSerializedSize()).isEqualTo(MAX_MESSAGE);
    assertThat(over.getSerializedSize()).isEqualTo(MAX_MESSAGE + 1);

    stub.put(exact);
    assertThat(data.get("exact")).hasSize(exact.getValue().size());
    assertThatThrownBy(() -> stub.put(over))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
              assertThat(e.getStatus().getDescription()).contains(String.valueOf(MAX_MESSAGE));
            });
    assertThat(data.get("over")).isNull();
    assertThat(stub.ping(PingRequest.getDefaultInstance()).getAddress()).isEqualTo(node.address());
  }

  @Test
  void headersUnderSixteenKibAreServedAndLargerOnesNeverReachTheService() throws Exception {
    ShardcacheNode node = start(ShardcacheNode.builder().listen("127.0.0.1", 0));
    DistributedCache<String, String> data =
        node.cache("data", CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build());
    // HTTP/2 counts each header as name + value + 32 bytes; the request headers take about 200.
    // The block goes in 4 KiB frames (HEADERS, then CONTINUATION), so the one under the limit
    // shows that the raw encoding is right and only the size differs.
    sendRawPut(node, "under", 15 * 1024);
    await()
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(() -> assertThat(data.get("under")).isEqualTo("v"));

    sendRawPut(node, "over", 17 * 1024);
    sendRawPut(node, "far-over", 200 * 1024);
    Thread.sleep(500);
    assertThat(data.get("over")).isNull();
    assertThat(data.get("far-over")).isNull();
    assertThat(data.stats().peerRequestCount()).isEqualTo(1);
    assertThat(stub(node).ping(PingRequest.getDefaultInstance()).getAddress())
        .isEqualTo(node.address());
  }

  @Test
  void exactlyTheConcurrentCallLimitRunsAtOnceAndTheNextCallIsRefusedAtOnce() throws Exception {
    int limit = 4;
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger loading = new AtomicInteger();
    ShardcacheNode node =
        start(ShardcacheNode.builder().listen("127.0.0.1", 0).maxConcurrentCallsPerPeer(limit));
    node.cache(
        "slow",
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
            .loader(
                key -> {
                  loading.incrementAndGet();
                  release.await();
                  return "loaded:" + key;
                })
            .build());
    pool = Executors.newCachedThreadPool();
    List<Future<GetResponse>> held = new ArrayList<>();
    for (int i = 0; i < limit; i++) {
      PeerServiceGrpc.PeerServiceBlockingStub stub = stub(node); // one connection each
      String key = "held-" + i;
      held.add(
          pool.submit(
              () ->
                  stub.get(
                      GetRequest.newBuilder()
                          .setCache("slow")
                          .setKey(ByteString.copyFromUtf8(key))
                          .setLoad(true)
                          .build())));
    }
    await().atMost(Duration.ofSeconds(5)).until(() -> loading.get() == limit);

    long started = System.nanoTime();
    assertThatThrownBy(() -> stub(node).ping(PingRequest.getDefaultInstance()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
              assertThat(e.getStatus().getDescription())
                  .contains("more than " + limit + " calls in progress from 127.0.0.1");
            });
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started))
        .as("refused at once, ms")
        .isLessThan(2_000);
    // The health service is outside the limit: probes still see a serving node.
    HealthCheckResponse health =
        HealthGrpc.newBlockingStub(channel(node))
            .withDeadlineAfter(5, TimeUnit.SECONDS)
            .check(HealthCheckRequest.newBuilder().setService(ShardcacheNode.PEER_SERVICE).build());
    assertThat(health.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);

    release.countDown();
    for (int i = 0; i < limit; i++) {
      assertThat(held.get(i).get(5, TimeUnit.SECONDS).getValue().toStringUtf8())
          .isEqualTo("loaded:held-" + i);
    }
    // The slots are free again.
    for (int i = 0; i < 3 * limit; i++) {
      stub(node).ping(PingRequest.getDefaultInstance());
    }
  }

  @Test
  void settingsThatWouldWeakenTheLimitsAreRefused() throws IOException {
    ShardcacheNode.Builder builder = ShardcacheNode.builder();
    assertThatThrownBy(() -> builder.clusterSecret(new byte[15]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at least 16 bytes");
    assertThatThrownBy(() -> builder.maxInboundMessageBytes(64 * 1024 - 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("65536");
    assertThatThrownBy(() -> builder.maxInboundMessageBytes(64 * 1024 * 1024 + 1))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> builder.maxConcurrentCallsPerPeer(0))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(
            () ->
                PeerTls.fromPemFiles(
                    dir.resolve("missing.pem"), dir.resolve("k"), dir.resolve("t")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("missing.pem");

    TestCertificates.Authority ca = TestCertificates.authority("limits CA");
    TestCertificates.NodeFiles files = ca.issue("node").writeTo(dir.resolve("node"), ca);
    assertThatThrownBy(() -> files.peerTls().withReloadInterval(Duration.ofMillis(999)))
        .isInstanceOf(IllegalArgumentException.class);
    // A key file that is not a PKCS#8 key fails at start, naming the files; nothing listens.
    Files.writeString(
        files.key(), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    ShardcacheNode broken =
        ShardcacheNode.builder().listen("127.0.0.1", 0).tls(files.peerTls()).build();
    nodes.add(broken);
    assertThatThrownBy(broken::start)
        .isInstanceOf(IOException.class)
        .hasMessageContaining("key.pem");
    assertThat(broken.isRunning()).isFalse();
  }

  // ---------------------------------------------------------------- helpers

  private ShardcacheNode start(ShardcacheNode.Builder builder) throws IOException {
    ShardcacheNode node = builder.build();
    nodes.add(node);
    return node.start();
  }

  private ManagedChannel channel(ShardcacheNode node) {
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress(
                "127.0.0.1", PeerChannels.port(node), InsecureChannelCredentials.create())
            .build();
    channels.add(channel);
    return channel;
  }

  private PeerServiceGrpc.PeerServiceBlockingStub stub(ShardcacheNode node) {
    return PeerServiceGrpc.newBlockingStub(channel(node)).withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  /** A put into cache "data" whose serialized request is exactly {@code size} bytes. */
  private static PutRequest putOfSize(String key, int size) {
    PutRequest.Builder put =
        PutRequest.newBuilder().setCache("data").setKey(ByteString.copyFromUtf8(key));
    int valueSize = size;
    while (true) {
      PutRequest candidate = put.setValue(ByteString.copyFrom(new byte[valueSize])).build();
      int difference = candidate.getSerializedSize() - size;
      if (difference == 0) {
        return candidate;
      }
      valueSize -= difference;
    }
  }

  /**
   * Writes, on a new TCP connection, a Put of key {@code key} (value "v") to cache "data" with a
   * header "x-pad" of {@code padding} bytes, then reads until the node closes or goes quiet.
   */
  private static void sendRawPut(ShardcacheNode node, String key, int padding) throws IOException {
    ByteArrayOutputStream headers = new ByteArrayOutputStream();
    Http2Frames.grpcRequestHeaders(headers, PeerServiceGrpc.getPutMethod().getFullMethodName());
    Http2Frames.literal(headers, "x-pad", "p".repeat(padding));
    byte[] message =
        PutRequest.newBuilder()
            .setCache("data")
            .setKey(ByteString.copyFromUtf8(key))
            .setValue(ByteString.copyFrom("v", StandardCharsets.UTF_8))
            .build()
            .toByteArray();
    try (Socket socket = new Socket()) {
      socket.connect(
          new InetSocketAddress(InetAddress.getLoopbackAddress(), PeerChannels.port(node)), 5_000);
      socket.setSoTimeout(200);
      try {
        socket.getOutputStream().write(Http2Frames.unaryCall(headers.toByteArray(), message));
        InputStream in = socket.getInputStream();
        byte[] buffer = new byte[8192];
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        while (System.nanoTime() < until && in.read(buffer) >= 0) {
          // the node's settings, answer or reset
        }
      } catch (SocketTimeoutException quiet) {
        // answered, or nothing more to say
      } catch (IOException reset) {
        // the node closed the connection on us: a fine answer to an oversized header block
      }
    }
  }
}
