package dev.shardcache;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import dev.shardcache.PeerAuthentication.Refusal;
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
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Peer authentication by cluster secret (issue 5; tokens bound to the call, issue 11 gap 5), with
 * real nodes on 127.0.0.1: members sharing the secret work together; a member with another secret,
 * a caller without a token, and callers with forged, replayed, re-targeted, body-swapped, stale, v1
 * or malformed tokens are answered {@code UNAUTHENTICATED}, counted by {@link
 * PeerAuthentication#rejectedCount()} (and by reason), and change nothing; an impostor that answers
 * errors is treated as unreachable; the cluster keeps serving.
 *
 * <p>In package {@code dev.shardcache} for {@link PeerAuthentication} (its token format and its
 * count), which {@link #authenticationOf} reads through the node's package-private accessor.
 */
class SecurityClusterSecretTest {

  private static final byte[] SECRET = "the cluster secret, 32 bytes....".getBytes(US_ASCII);
  private static final byte[] OTHER_SECRET = "another secret of 32 bytes......".getBytes(US_ASCII);
  private static final String CACHE = "users";
  private static final String CALLER = "127.0.0.1:1";
  private static final String PUT = PeerServiceGrpc.getPutMethod().getFullMethodName();
  private static final String PING = PeerServiceGrpc.getPingMethod().getFullMethodName();

  private final List<ShardcacheNode> nodes = new ArrayList<>();
  private final List<DistributedCache<String, String>> caches = new ArrayList<>();
  private final List<ManagedChannel> channels = new ArrayList<>();
  private final List<Server> impostors = new ArrayList<>();

  @AfterEach
  void tearDown() {
    channels.forEach(ManagedChannel::shutdownNow);
    nodes.forEach(ShardcacheNode::close);
    impostors.forEach(Server::shutdownNow);
  }

  @Test
  void membersSharingTheSecretServeEachOtherAndRefuseNothing() {
    for (int i = 0; i < 3; i++) {
      start(SECRET);
    }
    join(0, 1, 2);
    Map<String, String> written = putThroughRotatingNodes(60, 3);
    written.forEach(
        (key, value) -> {
          for (int i = 0; i < 3; i++) {
            assertThat(caches.get(i).get(key)).isEqualTo(value);
          }
        });
    // Scan pages are signed calls like any other: a scan through any member sees every entry.
    for (int i = 0; i < 3; i++) {
      Map<String, String> scanned = new HashMap<>();
      try (CacheScan<String, String> scan = caches.get(i).scan()) {
        scan.forEachRemaining(entry -> scanned.put(entry.getKey(), entry.getValue()));
      }
      assertThat(scanned).as("entries scanned through node %s", i).isEqualTo(written);
    }
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
    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(
            () -> {
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
      long before = auth.rejectedCount(Refusal.SIGNATURE);
      String key = written.keySet().iterator().next();
      PutRequest evil =
          PutRequest.newBuilder().setCache(CACHE).setKey(utf8(key)).setValue(utf8("evil")).build();
      PeerServiceGrpc.PeerServiceBlockingStub stub =
          withToken(
              stub(i),
              wrong.token(
                  PUT,
                  System.currentTimeMillis(),
                  intruderAddress,
                  nodes.get(i).address(),
                  evil.toByteArray()));
      assertUnauthenticated(() -> stub.put(evil));
      assertThat(auth.rejectedCount(Refusal.SIGNATURE)).isGreaterThan(before);
    }

    written.forEach(
        (key, value) -> {
          for (int i = 0; i < 3; i++) {
            assertThat(caches.get(i).get(key)).isEqualTo(value);
          }
        });
    putThroughRotatingNodes(30, 3)
        .forEach(
            (key, value) -> {
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
    HealthCheckResponse health =
        HealthGrpc.newBlockingStub(channel(node))
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
  void aNodeWithoutTheSecretCanNeitherReadNorPoisonTheClustersEntries()
      throws InterruptedException {
    start(SECRET);
    start(SECRET);
    int plain = start(null);
    join(0, 1);
    Map<String, String> written = putThroughRotatingNodes(40, 2);
    join(0, 1, plain);
    String address = nodes.get(plain).address();
    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(
            () -> {
              assertThat(nodes.get(plain).suspectedPeers()).hasSize(2);
              assertThat(authenticationOf(nodes.get(0)).rejectedCount()).isPositive();
              assertThat(authenticationOf(nodes.get(1)).rejectedCount()).isPositive();
            });
    // Give the members as long again to drop it from their rings, as they would a silent peer.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (System.nanoTime() < deadline
        && !(nodes.get(0).suspectedPeers().contains(address)
            && nodes.get(1).suspectedPeers().contains(address))) {
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
    System.out.printf(
        "cluster secret, member without it: %d of %d entries read back poisoned through"
            + " a member, %d of 40 new writes readable on it; members suspect it: %s%n",
        poisoned, written.size(), leaked, nodes.get(0).suspectedPeers().contains(address));
    assertThat(poisoned)
        .as("entries the members read back from the node without the secret")
        .isZero();
    assertThat(leaked).as("writes of the members readable on the node without the secret").isZero();
  }

  @Test
  void forgedStaleOldAndMalformedTokensAreRefusedAndAValidOneIsAccepted() {
    int node = start(SECRET);
    caches.get(node).put("kept", "v");
    PeerAuthentication auth = authenticationOf(nodes.get(node));
    PeerAuthentication signer = signer(SECRET);
    String target = nodes.get(node).address();
    long now = System.currentTimeMillis();
    long window = PeerAuthentication.WINDOW.toMillis();
    PutRequest evil =
        PutRequest.newBuilder().setCache(CACHE).setKey(utf8("kept")).setValue(utf8("evil")).build();
    byte[] body = evil.toByteArray();
    String valid = signer.token(PUT, now, CALLER, target, body);
    String[] parts = valid.split("\\.");

    Map<String, String> tokens = new LinkedHashMap<>();
    tokens.put("empty", "");
    tokens.put("version only", "v2");
    tokens.put("empty parts", "v2......");
    tokens.put("too many parts", valid + ".x");
    tokens.put("too few parts", valid.substring(0, valid.lastIndexOf('.')));
    tokens.put("unknown version", "v3" + valid.substring(2));
    tokens.put("non-numeric time", valid.replace("v2." + now + ".", "v2.now."));
    tokens.put("time with a plus sign", valid.replace("v2." + now + ".", "v2.+" + now + "."));
    tokens.put(
        "short nonce", valid.replace("." + parts[2] + ".", "." + parts[2].substring(2) + "."));
    tokens.put("padded mac", valid + "=");
    tokens.put("garbage mac", valid.substring(0, valid.lastIndexOf('.') + 1) + "A".repeat(43));
    tokens.put(
        "mac of the wrong secret",
        new PeerAuthentication(OTHER_SECRET, () -> now).token(PUT, now, CALLER, target, body));
    tokens.put(
        "mac for another method (a ping token)", signer.token(PING, now, CALLER, target, body));
    tokens.put("mac for another time", valid.replace("v2." + now + ".", "v2." + (now + 1) + "."));
    tokens.put(
        "mac for another caller",
        valid.replace(
            "." + parts[3] + ".",
            "."
                + Base64.getUrlEncoder()
                    .withoutPadding()
                    .encodeToString("10.0.0.9:7070".getBytes(StandardCharsets.UTF_8))
                + "."));
    tokens.put(
        "stale, signed correctly", signer.token(PUT, now - window - 60_000, CALLER, target, body));
    tokens.put(
        "future, signed correctly", signer.token(PUT, now + window + 60_000, CALLER, target, body));
    tokens.put("Long.MAX_VALUE time", signer.token(PUT, Long.MAX_VALUE, CALLER, target, body));
    tokens.put("v1, signed correctly", v1Token(SECRET, PUT, now));
    tokens.put("too long", valid + "A".repeat(PeerToken.MAX_CHARS));
    Random random = new Random(5);
    for (int i = 0; i < 200; i++) {
      tokens.put("random " + i, randomToken(random, now));
    }

    Map<String, Refusal> reasons =
        Map.of(
            "v1, signed correctly", Refusal.OLD_VERSION,
            "stale, signed correctly", Refusal.STALE,
            "future, signed correctly", Refusal.STALE,
            "mac of the wrong secret", Refusal.SIGNATURE,
            "mac for another method (a ping token)", Refusal.SIGNATURE,
            "mac for another time", Refusal.SIGNATURE,
            "mac for another caller", Refusal.SIGNATURE,
            "too long", Refusal.MALFORMED);
    for (Map.Entry<String, String> token : tokens.entrySet()) {
      long before = auth.rejectedCount();
      Refusal reason = reasons.get(token.getKey());
      long beforeForReason = reason == null ? 0 : auth.rejectedCount(reason);
      PeerServiceGrpc.PeerServiceBlockingStub stub = withToken(stub(node), token.getValue());
      assertThatThrownBy(() -> stub.put(evil))
          .as(token.getKey())
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
      assertThat(auth.rejectedCount()).as(token.getKey()).isEqualTo(before + 1);
      if (reason != null) {
        assertThat(auth.rejectedCount(reason)).as(token.getKey()).isEqualTo(beforeForReason + 1);
      }
    }
    assertThat(caches.get(node).get("kept")).isEqualTo("v");
    assertThat(caches.get(node).stats().peerRequestCount()).isZero();

    // A token made with the secret for this method, node and message, now, is accepted (also near
    // the window's edge).
    PutRequest byPeer =
        PutRequest.newBuilder()
            .setCache(CACHE)
            .setKey(utf8("kept"))
            .setValue(utf8("by a peer"))
            .build();
    withToken(stub(node), tokenFor(signer, PUT, node, byPeer)).put(byPeer);
    withToken(
            stub(node),
            signer.token(
                PING,
                System.currentTimeMillis() - window + 20_000,
                CALLER,
                target,
                PingRequest.getDefaultInstance().toByteArray()))
        .ping(PingRequest.getDefaultInstance());
    assertThat(caches.get(node).get("kept")).isEqualTo("by a peer");
    System.out.printf(
        "cluster secret: %d forged/stale/old/malformed tokens refused, %d counted%n",
        tokens.size(), auth.rejectedCount());
  }

  /** A token is good for one call: sent again (a sniffed InvalidateAll, say), it is refused. */
  @Test
  void aReplayedTokenIsRefused() {
    int node = start(SECRET);
    caches.get(node).put("kept", "v");
    PeerAuthentication auth = authenticationOf(nodes.get(node));
    InvalidateAllRequest clear =
        InvalidateAllRequest.newBuilder()
            .setCache(CACHE)
            .setCaller(CALLER)
            .setClearedBefore(
                dev.shardcache.replication.HybridLogicalClock.pack(
                    System.currentTimeMillis() + 2, 0)) // later than the put, within the skew
            .build();
    String token =
        tokenFor(
            signer(SECRET),
            PeerServiceGrpc.getInvalidateAllMethod().getFullMethodName(),
            node,
            clear);

    withToken(stub(node), token).invalidateAll(clear);
    assertThat(caches.get(node).getIfPresent("kept")).isNull();
    caches.get(node).put("kept", "written after the clear");
    long served = caches.get(node).stats().peerRequestCount();

    for (int replay = 0; replay < 3; replay++) {
      assertUnauthenticated(() -> withToken(stub(node), token).invalidateAll(clear));
    }
    assertThat(auth.rejectedCount(Refusal.REPLAY)).isEqualTo(3);
    assertThat(caches.get(node).stats().peerRequestCount()).isEqualTo(served);
    assertThat(caches.get(node).get("kept")).isEqualTo("written after the clear");
  }

  /** A token made for one member, sent to another that shares the secret, is refused there. */
  @Test
  void aTokenSentToAnotherNodeIsRefused() {
    int first = start(SECRET);
    int second = start(SECRET);
    caches.get(second).put("kept", "v");
    ReplicateRequest replicate =
        ReplicateRequest.newBuilder()
            .setCaller(CALLER)
            .addBatches(
                CacheBatch.newBuilder()
                    .setCache(CACHE)
                    .addEntries(
                        VersionedEntry.newBuilder()
                            .setKey(utf8("kept"))
                            .setValue(utf8("evil"))
                            .setTimestamp(System.currentTimeMillis())
                            .setWriter(1)))
            .build();
    String forFirst =
        tokenFor(
            signer(SECRET),
            PeerServiceGrpc.getReplicateMethod().getFullMethodName(),
            first,
            replicate);

    assertThatThrownBy(() -> withToken(stub(second), forFirst).replicate(replicate))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
              assertThat(e.getStatus().getDescription())
                  .contains("made for " + nodes.get(first).address());
            });
    assertThat(authenticationOf(nodes.get(second)).rejectedCount(Refusal.WRONG_TARGET))
        .isEqualTo(1);
    assertThat(caches.get(second).get("kept")).isEqualTo("v");
    // The node it was made for takes it.
    withToken(stub(first), forFirst).replicate(replicate);
    assertThat(caches.get(first).get("kept")).isEqualTo("evil");
  }

  /** Valid headers cannot carry another message: the digest is checked before the service runs. */
  @Test
  void aTokenWithAnotherMessageIsRefusedBeforeTheServiceSeesIt() {
    int node = start(SECRET);
    caches.get(node).put("kept", "v");
    PeerAuthentication auth = authenticationOf(nodes.get(node));
    PutRequest signed =
        PutRequest.newBuilder()
            .setCache(CACHE)
            .setKey(utf8("other"))
            .setValue(utf8("harmless"))
            .build();
    PutRequest swapped =
        PutRequest.newBuilder().setCache(CACHE).setKey(utf8("kept")).setValue(utf8("evil")).build();
    String token = tokenFor(signer(SECRET), PUT, node, signed);

    assertThatThrownBy(() -> withToken(stub(node), token).put(swapped))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
              assertThat(e.getStatus().getDescription())
                  .contains("not the one its token was made for");
            });
    assertThat(auth.rejectedCount(Refusal.BODY)).isEqualTo(1);
    assertThat(caches.get(node).stats().peerRequestCount()).isZero();
    assertThat(caches.get(node).get("kept")).isEqualTo("v");
    assertThat(caches.get(node).get("other")).isEqualTo("loaded:other@node0");
  }

  /**
   * A process at a member's address without the secret that answers errors (here: the owner could
   * not load, in trailers only) must count as unreachable, so the caller falls over and loads the
   * key itself, instead of failing the read as the owner's answer. Each error it could answer, with
   * or without headers first, reaches the caller as UNAUTHENTICATED.
   */
  @Test
  void anImpostorAnsweringErrorsIsTreatedAsUnreachable() {
    int node = start(SECRET);
    String impostor =
        startImpostor(() -> Status.FAILED_PRECONDITION.withDescription("cannot load"), false);
    nodes.get(node).setPeers(List.of(nodes.get(node).address(), impostor));
    String key = null;
    for (int n = 0; key == null; n++) {
      if (caches.get(node).ownerOf("k" + n).equals(impostor)) {
        key = "k" + n;
      }
    }
    assertThat(caches.get(node).get(key)).isEqualTo("loaded:" + key + "@node0");
    assertThat(authenticationOf(nodes.get(node)).rejectedCount(Refusal.UNPROVEN_REPLY))
        .isPositive();

    PeerAuthentication caller = signer(SECRET);
    AtomicLong unproven = new AtomicLong();
    List<String> answers = new ArrayList<>();
    for (boolean headersFirst : new boolean[] {false, true}) {
      for (Status.Code code :
          List.of(
              Status.Code.OK,
              Status.Code.INVALID_ARGUMENT,
              Status.Code.NOT_FOUND,
              Status.Code.FAILED_PRECONDITION,
              Status.Code.ABORTED,
              Status.Code.RESOURCE_EXHAUSTED,
              Status.Code.INTERNAL,
              Status.Code.DEADLINE_EXCEEDED)) {
        String address = startImpostor(code::toStatus, headersFirst);
        HostPort hostPort = HostPort.parse(address);
        ManagedChannel channel =
            Grpc.newChannelBuilderForAddress(
                    hostPort.host(), hostPort.port(), InsecureChannelCredentials.create())
                .intercept(caller.clientInterceptor())
                .build();
        channels.add(channel);
        PeerServiceGrpc.PeerServiceBlockingStub stub =
            PeerServiceGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS);
        for (ThrowingCallable call : everyRpc(stub, utf8("k"))) {
          Status status = Status.OK;
          try {
            call.call();
          } catch (Throwable e) {
            status = Status.fromThrowable(e);
          }
          answers.add(code + (headersFirst ? " after headers" : " in trailers") + " -> " + status);
          unproven.incrementAndGet();
        }
      }
    }
    assertThat(answers)
        .allSatisfy(answer -> assertThat(answer).contains("-> Status{code=UNAUTHENTICATED"));
    assertThat(caller.rejectedCount(Refusal.UNPROVEN_REPLY)).isEqualTo(unproven.get());
  }

  /**
   * Each node keeps a bounded number of nonces; past it, it refuses calls rather than forget one.
   */
  @Test
  void theSeenNoncesAreBoundedAndFailClosed() {
    long clock = 1_700_000_000_000L;
    PeerAuthentication auth = new PeerAuthentication(SECRET, () -> clock, 3);
    auth.identify("node:1");
    byte[] body = PingRequest.getDefaultInstance().toByteArray();
    List<String> tokens = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      tokens.add(auth.token(PING, clock, CALLER, "node:1", body));
    }
    for (int i = 0; i < 3; i++) {
      assertThat(auth.check(PING, tokens.get(i)).accepted()).isTrue();
    }
    assertThat(auth.check(PING, tokens.get(3)).refusal()).isEqualTo(Refusal.NONCE_CAPACITY);
    assertThat(auth.check(PING, tokens.get(0)).refusal()).isEqualTo(Refusal.REPLAY);
    assertThat(auth.check(PING, auth.token(PING, clock, CALLER, "NODE:1", body)).refusal())
        .as("host names compare without case")
        .isEqualTo(Refusal.NONCE_CAPACITY);
    assertThat(auth.check(PING, auth.token(PING, clock, CALLER, "node:2", body)).refusal())
        .isEqualTo(Refusal.WRONG_TARGET);
  }

  /** A token time far from the clock is refused, and a negative one cannot overflow the check. */
  @Test
  void aTokenWhoseTimeIsOutOfRangeIsRefused() {
    long clock = 1_700_000_000_000L;
    PeerAuthentication auth = new PeerAuthentication(SECRET, () -> clock);
    auth.identify("node:1");
    byte[] body = PingRequest.getDefaultInstance().toByteArray();
    assertThat(auth.check(PING, auth.token(PING, clock, CALLER, "node:1", body)).accepted())
        .isTrue();
    assertThat(
            auth.check(PING, auth.token(PING, clock + Long.MIN_VALUE, CALLER, "node:1", body))
                .refusal())
        .isEqualTo(Refusal.MALFORMED);
    assertThat(auth.check(PING, auth.token(PING, 0, CALLER, "node:1", body)).refusal())
        .isEqualTo(Refusal.STALE);
  }

  // ---------------------------------------------------------------- helpers

  /** The node's peer authentication, through its package-private accessor. */
  static PeerAuthentication authenticationOf(ShardcacheNode node) {
    PeerAuthentication auth = node.testHooks().authentication();
    assertThat(auth).as("node %s has peer authentication", node).isNotNull();
    return java.util.Objects.requireNonNull(auth);
  }

  private static List<ThrowingCallable> everyRpc(
      PeerServiceGrpc.PeerServiceBlockingStub stub, ByteString key) {
    return List.of(
        () -> stub.get(GetRequest.newBuilder().setCache(CACHE).setKey(key).setLoad(true).build()),
        () -> stub.getAll(GetAllRequest.newBuilder().setCache(CACHE).addKeys(key).build()),
        () ->
            stub.put(
                PutRequest.newBuilder().setCache(CACHE).setKey(key).setValue(utf8("evil")).build()),
        () -> stub.invalidate(InvalidateRequest.newBuilder().setCache(CACHE).setKey(key).build()),
        () ->
            stub.compareAndSet(
                CompareAndSetRequest.newBuilder()
                    .setCache(CACHE)
                    .setKey(key)
                    .setExpected(utf8("v"))
                    .setUpdate(utf8("evil"))
                    .build()),
        () -> stub.invalidateAll(InvalidateAllRequest.newBuilder().setCache(CACHE).build()),
        () ->
            stub.replicate(
                ReplicateRequest.newBuilder()
                    .addBatches(
                        CacheBatch.newBuilder()
                            .setCache(CACHE)
                            .addEntries(
                                VersionedEntry.newBuilder()
                                    .setKey(key)
                                    .setValue(utf8("evil"))
                                    .setTimestamp(Long.MAX_VALUE >>> 1)
                                    .setWriter(1)))
                    .build()),
        () -> stub.fetch(FetchRequest.newBuilder().setCache(CACHE).addKeys(key).build()),
        () -> stub.digest(DigestRequest.newBuilder().setCache(CACHE).addBuckets(0).build()),
        () -> stub.ping(PingRequest.getDefaultInstance()));
  }

  private static String randomToken(Random random, long now) {
    String alphabet = "v2.0123456789-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=+/ ";
    StringBuilder token =
        new StringBuilder(random.nextBoolean() ? "v2." + (now + random.nextInt(1000)) + "." : "");
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
    caches.add(
        node.cache(
            CACHE,
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .loader(key -> "loaded:" + key + "@" + name)
                .build()));
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
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress(
                address.host(), address.port(), InsecureChannelCredentials.create())
            .build();
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

  /** Which node address a token is for, and its body: a token as a member would send it. */
  private String tokenFor(
      PeerAuthentication signer, String method, int node, com.google.protobuf.MessageLite request) {
    return signer.token(
        method,
        System.currentTimeMillis(),
        CALLER,
        nodes.get(node).address(),
        request.toByteArray());
  }

  /** A signer that knows the secret, calling as {@link #CALLER}. */
  private static PeerAuthentication signer(byte[] secret) {
    PeerAuthentication signer = new PeerAuthentication(secret, System::currentTimeMillis);
    signer.identify(CALLER);
    return signer;
  }

  /**
   * A correctly signed token of the old format: v1.<millis>.<HMAC(secret, "v1.<millis>.<method>")>.
   */
  private static String v1Token(byte[] secret, String method, long millis) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret, "HmacSHA256"));
      return "v1."
          + millis
          + "."
          + Base64.getUrlEncoder()
              .withoutPadding()
              .encodeToString(
                  mac.doFinal(("v1." + millis + "." + method).getBytes(StandardCharsets.UTF_8)));
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * A process at some address that speaks the peer protocol without the secret: it answers every
   * call with the status {@code answer} gives, in trailers only, or after headers with a made-up
   * proof.
   */
  private String startImpostor(java.util.function.Supplier<Status> answer, boolean headersFirst) {
    ServerServiceDefinition.Builder service =
        ServerServiceDefinition.builder(PeerServiceGrpc.getServiceDescriptor());
    for (MethodDescriptor<?, ?> method : PeerServiceGrpc.getServiceDescriptor().getMethods()) {
      addAnswering(service, method, answer, headersFirst);
    }
    try {
      Server server =
          Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
              .addService(service.build())
              .build()
              .start();
      impostors.add(server);
      return "127.0.0.1:" + server.getPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static <Q, R> void addAnswering(
      ServerServiceDefinition.Builder service,
      MethodDescriptor<Q, R> method,
      java.util.function.Supplier<Status> answer,
      boolean headersFirst) {
    ServerCallHandler<Q, R> handler =
        (ServerCall<Q, R> call, Metadata headers) -> {
          call.request(1);
          return new ServerCall.Listener<>() {
            @Override
            public void onHalfClose() {
              Status status = answer.get();
              if (headersFirst || status.isOk()) {
                Metadata fake = new Metadata();
                if (headersFirst) {
                  fake.put(PeerAuthentication.REPLY, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
                }
                call.sendHeaders(fake);
              }
              if (status.isOk()) { // an empty answer of the right type
                call.sendMessage(
                    method.parseResponse(new java.io.ByteArrayInputStream(new byte[0])));
              }
              call.close(status, new Metadata());
            }
          };
        };
    service.addMethod(method, handler);
  }

  private static void assertUnauthenticated(ThrowingCallable call) {
    assertThatThrownBy(call)
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
  }

  private static ByteString utf8(String s) {
    return ByteString.copyFromUtf8(s);
  }
}
