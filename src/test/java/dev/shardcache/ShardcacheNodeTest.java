package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The node's builder, lifecycle and cache registry. */
class ShardcacheNodeTest {

  private static CacheConfig<String, String> config() {
    return CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build();
  }

  @Test
  void startBindsAFreePortAndTheNodeIsAloneOnItsRing() throws IOException {
    try (ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build().start()) {
      assertThat(node.address()).startsWith("127.0.0.1:").doesNotEndWith(":0");
      assertThat(node.ring().nodes()).containsExactly(node.address());
      assertThat(node.peers()).isEmpty();
      assertThat(node.isRunning()).isTrue();
    }
  }

  @Test
  void theStandardHealthServiceReportsServing() throws Exception {
    try (ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build().start()) {
      HostPort address = HostPort.parse(node.address());
      io.grpc.ManagedChannel channel =
          io.grpc.Grpc.newChannelBuilderForAddress(
                  address.host(), address.port(), io.grpc.InsecureChannelCredentials.create())
              .build();
      try {
        io.grpc.health.v1.HealthGrpc.HealthBlockingStub health =
            io.grpc.health.v1.HealthGrpc.newBlockingStub(channel)
                .withDeadlineAfter(10, java.util.concurrent.TimeUnit.SECONDS);
        for (String service : List.of("", ShardcacheNode.PEER_SERVICE)) {
          assertThat(
                  health
                      .check(
                          io.grpc.health.v1.HealthCheckRequest.newBuilder()
                              .setService(service)
                              .build())
                      .getStatus())
              .isEqualTo(io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING);
        }
      } finally {
        channel.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void peersMayIncludeTheNodeItself() throws IOException {
    try (ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build().start()) {
      node.setPeers(List.of(node.address(), "127.0.0.1:1"));
      assertThat(node.ring().nodes()).containsExactlyInAnyOrder(node.address(), "127.0.0.1:1");
      assertThat(node.peers()).containsExactly("127.0.0.1:1");
    }
  }

  @Test
  void aMalformedPeerChangesNothing() throws IOException {
    try (ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build().start()) {
      node.setPeers(List.of("127.0.0.1:1"));
      assertThatThrownBy(() -> node.setPeers(List.of("127.0.0.1:2", "no-port")))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("'no-port'")
          .hasMessageContaining("host:port");
      assertThat(node.peers()).containsExactly("127.0.0.1:1");
    }
  }

  @Test
  void aPortInUseIsAnIoExceptionThatNamesIt() throws IOException {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      ShardcacheNode node =
          ShardcacheNode.builder().listen("127.0.0.1", taken.getLocalPort()).build();
      assertThatThrownBy(node::start)
          .isInstanceOf(IOException.class)
          .hasMessageContaining("127.0.0.1:" + taken.getLocalPort())
          .hasMessageContaining("another process");
      node.close();
    }
  }

  @Test
  void lifecycleErrorsAreClear() throws IOException {
    ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    DistributedCache<String, String> cache = node.cache("c", config());
    assertThatThrownBy(() -> cache.get("k"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("start()");
    assertThatThrownBy(node::address).isInstanceOf(IllegalStateException.class);
    node.start();
    assertThatThrownBy(node::start).hasMessageContaining("already started");
    node.close();
    node.close(); // idempotent
    assertThatThrownBy(node::start).hasMessageContaining("closed");
    assertThatThrownBy(() -> cache.get("k")).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> node.cache("d", config())).hasMessageContaining("closed");
  }

  @Test
  void aNameHasOneConfiguration() {
    ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    CacheConfig<String, String> first = config();
    DistributedCache<String, String> cache = node.cache("users", first);
    assertThat(node.cache("users", first)).isSameAs(cache);
    assertThatThrownBy(
            () ->
                node.cache(
                    "users",
                    CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).maximumSize(5).build()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("'users' is already defined");
    assertThatThrownBy(() -> node.cache(" ", first)).isInstanceOf(IllegalArgumentException.class);
    node.close();
  }

  @Test
  void builderRejectsMisconfiguration() {
    assertThatThrownBy(() -> ShardcacheNode.builder().build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("listen(host, port) is required");
    assertThatThrownBy(() -> ShardcacheNode.builder().listen("127.0.0.1", 70_000))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[0, 65535]");
    assertThatThrownBy(() -> ShardcacheNode.builder().listen("127.0.0.1", 0).listen("127.0.0.1", 1))
        .hasMessageContaining("already set to 127.0.0.1:0");
    assertThatThrownBy(() -> ShardcacheNode.builder().peers(List.of()))
        .hasMessageContaining("omit peers(...)");
    assertThatThrownBy(() -> ShardcacheNode.builder().peers(List.of("10.0.0.1")))
        .hasMessageContaining("has no port");
    assertThatThrownBy(() -> ShardcacheNode.builder().virtualNodes(0))
        .hasMessageContaining("[1, 10000]");
    assertThatThrownBy(() -> ShardcacheNode.builder().listen("0.0.0.0", 0).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("advertiseHost");
  }

  @Test
  void maxBatchBytesMustStayBelowTheInboundLimit() {
    assertThatThrownBy(
            () ->
                ShardcacheNode.builder()
                    .listen("127.0.0.1", 0)
                    .maxInboundMessageBytes(1 << 20)
                    .maxBatchBytes(1 << 20)
                    .build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining(
            "maxBatchBytes (1048576) must be below maxInboundMessageBytes (1048576)");
    assertThatThrownBy(() -> ShardcacheNode.builder().maxBatchBytes(1024))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("maxBatchBytes must be in [16384, 67108864), got 1024");
    assertThatThrownBy(() -> ShardcacheNode.builder().maxBatchBytes(1 << 20).maxBatchBytes(1 << 21))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("already set to 1048576");
    // Unset, it follows a small inbound limit down instead of failing.
    ShardcacheNode.builder()
        .listen("127.0.0.1", 0)
        .maxInboundMessageBytes(64 * 1024)
        .build()
        .close();
  }

  @Test
  void hintBudgetsAreCheckedAgainstEachOtherAtBuild() {
    assertThatThrownBy(
            () ->
                ShardcacheNode.builder()
                    .listen("127.0.0.1", 0)
                    .maxHintBytesPerPeer(8 << 20)
                    .maxHintBytes(4 << 20)
                    .build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("maxHintBytesPerPeer (8388608) must be at most maxHintBytes");
    assertThatThrownBy(() -> ShardcacheNode.builder().maxHintBytesPerPeer(1024))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[65536, 2^40]");
    assertThatThrownBy(() -> ShardcacheNode.builder().maxHintBytes(1 << 20).maxHintBytes(2 << 20))
        .hasMessageContaining("already set to 1048576");

    // Unset, the node's budget follows a larger per-peer one.
    assertThat(ReplicationLimits.forNode(256 << 10, -1, -1))
        .isEqualTo(
            new ReplicationLimits(
                256 << 10,
                ShardcacheNode.DEFAULT_MAX_HINT_BYTES_PER_PEER,
                ShardcacheNode.DEFAULT_MAX_HINT_BYTES,
                ReplicationLimits.REFUSAL_GRACE));
    assertThat(ReplicationLimits.forNode(1 << 20, 1L << 30, -1).maxBytes()).isEqualTo(1L << 30);
  }

  @Test
  void replicationRequestsAreBoundedByMaxBatchBytes() {
    NodeSettings.Draft set = new NodeSettings.Draft();
    set.listen("127.0.0.1", 0);
    set.maxBatchBytes(64 << 10);
    assertThat(set.build().replicationLimits().maxRequestBytes()).isEqualTo(64 << 10);

    // Unset, both follow one default: 4 MiB, or half of a smaller inbound limit.
    NodeSettings.Draft unset = new NodeSettings.Draft();
    unset.listen("127.0.0.1", 0);
    NodeSettings defaults = unset.build();
    assertThat(defaults.maxBatchBytes()).isEqualTo(ShardcacheNode.DEFAULT_MAX_BATCH_BYTES);
    assertThat(defaults.replicationLimits().maxRequestBytes())
        .isEqualTo(ShardcacheNode.DEFAULT_MAX_BATCH_BYTES);
    NodeSettings.Draft small = new NodeSettings.Draft();
    small.listen("127.0.0.1", 0);
    small.maxInboundMessageBytes(1 << 20);
    NodeSettings halved = small.build();
    assertThat(halved.maxBatchBytes()).isEqualTo(512 << 10);
    assertThat(halved.replicationLimits().maxRequestBytes()).isEqualTo(512 << 10);
  }

  @Test
  void advertiseHostNamesTheNodeOnTheRing() throws IOException {
    try (ShardcacheNode node =
        ShardcacheNode.builder()
            .listen("127.0.0.1", 0)
            .advertiseHost("localhost")
            .build()
            .start()) {
      assertThat(node.address()).startsWith("localhost:");
      assertThat(node.ring().nodes()).containsExactly(node.address());
    }
  }
}
