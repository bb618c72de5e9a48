package dev.shardcache;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.CompareAndSetRequest;
import dev.shardcache.internal.proto.DigestRequest;
import dev.shardcache.internal.proto.FetchRequest;
import dev.shardcache.internal.proto.GetAllRequest;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.InvalidateAllRequest;
import dev.shardcache.internal.proto.InvalidateRequest;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PingRequest;
import dev.shardcache.internal.proto.PutRequest;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.VersionedEntry;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Peer authentication by cluster secret (issue 5), with real nodes on 127.0.0.1: members sharing
 * the secret work together; a member with another secret, a caller without a token, and callers
 * with forged, replayed, stale or malformed tokens are answered {@code UNAUTHENTICATED}, counted
 * by {@link PeerAuthentication#rejectedCount()}, and change nothing; the cluster keeps serving.
 *
 * <p>In package {@code dev.shardcache} for {@link PeerAuthentication} (its token format and its
 * count). The node does not expose its {@code PeerAuthentication}, so {@link #authenticationOf}
 * reads the private field.
 */
class SecurityClusterSecretTest {

  private static final byte[] SECRET = "the cluster secret, 32 bytes....".getBytes(US_ASCII);
  private static final byte[] OTHER_SECRET = "another secret of 32 bytes......".getBytes(US_ASCII);
  private static final String CACHE = "users";

  private final List<ShardcacheNode> nodes = new ArrayList<>();
  private final List<DistributedCache<String, String>> caches = new ArrayList<>();
  private final List<ManagedChannel> channels = new ArrayList<>();

  @AfterEach
  void tearDown() {
    channels.forEach(ManagedChannel::shutdownNow);
    nodes.forEach(ShardcacheNode::close);
  }

  @Test
  void membersSharingTheSecretServeEachOtherAndRefuseNothing() {
    for (int i = 0; i < 3; i++) {
      start(SECRET);
    }
    join(0, 1, 2);
    Map<String, String> written = putThroughRotatingNodes(60, 3);
    written.forEach((key, value) -> {
      for (int i = 0; i < 3; i++) {
        assertThat(caches.get(i).get(key)).isEqualTo(value);
      }
    });
    for (int i = 0; i < 3; i++) {
      assertThat(caches.get(i).stats().remoteFailureCount()).isZero();
      assertThat(caches.get(i).stats().peerRequestCount()).isPositive();
      assertThat(authenticationOf(nodes.get(i)).rejectedCount()).isZero();
    }
  }

  @Test
  void aMemberWithAnotherSecretIsRefusedCountedAndTheOthersKeepServing() {
    for (int i = 0; i < 3; i++) {
      start(SECRET);
    }
    int intruder = start(OTHER_SECRET);
    String intruderAddress = nodes.get(intruder).address();
    join(0, 1, 2);
    Map<String, String> written = putThroughRotatingNodes(60, 3);

    join(0, 1, 2, intruder);
    // Each side refuses the other's heartbeats, so each suspects the other and routes around it.
    await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
      for (int i = 0; i < 3; i++) {
        assertThat(nodes.get(i).suspectedPeers()).containsExactly(intruderAddress);
        assertThat(authenticationOf(nodes.get(i)).rejectedCount()).isPositive();
      }
      assertThat(nodes.get(intruder).suspectedPeers()).hasSize(3);
    });

    // The intruder's writes never reach the cluster; its reads never see the cluster's values.
    for (Map.Entry<String, String> entry : written.entrySet()) {
      try {
        caches.get(intruder).put(entry.getKey(), "evil");
      } catch (ShardcacheException refused) {
        // refused, or kept in its own shard: either way not in the cluster
      }
      assertThat(caches.get(intruder).get(entry.getKey())).isNotEqualTo(entry.getValue());
    }
    // Tokens signed with the wrong secret, sent straight to each member, are refused and counted.
    PeerAuthentication wrong = new PeerAuthentication(OTHER_SECRET, System::currentTimeMillis);
    for (int i = 0; i < 3; i++) {
      PeerAuthentication auth = authenticationOf(nodes.get(i));
      long before = auth.rejectedCount();
      String key = written.keySet().iterator().next();
      PeerServiceGrpc.PeerServiceBlockingStub stub = withToken(
          stub(i), wrong.token(PeerServiceGrpc.getPutMethod().getFullMethodName(), System.currentTimeMillis()));
      assertUnauthenticated(() -> stub.put(PutRequest.newBuilder().setCache(CACHE)
          .setKey(utf8(key)).setValue(utf8("evil")).build()));
      assertThat(auth.rejectedCount()).isGreaterThan(before);
    }

    written.forEach((key, value) -> {
      for (int i = 0; i < 3; i++) {
        assertThat(caches.get(i).get(key)).isEqualTo(value);
      }
    });
    putThroughRotatingNodes(30, 3).forEach((key, value) -> {
      for (int i = 0; i < 3; i++) {
        assertThat(caches.get(i).get(key)).isEqualTo(value);
      }
    });
  }

  @Test
  void everyCallWithoutATokenIsRefusedAndCountedWhileHealthProbesStillAnswer() {
    int node = start(SECRET);
    caches.get(node).put("kept", "v");
    PeerAuthentication auth = authenticationOf(nodes.get(node));
    PeerServiceGrpc.PeerServiceBlockingStub stub = stub(node);
    ByteString key = utf8("kept");
    List<ThrowingCallable> calls = everyRpc(stub, key);
    for (ThrowingCallable call : calls) {
      assertUnauthenticated(call);
    }
    assertThat(auth.rejectedCount()).isEqualTo(calls.size());
    assertThat(caches.get(node).stats().peerRequestCount()).isZero();
    assertThat(caches.get(node).get("kept")).isEqualTo("v");

    // The standard health service is not behind the secret, so probes keep working.
    HealthCheckResponse health = HealthGrpc.newBlockingStub(channel(node))
        .withDeadlineAfter(5, TimeUnit.SECONDS)
        .check(HealthCheckRequest.newBuilder().setService(ShardcacheNode.PEER_SERVICE).build());
    assertThat(health.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
  }

  /**
   * A member configured without the secret (or any process answering at a member's address): its
   * calls are refused and counted, and the members holding the secret must neither read its values
   * nor hand it their entries.
   *
   * <p>Fails today: the secret authenticates callers only. The node without it checks no token, so
   * it answers the members' heartbeats and calls; they keep it in their rings, hand it the entries
   * it now owns (rebalancing), store their writes of its keys on it, and serve reads of its keys
   * from it, values it wrote itself included. See the report of issue 5's security tests.
   */
  @Test
  void aNodeWithoutTheSecretCanNeitherReadNorPoisonTheClustersEntries() throws InterruptedException {
    start(SECRET);
    start(SECRET);
    int plain = start(null);
    join(0, 1);
    Map<String, String> written = putThroughRotatingNodes(40, 2);
    join(0, 1, plain);
    String address = nodes.get(plain).address();
    await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
      assertThat(nodes.get(plain).suspectedPeers()).hasSize(2);
      assertThat(authenticationOf(nodes.get(0)).rejectedCount()).isPositive();
      assertThat(authenticationOf(nodes.get(1)).rejectedCount()).isPositive();
    });
    // Give the members as long again to drop it from their rings, as they would a silent peer.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (System.nanoTime() < deadline
        && !(nodes.get(0).suspectedPeers().contains(address) && nodes.get(1).suspectedPeers().contains(address))) {
      Thread.sleep(100);
    }

    for (Map.Entry<String, String> entry : written.entrySet()) {
      try {
        caches.get(plain).put(entry.getKey(), "evil");
      } catch (ShardcacheException refused) {
        // refused, or kept in its own shard
      }
    }
    int poisoned = 0;
    int leaked = 0;
    for (Map.Entry<String, String> entry : written.entrySet()) {
      if (!entry.getValue().equals(caches.get(0).get(entry.getKey()))) {
        poisoned++;
      }
    }
    String key = "written-after-" + System.nanoTime() + "-";
    for (int n = 0; n < 40; n++) {
      caches.get(n % 2).put(key + n, "cluster data " + n);
      if (("cluster data " + n).equals(caches.get(plain).get(key + n))) {
        leaked++;
      }
    }
    System.out.printf("cluster secret, member without it: %d of %d entries read back poisoned through"
        + " a member, %d of 40 new writes readable on it; members suspect it: %s%n", poisoned,
        written.size(), leaked, nodes.get(0).suspectedPeers().contains(address));
    assertThat(poisoned).as("entries the members read back from the node without the secret").isZero();
    assertThat(leaked).as("writes of the members readable on the node without the secret").isZero();
  }

  @Test
  void forgedReplayedStaleAndMalformedTokensAreRefusedAndAValidOneIsAccepted() {
    int node = start(SECRET);
    caches.get(node).put("kept", "v");
    PeerAuthentication auth = authenticationOf(nodes.get(node));
    PeerAuthentication signer = new PeerAuthentication(SECRET, System::currentTimeMillis);
    String put = PeerServiceGrpc.getPutMethod().getFullMethodName();
    String ping = PeerServiceGrpc.getPingMethod().getFullMethodName();
    long now = System.currentTimeMillis();
    long skew = PeerAuthentication.MAX_SKEW.toMillis();
    String validMac = signer.token(put, now).substring(("v1." + now + ".").length());

    Map<String, String> tokens = new LinkedHashMap<>();
    tokens.put("empty", "");
    tokens.put("version only", "v1");
    tokens.put("empty parts", "v1..");
    tokens.put("too many parts", signer.token(put, now) + ".x");
    tokens.put("unknown version", "v2." + now + "." + validMac);
    tokens.put("non-numeric time", "v1.now." + validMac);
    tokens.put("garbage mac", "v1." + now + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    tokens.put("mac of the wrong secret", new PeerAuthentication(OTHER_SECRET, () -> now).token(put, now));
    tokens.put("mac for another method (replayed ping token)", signer.token(ping, now));
    tokens.put("mac for another time", "v1." + (now + 1) + "." + validMac);
    tokens.put("stale, signed correctly", signer.token(put, now - skew - 60_000));
    tokens.put("future, signed correctly", signer.token(put, now + skew + 60_000));
    tokens.put("Long.MIN_VALUE time", signer.token(put, Long.MIN_VALUE));
    tokens.put("Long.MAX_VALUE time", signer.token(put, Long.MAX_VALUE));
    tokens.put("mac with padding", signer.token(put, now) + "=");
    tokens.put("too long", "v1." + now + "." + validMac + "A".repeat(300));
    Random random = new Random(5);
    for (int i = 0; i < 200; i++) {
      tokens.put("random " + i, randomToken(random, now));
    }

    for (Map.Entry<String, String> token : tokens.entrySet()) {
      long before = auth.rejectedCount();
      PeerServiceGrpc.PeerServiceBlockingStub stub = withToken(stub(node), token.getValue());
      assertThatThrownBy(() -> stub.put(PutRequest.newBuilder().setCache(CACHE).setKey(utf8("kept"))
              .setValue(utf8("evil")).build()))
          .as(token.getKey())
          .isInstanceOfSatisfying(StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
      assertThat(auth.rejectedCount()).as(token.getKey()).isEqualTo(before + 1);
    }
    assertThat(caches.get(node).get("kept")).isEqualTo("v");
    assertThat(caches.get(node).stats().peerRequestCount()).isZero();

    // A token made with the secret for this method, now, is accepted (also near the skew bound).
    withToken(stub(node), signer.token(put, System.currentTimeMillis())).put(PutRequest.newBuilder()
        .setCache(CACHE).setKey(utf8("kept")).setValue(utf8("by a peer")).build());
    withToken(stub(node), signer.token(ping, System.currentTimeMillis() - skew + 30_000))
        .ping(PingRequest.getDefaultInstance());
    assertThat(caches.get(node).get("kept")).isEqualTo("by a peer");
    System.out.printf("cluster secret: %d forged/stale/malformed tokens refused, %d counted%n",
        tokens.size(), auth.rejectedCount());
  }

  /**
   * The skew check must not wrap around: with the verifier's clock at {@code t}, a token of time
   * {@code t + Long.MIN_VALUE} (so {@code t - time == Long.MIN_VALUE}, whose {@code Math.abs} is
   * negative) is 292 million years old and must be refused even though its MAC is right.
   */
  @Test
  void aTokenWhoseTimeDistanceOverflowsIsRefused() {
    long clock = 1_700_000_000_000L;
    PeerAuthentication auth = new PeerAuthentication(SECRET, () -> clock);
    String method = PeerServiceGrpc.getPutMethod().getFullMethodName();
    assertThat(auth.verify(method, auth.token(method, clock))).isTrue();
    assertThat(auth.verify(method, auth.token(method, clock + Long.MIN_VALUE))).isFalse();
  }

  // ---------------------------------------------------------------- helpers

  /** Reads the node's private {@code authentication} field: the node exposes no accessor. */
  static PeerAuthentication authenticationOf(ShardcacheNode node) {
    try {
      Field field = ShardcacheNode.class.getDeclaredField("authentication");
      field.setAccessible(true);
      PeerAuthentication auth = (PeerAuthentication) field.get(node);
      assertThat(auth).as("node %s has peer authentication", node).isNotNull();
      return auth;
    } catch (ReflectiveOperationException e) {
      throw new LinkageError("ShardcacheNode no longer has the field 'authentication'", e);
    }
  }

  private static List<ThrowingCallable> everyRpc(PeerServiceGrpc.PeerServiceBlockingStub stub, ByteString key) {
    return List.of(
        () -> stub.get(GetRequest.newBuilder().setCache(CACHE).setKey(key).setLoad(true).build()),
        () -> stub.getAll(GetAllRequest.newBuilder().setCache(CACHE).addKeys(key).build()),
        () -> stub.put(PutRequest.newBuilder().setCache(CACHE).setKey(key).setValue(utf8("evil")).build()),
        () -> stub.invalidate(InvalidateRequest.newBuilder().setCache(CACHE).setKey(key).build()),
        () -> stub.compareAndSet(CompareAndSetRequest.newBuilder().setCache(CACHE).setKey(key)
            .setExpected(utf8("v")).setUpdate(utf8("evil")).build()),
        () -> stub.invalidateAll(InvalidateAllRequest.newBuilder().setCache(CACHE).build()),
        () -> stub.replicate(ReplicateRequest.newBuilder().addBatches(CacheBatch.newBuilder()
            .setCache(CACHE).addEntries(VersionedEntry.newBuilder().setKey(key).setValue(utf8("evil"))
                .setTimestamp(Long.MAX_VALUE >>> 1).setWriter(1))).build()),
        () -> stub.fetch(FetchRequest.newBuilder().setCache(CACHE).addKeys(key).build()),
        () -> stub.digest(DigestRequest.newBuilder().setCache(CACHE).addBuckets(0).build()),
        () -> stub.ping(PingRequest.getDefaultInstance()));
  }

  private static String randomToken(Random random, long now) {
    String alphabet = "v1.0123456789-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=+/ ";
    StringBuilder token = new StringBuilder(random.nextBoolean() ? "v1." + (now + random.nextInt(1000)) + "." : "");
    int length = random.nextInt(80);
    for (int i = 0; i < length; i++) {
      token.append(alphabet.charAt(random.nextInt(alphabet.length())));
    }
    return token.toString();
  }

  private int start(byte[] secret) {
    ShardcacheNode.Builder builder = ShardcacheNode.builder().listen("127.0.0.1", 0);
    if (secret != null) {
      builder.clusterSecret(secret);
    }
    ShardcacheNode node = builder.build();
    nodes.add(node);
    String name = "node" + (nodes.size() - 1);
    caches.add(node.cache(CACHE, CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
        .loader(key -> "loaded:" + key + "@" + name).build()));
    try {
      node.start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return nodes.size() - 1;
  }

  private void join(int... indexes) {
    List<String> members = new ArrayList<>();
    for (int i : indexes) {
      members.add(nodes.get(i).address());
    }
    for (int i : indexes) {
      nodes.get(i).setPeers(members);
    }
  }

  /** Writes {@code count} new entries through nodes 0 .. members-1 in turn; returns them. */
  private Map<String, String> putThroughRotatingNodes(int count, int members) {
    Map<String, String> written = new LinkedHashMap<>();
    String prefix = "key-" + System.nanoTime() + "-";
    for (int k = 0; k < count; k++) {
      written.put(prefix + k, "value-" + k);
      caches.get(k % members).put(prefix + k, "value-" + k);
    }
    return written;
  }

  private ManagedChannel channel(int node) {
    HostPort address = HostPort.parse(nodes.get(node).address());
    ManagedChannel channel = Grpc.newChannelBuilderForAddress(address.host(), address.port(),
        InsecureChannelCredentials.create()).build();
    channels.add(channel);
    return channel;
  }

  private PeerServiceGrpc.PeerServiceBlockingStub stub(int node) {
    return PeerServiceGrpc.newBlockingStub(channel(node)).withDeadlineAfter(5, TimeUnit.SECONDS);
  }

  private static PeerServiceGrpc.PeerServiceBlockingStub withToken(
      PeerServiceGrpc.PeerServiceBlockingStub stub, String token) {
    Metadata headers = new Metadata();
    headers.put(PeerAuthentication.TOKEN, token);
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  private static void assertUnauthenticated(ThrowingCallable call) {
    assertThatThrownBy(call).isInstanceOfSatisfying(StatusRuntimeException.class,
        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
  }

  private static ByteString utf8(String s) {
    return ByteString.copyFromUtf8(s);
  }
}
