package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The back-off of a peer that stopped answering. The address is never dialled while the peer is up
 * (gRPC connects lazily), and the probes go to a closed port on 127.0.0.1.
 */
class PeerClientTest {

  @Test
  void aDownPeerIsSkippedUntilItsBackOffHasPassed() {
    FakeTicker ticker = new FakeTicker();
    try (PeerClient peer = new PeerClient("127.0.0.1:1", ticker)) {
      assertThat(peer.tryAcquire()).isTrue();
      peer.onUnreachable(Status.UNAVAILABLE.withDescription("refused"));
      assertThat(peer.isUp()).isFalse();
      assertThat(peer.tryAcquire()).isFalse();

      // Late failures of calls made while it was up do not extend the back-off.
      peer.onUnreachable(Status.DEADLINE_EXCEEDED);
      ticker.advance(PeerClient.INITIAL_BACKOFF.multipliedBy(2));
      // The back-off has passed: this caller starts a probe but still does not wait on the peer.
      assertThat(peer.tryAcquire()).isFalse();
      assertThat(peer.tryAcquire()).isFalse();

      peer.onAnswer();
      assertThat(peer.isUp()).isTrue();
      assertThat(peer.tryAcquire()).isTrue();
    }
  }

  @Test
  void theProbeOfAClosedPortFailsAndTheBackOffGrows() throws Exception {
    FakeTicker ticker = new FakeTicker();
    try (PeerClient peer = new PeerClient("127.0.0.1:1", ticker)) {
      peer.onUnreachable(Status.UNAVAILABLE);
      ticker.advance(Duration.ofSeconds(1));
      assertThat(peer.tryAcquire()).isFalse(); // starts the probe
      org.awaitility.Awaitility.await()
          .atMost(Duration.ofSeconds(10))
          .until(
              () -> {
                // Once the probe failed, the next probe is due only after the doubled back-off.
                ticker.advance(Duration.ZERO);
                return !peer.isUp();
              });
      assertThat(peer.isUp()).isFalse();
    }
  }
}
