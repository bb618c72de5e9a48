package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every rule of {@link ShardcacheNode.Builder}, setting by setting: what a null, a second setting
 * and a value out of range throw, word for word, and that a refused value leaves the setting unset.
 * The messages are the builder's user interface, so they are pinned exactly.
 */
class ShardcacheNodeBuilderTest {

  private static ShardcacheNode.Builder builder() {
    return ShardcacheNode.builder();
  }

  private static void refused(
      ThrowingCallable call, Class<? extends Throwable> type, String message) {
    assertThatThrownBy(call).isExactlyInstanceOf(type).hasMessage(message);
  }

  @Test
  void aNullSettingNamesTheParameter() {
    refused(() -> builder().clusterSecret(null), NullPointerException.class, "secret");
    refused(() -> builder().heartbeatInterval(null), NullPointerException.class, "interval");
    refused(() -> builder().maxClockSkew(null), NullPointerException.class, "skew");
    refused(() -> builder().antiEntropyInterval(null), NullPointerException.class, "interval");
    refused(() -> builder().listen(null, 0), NullPointerException.class, "host");
    refused(() -> builder().advertiseHost(null), NullPointerException.class, "host");
    refused(() -> builder().peers(null), NullPointerException.class, "peers");
    refused(() -> builder().tls(null), NullPointerException.class, "tls");
    refused(() -> builder().ticker(null), NullPointerException.class, "ticker");
    refused(
        () -> builder().peers(Arrays.asList("127.0.0.1:1", null)),
        NullPointerException.class,
        "peers must not contain null");
  }

  @Test
  void aSettingSetTwiceNamesTheValueAlreadySet(@TempDir Path dir) throws IOException {
    ShardcacheNode.Builder b =
        builder()
            .listen("127.0.0.1", 0)
            .advertiseHost("node-a")
            .advertisePort(7000)
            .peers(List.of("127.0.0.1:7001"))
            .virtualNodes(5)
            .heartbeatInterval(Duration.ofMillis(100))
            .maxClockSkew(Duration.ofSeconds(2))
            .antiEntropyInterval(Duration.ofMinutes(1))
            .clusterSecret(new byte[16]);
    refused(
        () -> b.listen("127.0.0.1", 1),
        IllegalStateException.class,
        "listen address was already set to 127.0.0.1:0");
    refused(
        () -> b.advertiseHost("node-b"),
        IllegalStateException.class,
        "advertiseHost was already set to node-a");
    refused(
        () -> b.advertisePort(7002),
        IllegalStateException.class,
        "advertisePort was already set to 7000");
    refused(
        () -> b.peers(List.of("127.0.0.1:7003")),
        IllegalStateException.class,
        "peers were already set to [127.0.0.1:7001]");
    refused(
        () -> b.virtualNodes(6), IllegalStateException.class, "virtualNodes was already set to 5");
    refused(
        () -> b.heartbeatInterval(Duration.ofMillis(200)),
        IllegalStateException.class,
        "heartbeatInterval was already set to PT0.1S");
    refused(
        () -> b.maxClockSkew(Duration.ofSeconds(3)),
        IllegalStateException.class,
        "maxClockSkew was already set to PT2S");
    refused(
        () -> b.antiEntropyInterval(Duration.ofMinutes(2)),
        IllegalStateException.class,
        "antiEntropyInterval was already set to PT1M");
    refused(
        () -> b.clusterSecret(new byte[16]),
        IllegalStateException.class,
        "clusterSecret was already set");
    ShardcacheNode.Builder batched = builder().maxBatchBytes(1 << 20);
    refused(
        () -> batched.maxBatchBytes(2 << 20),
        IllegalStateException.class,
        "maxBatchBytes was already set to 1048576");

    PeerTls tls = pemFiles(dir);
    ShardcacheNode.Builder secured = builder().tls(tls);
    refused(() -> secured.tls(tls), IllegalStateException.class, "tls was already set to " + tls);
  }

  @Test
  void theLimitsMayBeSetAgainAndTheLastOneHolds() {
    ShardcacheNode.Builder b =
        builder()
            .maxConcurrentCallsPerPeer(1)
            .maxConcurrentCallsPerPeer(100_000)
            .maxConcurrentLoads(1)
            .maxConcurrentLoads(10_000)
            .handlerThreads(1)
            .handlerThreads(10_000)
            .maxNonces(1_000)
            .maxNonces(50_000_000)
            .maxInboundMessageBytes(64 * 1024)
            .maxInboundMessageBytes(ShardcacheNode.MAX_MESSAGE_BYTES);
    assertThat(b.listen("127.0.0.1", 0).build()).isNotNull();
  }

