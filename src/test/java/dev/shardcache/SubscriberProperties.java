package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.Invalidations;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * One subscriber's stream ({@link Subscriber}) under any sequence of pushes, flow-control changes,
 * acknowledgements and a cancel, against a model of what it promises:
 *
 * <ul>
 *   <li>what the client received is the first message and then a prefix of the pushes, in order;
 *   <li>while the transport is ready nothing waits; what waits is within the byte bound, or is one
 *       message alone;
 *   <li>the stream is dropped ({@code RESOURCE_EXHAUSTED}) exactly when a push would have passed
 *       the bound behind other waiting messages, and nothing is sent after it ends;
 *   <li>a write's wait ends exactly when the client has acknowledged its number (or a later one),
 *       or the stream has ended (the client acknowledges only numbers it has received).
 * </ul>
 *
 * Run time: a few seconds (500 sequences of up to 60 steps).
 */
class SubscriberProperties {
  private static final int BOUND = 1_000;

  /** One step: push a key of {@code size} bytes, set readiness, acknowledge, or cancel. */
  record Step(int kind, int size, boolean flag) {
    static final int PUSH = 0;
    static final int READY = 1;
    static final int ACK = 2;
    static final int CANCEL = 3;
  }

  @Provide
  Arbitrary<List<Step>> steps() {
    Arbitrary<Step> step =
        Arbitraries.frequencyOf(
            net.jqwik.api.Tuple.of(
                12,
                Arbitraries.integers()
                    .between(0, 700)
                    .flatMap(
                        size ->
                            Arbitraries.of(true, false)
                                .map(acked -> new Step(Step.PUSH, size, acked)))),
            net.jqwik.api.Tuple.of(
                5, Arbitraries.of(true, false).map(ready -> new Step(Step.READY, 0, ready))),
            net.jqwik.api.Tuple.of(
                4, Arbitraries.integers().between(0, 30).map(n -> new Step(Step.ACK, n, false))),
            net.jqwik.api.Tuple.of(1, Arbitraries.just(new Step(Step.CANCEL, 0, false))));
    return step.list().ofMaxSize(60);
  }

  @Property(tries = 500)
  void aStreamKeepsOrderBoundAndEveryWaitEnds(@ForAll("steps") List<Step> steps) {
    FakeServerStream stream = new FakeServerStream();
    stream.ready = false;
    boolean[] ended = new boolean[1];
    Subscriber subscriber =
        new Subscriber(7, "client", java.util.Set.of("c"), stream, BOUND, () -> ended[0] = true);
    subscriber.start();

    List<Invalidations> pushed = new ArrayList<>();
    pushed.add(Invalidations.newBuilder().setSubscription(7).build());
    List<CompletableFuture<Void>> waits = new ArrayList<>();
    List<Long> waitNumbers = new ArrayList<>();
    long nextAck = 1;
    long acknowledged = 0;
    boolean cancelled = false;

    for (Step step : steps) {
      int sentBefore = stream.sent.size();
      boolean endedBefore = ended[0];
      switch (step.kind()) {
        case Step.PUSH -> {
          ByteString key = ByteString.copyFrom(new byte[step.size()]);
          Invalidations.Builder message =
              Invalidations.newBuilder().setCache("c").addKeys(key).setAll(false);
          if (step.flag()) {
            message.setAck(nextAck);
          }
          Invalidations expected = message.build();
          long waitingBytes = bytes(pushed.subList(stream.sent.size(), pushed.size()));
          boolean overflow =
              !endedBefore
                  && pushed.size() > stream.sent.size()
                  && waitingBytes + size(expected) > BOUND;
          CompletableFuture<Void> wait = subscriber.push("c", List.of(key), false, step.flag());
          if (step.flag()) {
            assertThat(wait).isNotNull();
            waits.add(wait);
            waitNumbers.add(endedBefore ? 0 : nextAck);
            if (!endedBefore) {
              nextAck++;
            }
          } else {
            assertThat(wait).isNull();
          }
          if (!endedBefore && !overflow) {
            pushed.add(expected);
          }
          assertThat(ended[0])
              .as("dropped exactly on an overflow")
              .isEqualTo(endedBefore || overflow);
          if (overflow) {
            assertThat(stream.error).isNotNull();
            assertThat(stream.error.getStatus().getCode())
                .isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
          }
        }
        case Step.READY -> {
          if (step.flag()) {
            stream.becomeReady();
          } else {
            stream.ready = false;
          }
        }
        case Step.ACK -> {
          // A client acknowledges only numbers it has received.
          long received = 0;
          for (Invalidations message : stream.sent) {
            received = Math.max(received, message.getAck());
          }
          long ack = Math.min(step.size(), received);
          subscriber.acknowledge(ack);
          acknowledged = Math.max(acknowledged, ack);
        }
        default -> {
          stream.cancel();
          cancelled = true;
        }
      }
      if (endedBefore) {
        assertThat(stream.sent).as("nothing leaves an ended stream").hasSize(sentBefore);
      }
      assertThat(pushed.subList(0, stream.sent.size()))
          .as("what the client received, in order")
          .isEqualTo(stream.sent);
      boolean over = ended[0];
      if (!over && stream.ready) {
        assertThat(stream.sent).as("nothing waits while ready").hasSameSizeAs(pushed);
      }
      int waitingCount = pushed.size() - stream.sent.size();
      if (!over && waitingCount > 1) {
        assertThat(bytes(pushed.subList(stream.sent.size(), pushed.size())))
            .as("bytes waiting")
            .isLessThanOrEqualTo(BOUND);
      }
      assertThat(cancelled && !ended[0]).as("a cancel ends the stream").isFalse();
      for (int i = 0; i < waits.size(); i++) {
        long number = waitNumbers.get(i);
        boolean released = ended[0] || (number != 0 && number <= acknowledged);
        assertThat(waits.get(i).isDone()).as("wait for ack %s", number).isEqualTo(released);
      }
    }
  }

  private static long bytes(List<Invalidations> messages) {
    long total = 0;
    for (Invalidations message : messages) {
      total += size(message);
    }
    return total;
  }

  private static int size(Invalidations message) {
    return message.getSerializedSize() + Subscriber.MESSAGE_OVERHEAD_BYTES;
  }
}
