package dev.shardcache;

import static java.util.Objects.requireNonNull;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.AcknowledgeRequest;
import dev.shardcache.internal.proto.SubscribeRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * The serving side of client-only members' subscriptions, over a fake gRPC stream whose readiness
 * the test controls: the bound on subscribers, the order and filtering of pushes, flow control, the
 * drop of a subscriber that falls behind, and acknowledgements.
 */
class SubscribersTest {
  private static final int QUEUE_BYTES = 4_096;

  private final Subscribers subscribers = new Subscribers(2, QUEUE_BYTES, () -> "member:1");

  private static SubscribeRequest request(String caller, String... caches) {
    return SubscribeRequest.newBuilder().setCaller(caller).addAllCaches(List.of(caches)).build();
  }

  private static List<ByteString> keys(String... keys) {
    List<ByteString> bytes = new ArrayList<>();
    for (String key : keys) {
      bytes.add(ByteString.copyFromUtf8(key));
    }
    return bytes;
  }

  @Test
  void theFirstMessageNamesTheSubscriptionAndPushesFollowInOrderForTheCachesAsked() {
    FakeServerStream a = new FakeServerStream();
    FakeServerStream b = new FakeServerStream();
    subscribers.subscribe(request("client-a", "users", "orders"), a);
    subscribers.subscribe(request("client-b", "orders"), b);

    assertThat(subscribers.push("users", keys("u1"), false)).isNull();
    assertThat(subscribers.push("orders", keys("o1", "o2"), false)).isNull();
    subscribers.pushClear("users");

    assertThat(a.sent).hasSize(4);
    assertThat(a.sent.get(0).getSubscription()).isNotZero();
    assertThat(a.sent.get(0).getCache()).isEmpty();
    assertThat(a.sent.get(1).getCache()).isEqualTo("users");
    assertThat(a.sent.get(1).getKeysList()).isEqualTo(keys("u1"));
    assertThat(a.sent.get(2).getKeysList()).isEqualTo(keys("o1", "o2"));
    assertThat(a.sent.get(3).getAll()).isTrue();
    assertThat(b.sent).hasSize(2);
    assertThat(b.sent.get(1).getCache()).isEqualTo("orders");
    assertThat(b.sent.get(0).getSubscription()).isNotEqualTo(a.sent.get(0).getSubscription());
  }

  @Test
  void pastItsMaximumAMemberRefusesTheNextSubscriberNamingTheSetting() {
    subscribers.subscribe(request("client-a", "c"), new FakeServerStream());
    subscribers.subscribe(request("client-b", "c"), new FakeServerStream());
    assertThatThrownBy(
            () -> subscribers.subscribe(request("client-c", "c"), new FakeServerStream()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
              assertThat(e.getStatus().getDescription())
                  .contains("already serves 2 client-only members")
                  .contains("ShardcacheNode.Builder.maxSubscribedClients");
            });
    assertThat(subscribers.count()).isEqualTo(2);
  }

  @Test
  void aSubscriptionMustNameACache() {
    assertThatThrownBy(() -> subscribers.subscribe(request("client-a"), new FakeServerStream()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT));
  }

  @Test
  void messagesWaitForTheTransportAndAStreamThatFallsTooFarBehindIsDropped() {
    FakeServerStream slow = new FakeServerStream();
    slow.ready = false;
    subscribers.subscribe(request("client-slow", "c"), slow);
    CompletableFuture<Void> waiting = subscribers.push("c", keys("first"), true);
    assertThat(slow.sent).as("nothing leaves while the transport is not ready").isEmpty();

    slow.becomeReady();
    assertThat(slow.sent).hasSize(2);
    assertThat(slow.sent.get(1).getAck()).isEqualTo(1);
    assertThat(waiting).isNotDone();

    slow.ready = false;
    CompletableFuture<Void> lost = subscribers.push("c", keys("x".repeat(100)), true);
    int pushes = 1;
    while (slow.error == null) {
      CompletableFuture<Void> unused = subscribers.push("c", keys("x".repeat(100)), false);
      pushes++;
    }
    StatusRuntimeException dropped = requireNonNull(slow.error);
    System.out.printf(
        "subscribers: a stream not ready was dropped after %d pushes of about 170 bytes (bound %d"
            + " bytes)%n",
        pushes, QUEUE_BYTES);
    assertThat(pushes).isBetween(QUEUE_BYTES / 200, QUEUE_BYTES / 100 + 1);
    assertThat(dropped.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(dropped.getStatus().getDescription()).contains("fell more than 4096 bytes");
    assertThat(subscribers.count()).isZero();
    assertThat(waiting).as("a wait ends with its stream").isDone();
    assertThat(lost).isDone();
    assertThat(subscribers.push("c", keys("after"), true)).as("nobody left to push to").isNull();
  }

  @Test
  void anAcknowledgementReleasesTheWritesWaitingUpToItsNumber() {
    FakeServerStream stream = new FakeServerStream();
    subscribers.subscribe(request("client-a", "c"), stream);
    long id = stream.sent.get(0).getSubscription();
    CompletableFuture<Void> first = subscribers.push("c", keys("1"), true);
    CompletableFuture<Void> second = subscribers.push("c", keys("2"), true);
    CompletableFuture<Void> third = subscribers.push("c", keys("3"), true);

    subscribers.acknowledge(ack(id + 1, 3)); // another subscription: ignored
    assertThat(first).isNotDone();
    subscribers.acknowledge(ack(id, 2));
    assertThat(first).isDone();
    assertThat(second).isDone();
    assertThat(third).isNotDone();
    stream.cancel();
    assertThat(third).as("released when the client goes away").isDone();
    assertThat(subscribers.count()).isZero();
  }

  @Test
  void closingEndsEveryStreamAndRefusesNewOnes() {
    FakeServerStream stream = new FakeServerStream();
    subscribers.subscribe(request("client-a", "c"), stream);
    subscribers.close();
    assertThat(requireNonNull(stream.error).getStatus().getCode())
        .isEqualTo(Status.Code.UNAVAILABLE);
    assertThatThrownBy(
            () -> subscribers.subscribe(request("client-b", "c"), new FakeServerStream()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
  }

  private static AcknowledgeRequest ack(long subscription, long ack) {
    return AcknowledgeRequest.newBuilder().setSubscription(subscription).setAck(ack).build();
  }
}