  @Test
  void aValueOutOfRangeNamesTheRange() {
    refused(
        () -> builder().clusterSecret(new byte[15]),
        IllegalArgumentException.class,
        "clusterSecret must be at least 16 bytes (128 bits), got 15; generate it randomly");
    for (int bad : new int[] {0, 100_001}) {
      refused(
          () -> builder().maxConcurrentCallsPerPeer(bad),
          IllegalArgumentException.class,
          "maxConcurrentCallsPerPeer must be in [1, 100000], got " + bad);
    }
    for (int bad : new int[] {0, 10_001}) {
      refused(
          () -> builder().maxConcurrentLoads(bad),
          IllegalArgumentException.class,
          "maxConcurrentLoads must be in [1, 10000], got " + bad);
      refused(
          () -> builder().virtualNodes(bad),
          IllegalArgumentException.class,
          "virtualNodes must be in [1, 10000], got " + bad);
    }
    for (int bad : new int[] {0, 10_001}) {
      refused(
          () -> builder().handlerThreads(bad),
          IllegalArgumentException.class,
          "handlerThreads must be in [1, 10000], got " + bad);
    }
    for (int bad : new int[] {999, 50_000_001}) {
      refused(
          () -> builder().maxNonces(bad),
          IllegalArgumentException.class,
          "maxNonces must be in [1000, 50000000], got " + bad);
    }
    for (int bad : new int[] {64 * 1024 - 1, ShardcacheNode.MAX_MESSAGE_BYTES + 1}) {
      refused(
          () -> builder().maxInboundMessageBytes(bad),
          IllegalArgumentException.class,
          "maxInboundMessageBytes must be in [65536, 67108864], got " + bad);
    }
    for (int bad : new int[] {16 * 1024 - 1, ShardcacheNode.MAX_MESSAGE_BYTES}) {
      refused(
          () -> builder().maxBatchBytes(bad),
          IllegalArgumentException.class,
          "maxBatchBytes must be in [16384, 67108864), got " + bad);
    }
    for (Duration bad : List.of(Duration.ofMillis(9), Duration.ofSeconds(61))) {
      refused(
          () -> builder().heartbeatInterval(bad),
          IllegalArgumentException.class,
          "heartbeatInterval must be in [10 ms, 1 min], got " + bad);
    }
    for (Duration bad : List.of(Duration.ofMillis(9), Duration.ofMinutes(61))) {
      refused(
          () -> builder().maxClockSkew(bad),
          IllegalArgumentException.class,
          "maxClockSkew must be in [10 ms, 1 h], got " + bad);
      refused(
          () -> builder().antiEntropyInterval(bad),
          IllegalArgumentException.class,
          "antiEntropyInterval must be in [10 ms, 1 h], got " + bad);
    }
    for (int bad : new int[] {-1, 65_536}) {
      refused(
          () -> builder().listen("127.0.0.1", bad),
          IllegalArgumentException.class,
          "listen port must be in [0, 65535], got " + bad);
    }
    for (int bad : new int[] {0, 65_536}) {
      refused(
          () -> builder().advertisePort(bad),
          IllegalArgumentException.class,
          "advertisePort must be in [1, 65535], got " + bad);
    }
    refused(
        () -> builder().listen(" ", 0),
        IllegalArgumentException.class,
        "listen host must not be blank; use 127.0.0.1 for a local node");
    refused(
        () -> builder().advertiseHost(" "),
        IllegalArgumentException.class,
        "advertiseHost must not be blank");
    refused(
        () -> builder().peers(List.of()),
        IllegalArgumentException.class,
        "peers must not be empty; omit peers(...) to start a single node and add members later"
            + " with setPeers (a client-only node needs at least one member)");
  }

  @Test
  void aRefusedValueLeavesTheSettingUnset() {
    ShardcacheNode.Builder b = builder();
    assertThatThrownBy(() -> b.heartbeatInterval(Duration.ofMillis(1)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.peers(List.of("127.0.0.1:1", "no-port")))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.virtualNodes(0)).isInstanceOf(IllegalArgumentException.class);
    b.heartbeatInterval(Duration.ofMillis(10))
        .peers(List.of("127.0.0.1:1"))
        .virtualNodes(1)
        .listen("127.0.0.1", 0)
        .build()
        .close();
  }

  @Test
  void buildNeedsAListenAddressAndAnAdvertisedHostForAWildcard() {
    refused(
        () -> builder().build(),
        IllegalStateException.class,
        "listen(host, port) is required; use listen(\"127.0.0.1\", 0) for a local node, or"
            + " clientOnly() for a node that holds no shard and only calls the members");
    for (String wildcard : List.of("0.0.0.0", "::")) {
      refused(
          () -> builder().listen(wildcard, 0).build(),
          IllegalStateException.class,
          "listening on "
              + wildcard
              + " (all interfaces) needs advertiseHost(...): the address peers use to reach this"
              + " node");
      assertThat(builder().listen(wildcard, 0).advertiseHost("10.0.0.1").build()).isNotNull();
    }
  }

