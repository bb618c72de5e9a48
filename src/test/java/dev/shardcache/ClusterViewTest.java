package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.ring.HashRing;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The node's view of its cluster: configured and suspected members, the ring of the live ones and
 * its epoch, the rings before it, and the lifecycle of the peers' clients. Clients run over
 * in-process channels (gRPC connects lazily, and nothing here makes a call), made by the factory
 * seam of {@link Cluster}, so a test can see which clients were made and which were closed.
 */
class ClusterViewTest {
  private static final String SELF = "self:7000";
  private static final String A = "a:7001";
  private static final String B = "b:7002";
  private static final String C = "c:7003";

  private final FakeTicker ticker = new FakeTicker();

  /** Every client the cluster asked for, with its two channels, in order. */
  private final List<Made> made = new CopyOnWriteArrayList<>();

  private final List<HashRing[]> ringChanges = new CopyOnWriteArrayList<>();
  private final List<Cluster> clusters = new ArrayList<>();

  private record Made(
      String address, PeerClient client, ManagedChannel data, ManagedChannel control) {
    boolean closed() {
      return data.isShutdown() && control.isShutdown();
    }
  }

  @AfterEach
  void closeAll() throws InterruptedException {
    clusters.forEach(Cluster::close);
    for (Made m : made) {
      m.client().close();
      m.data().awaitTermination(5, TimeUnit.SECONDS);
      m.control().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void setPeersCanonicalizesAddressesAndLeavesThisNodeOut() {
    Cluster cluster = cluster(List.of());

    cluster.setPeers(List.of(" " + B + " ", "[::1]:7070", SELF, B, "  " + SELF));

    assertThat(cluster.peers()).containsExactly("[::1]:7070", B);
    assertThat(made).extracting(Made::address).containsExactlyInAnyOrder("[::1]:7070", B);
    assertThat(cluster.ring().nodes()).containsExactly("[::1]:7070", B, SELF);
    assertThat(cluster.client(B)).isSameAs(made(B).client());
    assertThat(cluster.client(SELF)).isNull();
  }

  @ParameterizedTest
  @ValueSource(strings = {"c", "c:0", "c:65536", ":7003", "c:port"})
  void aMalformedAddressChangesNothing(String malformed) {
    Cluster cluster = cluster(List.of(A));
    HashRing ring = cluster.ring();
    int epoch = cluster.ringEpoch();

    assertThatThrownBy(() -> cluster.setPeers(List.of(B, malformed)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'" + malformed + "'");

    assertThat(cluster.peers()).containsExactly(A);
    assertThat(cluster.ring()).isSameAs(ring);
    assertThat(cluster.ringEpoch()).isEqualTo(epoch);
    assertThat(made).extracting(Made::address).containsExactly(A); // no client for B either
  }

  @Test
  void theRingHoldsThisNodeAndTheConfiguredMembersNotSuspected() {
    Cluster cluster = cluster(List.of(A, B));
    assertThat(cluster.ring().nodes()).containsExactly(A, B, SELF);

    assertThat(cluster.setAlive(A, false)).isTrue();

    assertThat(cluster.ring().nodes()).containsExactly(B, SELF);
    assertThat(cluster.suspectedPeers()).containsExactly(A);
    assertThat(cluster.reachablePeers()).containsExactly(B);
    assertThat(cluster.peers()).containsExactly(A, B); // still configured
    assertThat(cluster.client(A)).isSameAs(made(A).client()); // keeps its client (and hints)
    assertThat(made(A).closed()).isFalse();

    assertThat(cluster.setAlive(A, true)).isTrue();

    assertThat(cluster.ring().nodes()).containsExactly(A, B, SELF);
    assertThat(cluster.suspectedPeers()).isEmpty();
  }

  @Test
  void aPeerMarkedDownIsNotReachableButStaysInTheRing() {
    Cluster cluster = cluster(List.of(A, B));

    cluster.client(A).onUnreachable(Status.UNAVAILABLE);

    assertThat(cluster.reachablePeers()).containsExactly(B);
    assertThat(cluster.ring().nodes()).containsExactly(A, B, SELF); // only the detector removes
  }

  @Test
  void theEpochGrowsWithEveryChangeOfTheRingAndOnlyThen() {
    Cluster cluster = cluster(List.of());
    assertThat(cluster.ringEpoch()).isZero();

    cluster.setPeers(List.of(A, B));
    assertThat(cluster.ringEpoch()).isEqualTo(1);
    cluster.setPeers(List.of(B, " " + A)); // the same members
    assertThat(cluster.ringEpoch()).isEqualTo(1);

    assertThat(cluster.setAlive(A, false)).isTrue();
    assertThat(cluster.ringEpoch()).isEqualTo(2);
    assertThat(cluster.setAlive(A, false)).isFalse(); // already suspected
    assertThat(cluster.setAlive(B, true)).isFalse(); // not suspected
    assertThat(cluster.setAlive(C, false)).isFalse(); // not configured
    assertThat(cluster.setAlive(SELF, false)).isFalse(); // this node is always in its ring
    assertThat(cluster.ringEpoch()).isEqualTo(2);

    // Removing a suspected member changes the configuration but not the ring.
    cluster.setPeers(List.of(B));
    assertThat(cluster.ring().nodes()).containsExactly(B, SELF);
    assertThat(cluster.ringEpoch()).isEqualTo(2);

    cluster.setPeers(List.of(B, C));
    assertThat(cluster.ringEpoch()).isEqualTo(3);

    // One callback per change, with the ring before and after it.
    assertThat(ringChanges).hasSize(3);
    assertThat(ringChanges.get(0)[0].nodes()).containsExactly(SELF);
    assertThat(ringChanges.get(0)[1].nodes()).containsExactly(A, B, SELF);
    assertThat(ringChanges.get(1)[1].nodes()).containsExactly(B, SELF);
    assertThat(ringChanges.get(2)[0]).isEqualTo(ringChanges.get(1)[1]);
    assertThat(ringChanges.get(2)[1]).isSameAs(cluster.ring());
  }

  @Test
  void ringHistoryKeepsTheFourNewestRingsNewestFirst() {
    Cluster cluster = cluster(List.of());
    List<HashRing> rings = new ArrayList<>();
    rings.add(cluster.ring());
    List<String> members = new ArrayList<>();
    for (int i = 1; i <= 6; i++) {
      members.add("m" + i + ":700" + i);
      cluster.setPeers(members);
      rings.add(cluster.ring());
    }

    assertThat(Cluster.RING_HISTORY).isEqualTo(4);
    assertThat(cluster.ringHistory())
        .containsExactly(rings.get(5), rings.get(4), rings.get(3), rings.get(2));
    assertThat(cluster.previousRing()).isSameAs(rings.get(5));
    // Recent rings: the history, then the current ring without this node (where keys were before
    // it joined).
    assertThat(cluster.recentRings()).hasSize(5);
    assertThat(cluster.recentRings().subList(0, 4)).isEqualTo(cluster.ringHistory());
    assertThat(cluster.recentRings().get(4).nodes())
        .containsExactlyElementsOf(
            cluster.ring().nodes().stream().filter(member -> !member.equals(SELF)).toList());
  }

  @Test
  void withoutAChangeThereAreNoEarlierRings() {
    Cluster cluster = cluster(List.of());

    assertThat(cluster.ringHistory()).isEmpty();
    assertThat(cluster.recentRings()).isEmpty();
    assertThat(cluster.previousRing()).isSameAs(cluster.ring());

    cluster.setPeers(List.of()); // no change either
    cluster.setAlive(A, false);
    assertThat(cluster.recentRings()).isEmpty();

    HashRing before = cluster.ring();
    cluster.setPeers(List.of(A));
    assertThat(cluster.previousRing()).isSameAs(before);
    assertThat(cluster.recentRings()).hasSize(2);
    assertThat(cluster.recentRings().get(0)).isSameAs(before);
    assertThat(cluster.recentRings().get(1).nodes()).containsExactly(A);
  }

  @Test
  void aClusterStartedWithPeersHasChangedOnce() {
    Cluster cluster = cluster(List.of(A));

    assertThat(cluster.ringEpoch()).isEqualTo(1);
    assertThat(cluster.previousRing().nodes()).containsExactly(SELF);
  }

  @Test
  void removedPeersLoseTheirClientsQueuesAndSuspicion() {
    Cluster cluster = cluster(List.of(A, B));
    PeerClient clientOfB = cluster.client(B);
    // A is down and never probed (the ticker stands still), so its hint stays queued.
    cluster.client(A).onUnreachable(Status.UNAVAILABLE);
    cluster
        .replicator()
        .enqueue(
            A,
            "users",
            VersionedEntry.newBuilder()
                .setKey(ByteString.copyFromUtf8("k"))
                .setTimestamp(1)
                .build());
    cluster.setAlive(A, false);
    assertThat(cluster.replicator().backlog()).isEqualTo(1);

    cluster.setPeers(List.of(B));

    assertThat(cluster.client(A)).isNull(); // never routed to again
    // Kept open for fetches while keys may still be on their way from it; closed with the cluster.
    assertThat(cluster.recentClient(A)).isSameAs(made(A).client());
    assertThat(made(A).closed()).isFalse();
    assertThat(cluster.replicator().backlog()).isZero();
    assertThat(cluster.replicator().dropped()).isEqualTo(1);
    assertThat(cluster.suspectedPeers()).isEmpty();
    assertThat(cluster.client(B)).isSameAs(clientOfB);
    assertThat(made(B).closed()).isFalse();

    // Re-added within the window, A gets its kept client back: not suspected, back in the ring.
    cluster.setPeers(List.of(A, B));
    assertThat(made).extracting(Made::address).containsExactly(A, B);
    assertThat(cluster.client(A)).isSameAs(made.get(0).client());
    assertThat(cluster.ring().nodes()).containsExactly(A, B, SELF);
    cluster.close();
    assertThat(made(A).closed()).isTrue();
  }

  @Test
  void aHintForAMemberThatJustLeftLeavesNoQueueBehind() {
    Cluster cluster = cluster(List.of(A, B));
    VersionedEntry hint =
        VersionedEntry.newBuilder().setKey(ByteString.copyFromUtf8("k")).setTimestamp(1).build();
    cluster.client(A).onUnreachable(Status.UNAVAILABLE); // keeps the hint queued
    cluster.replicator().enqueue(A, "users", hint);
    assertThat(cluster.replicator().queuedPeers()).containsExactly(A);

    cluster.setPeers(List.of(B));
    // A write routed under the ring before the change queues its hint after it.
    cluster.replicator().enqueue(A, "users", hint);
    cluster.replicator().enqueueNearInvalidation(A, "users", hint.getKey());
    cluster.replicator().enqueueClear(A, "users", 5);

    assertThat(cluster.replicator().queuedPeers()).isEmpty();
    assertThat(cluster.replicator().backlog()).isZero();
    assertThat(cluster.replicator().queuedBytes()).isZero();
    assertThat(cluster.replicator().dropped()).isEqualTo(3);
  }

  @Test
  void closeClosesEveryClientAndRefusesNewMembers() {
    Cluster cluster = cluster(List.of(A, B));

    cluster.close();

    assertThat(made).allSatisfy(m -> assertThat(m.closed()).isTrue());
    assertThatThrownBy(() -> cluster.setPeers(List.of(C)))
        .isInstanceOf(IllegalStateException.class);
    assertThat(cluster.setAlive(A, false)).isFalse();
  }

  @Test
  void aLeavingNodeTakesItselfOutOfItsRingAndKeepsTheOldRingAsRecent() {
    Cluster cluster = cluster(List.of(A, B));
    HashRing withSelf = cluster.ring();
    int epoch = cluster.ringEpoch();

    assertThat(cluster.leave()).isTrue();

    assertThat(cluster.ring().nodes()).containsExactly(A, B);
    assertThat(cluster.ringEpoch()).isEqualTo(epoch + 1);
    assertThat(cluster.previousRing()).isEqualTo(withSelf);
    assertThat(cluster.recentRings()).contains(withSelf);
    assertThat(cluster.leave()).as("leaving twice changes nothing").isFalse();

    cluster.setPeers(List.of(A, B, C)); // a discovery update during the leave
    assertThat(cluster.ring().nodes()).containsExactly(A, B, C);
  }

  @Test
  void aNodeWithNobodyToTakeItsKeysStaysItsOwnHolderWhenLeaving() {
    Cluster alone = cluster(List.of());
    Cluster everyPeerSuspected = cluster(List.of(A));
    everyPeerSuspected.setAlive(A, false);

    assertThat(alone.leave()).isFalse();
    assertThat(everyPeerSuspected.leave()).isFalse();

    assertThat(alone.ring().nodes()).containsExactly(SELF);
    assertThat(everyPeerSuspected.ring().nodes()).containsExactly(SELF);
  }

  // ---------------------------------------------------------------------------------------------

  private Cluster cluster(Collection<String> peers) {
    Cluster cluster =
        new Cluster(
            SELF,
            peers,
            16,
            Duration.ofSeconds(1),
            ReplicationLimits.DEFAULT,
            (previous, next) -> ringChanges.add(new HashRing[] {previous, next}),
            this::newClient,
            ShardcacheNode.DEFAULT_MAX_CLOCK_SKEW);
    clusters.add(cluster);
    return cluster;
  }

  private PeerClient newClient(String address) {
    ManagedChannel data = InProcessChannelBuilder.forName(address).directExecutor().build();
    ManagedChannel control = InProcessChannelBuilder.forName(address).directExecutor().build();
    PeerClient client = new PeerClient(address, ticker, data, control);
    made.add(new Made(address, client, data, control));
    return client;
  }

  /** The first client made for {@code address}. */
  private Made made(String address) {
    return made.stream().filter(m -> m.address().equals(address)).findFirst().orElseThrow();
  }
}