  @Test
  void aClientOnlyNodeRefusesWhatOnlyAListeningMemberUsesAndNeedsPeers() {
    refused(
        () -> builder().clientOnly().listen("127.0.0.1", 7070).peers(PEERS).build(),
        IllegalStateException.class,
        "a client-only node opens no port, but listen(127.0.0.1, 7070) was set: remove"
            + " listen(...), or remove clientOnly() to make this node a member that holds a shard");
    refused(
        () -> builder().listen("127.0.0.1", 0).peers(PEERS).clientOnly().build(),
        IllegalStateException.class,
        "a client-only node opens no port, but listen(127.0.0.1, 0) was set: remove"
            + " listen(...), or remove clientOnly() to make this node a member that holds a shard");
    refused(
        () ->
            builder().clientOnly().advertiseHost("node-a").advertisePort(7000).peers(PEERS).build(),
        IllegalStateException.class,
        "a client-only node is on no ring, so nobody dials it: remove advertiseHost/advertisePort"
            + " (node-a:7000)");
    refused(
        () -> builder().clientOnly().maxSubscribedClients(10).peers(PEERS).build(),
        IllegalStateException.class,
        "maxSubscribedClients bounds the client-only members subscribed to a member; a"
            + " client-only node serves none, so remove it");
    refused(
        () -> builder().clientOnly().build(),
        IllegalStateException.class,
        "a client-only node needs peers(...): the members it sends every read and write to, as"
            + " host:port");
    refused(
        () -> builder().clientOnly().clientOnly(),
        IllegalStateException.class,
        "clientOnly was already set");
    ShardcacheNode client = builder().clientOnly().peers(PEERS).build();
    assertThat(client.isClientOnly()).isTrue();
    assertThat(client.toString()).matches("ShardcacheNode\\{client-\\d+-[0-9a-f]{8}, NEW}");
    client.close();
  }

  @Test
  void maxSubscribedClientsIsSetOnceWithinItsRange() {
    for (int bad : new int[] {-1, 100_001}) {
      refused(
          () -> builder().maxSubscribedClients(bad),
          IllegalArgumentException.class,
          "maxSubscribedClients must be in [0, 100000], got " + bad);
    }
    refused(
        () -> builder().maxSubscribedClients(3).maxSubscribedClients(4),
        IllegalStateException.class,
        "maxSubscribedClients was already set to 3");
  }

  @Test
  void aRunningClientOnlyNodeKeepsAtLeastOneMember() throws IOException {
    try (ShardcacheNode client = builder().clientOnly().peers(PEERS).build().start()) {
      assertThat(client.ring().nodes()).containsExactly("127.0.0.1:1");
      assertThatThrownBy(() -> client.setPeers(List.of()))
          .isExactlyInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "client-only node "
                  + client.address()
                  + " needs at least one member to send its reads and writes to; give setPeers (or"
                  + " ShardcacheNode.Builder.peers) the members' host:port");
      client.setPeers(List.of("127.0.0.1:2", "127.0.0.1:3"));
      assertThat(client.ring().nodes()).containsExactly("127.0.0.1:2", "127.0.0.1:3");
    }
  }

  private static final List<String> PEERS = List.of("127.0.0.1:1");

  @Test
  void theListenHostIsTrimmedAndNamesTheNodeUntilItStarts() {
    ShardcacheNode node = builder().listen(" 127.0.0.1 ", 5).build();
    assertThat(node).hasToString("ShardcacheNode{127.0.0.1:5, NEW}");
    node.close();
    assertThat(node).hasToString("ShardcacheNode{127.0.0.1:5, CLOSED}");
  }

  @Test
  void oneBuilderBuildsIndependentNodes() {
    ShardcacheNode.Builder b = builder().listen("127.0.0.1", 0);
    ShardcacheNode first = b.build();
    ShardcacheNode second = b.build();
    assertThat(first).isNotSameAs(second);
    first.close();
    assertThat(first.isRunning()).isFalse();
    assertThat(second).hasToString("ShardcacheNode{127.0.0.1:0, NEW}");
    second.close();
  }

  @Test
  void advertisePortNamesTheNodeOnTheRing() throws IOException {
    try (ShardcacheNode node =
        builder().listen("127.0.0.1", 0).advertisePort(7123).build().start()) {
      assertThat(node.address()).isEqualTo("127.0.0.1:7123");
      assertThat(node.ring().nodes()).containsExactly("127.0.0.1:7123");
    }
  }

  private static PeerTls pemFiles(Path dir) throws IOException {
    Path chain = Files.writeString(dir.resolve("chain.pem"), "");
    Path key = Files.writeString(dir.resolve("key.pem"), "");
    Path trust = Files.writeString(dir.resolve("trust.pem"), "");
    return PeerTls.fromPemFiles(chain, key, trust);
  }
}
