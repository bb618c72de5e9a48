package dev.shardcache;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.common.util.concurrent.ThreadFactoryBuilder;
import dev.shardcache.internal.proto.PingRequest;
import dev.shardcache.internal.proto.PingResponse;
import dev.shardcache.membership.PhiAccrualFailureDetector;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Failure detection: pings every configured peer each interval and feeds the answers to one
 * phi-accrual detector per peer; a peer whose suspicion passes the threshold leaves the ring, and
 * rejoins it when it answers again.
 *
 * <p>Pings go over each peer's control connection, never behind data calls, so a peer busy with
 * large batches or slow loads is not taken for a dead one. When a peer is suspected, the calls in
 * progress to it are cancelled: a caller waiting for a slow load there falls over now, not at its
 * deadline. This is the only place that decides a peer is gone (see {@link PeerCalls}).
 *
 * <p>A peer is assumed alive when it is first configured (its detector starts with one heartbeat),
 * so a peer that never answers is suspected after the detector's first silence period rather than
 * never. Pings do not wait for a connection (a dead peer fails at once) and reset gRPC's reconnect
 * back-off for suspected peers, so a returning peer is seen within an interval or two.
 *
 * <p>One daemon thread; pings are asynchronous. Thread-safe.
 */
final class Heartbeats implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(Heartbeats.class.getName());

  private final Supplier<Cluster> clusters;
  private final Duration interval;
  private final Supplier<PhiAccrualFailureDetector> newDetector;
  private final Map<String, PhiAccrualFailureDetector> detectors = new ConcurrentHashMap<>();
  private final ScheduledExecutorService scheduler;

  Heartbeats(
      Supplier<Cluster> clusters,
      Duration interval,
      Supplier<PhiAccrualFailureDetector> newDetector) {
    this.clusters = clusters;
    this.interval = interval;
    this.newDetector = newDetector;
    this.scheduler =
        Executors.newSingleThreadScheduledExecutor(
            new ThreadFactoryBuilder()
                .setNameFormat("shardcache-heartbeats")
                .setDaemon(true)
                .build());
    long millis = interval.toMillis();
    ScheduledFuture<?> unused = // runs until close() shuts the scheduler down
        scheduler.scheduleWithFixedDelay(this::tick, millis, millis, TimeUnit.MILLISECONDS);
  }

  private void tick() {
    Cluster cluster;
    try {
      cluster = clusters.get();
    } catch (IllegalStateException closed) {
      return;
    }
    try {
      Set<String> peers = cluster.peers();
      detectors.keySet().retainAll(peers);
      Set<String> suspected = cluster.suspectedPeers();
      long now = System.nanoTime();
      for (String peer : peers) {
        PhiAccrualFailureDetector detector =
            detectors.computeIfAbsent(
                peer,
                p -> {
                  PhiAccrualFailureDetector fresh = newDetector.get();
                  fresh.heartbeat(now);
                  return fresh;
                });
        PeerClient client = cluster.client(peer);
        if (client == null) {
          continue;
        }
        if (suspected.contains(peer) || !client.isUp()) {
          client.reconnectNow();
        }
        Futures.addCallback(
            client
                .controlStub(interval.multipliedBy(2))
                .ping(PingRequest.newBuilder().setCaller(cluster.self()).build()),
            new FutureCallback<PingResponse>() {
              @Override
              public void onSuccess(@Nullable PingResponse response) {
                detector.heartbeat(System.nanoTime());
                client.onAnswer();
                if (cluster.suspectedPeers().contains(peer)) {
                  cluster.setAlive(peer, true);
                }
              }

              @Override
              public void onFailure(Throwable t) {
                // Silence is the signal: the detector's suspicion grows until the next answer.
                // gRPC would back off reconnecting for up to two minutes; the next tick should
                // try again, so a peer that starts late or comes back is heard at once.
                client.resetControlBackoff();
              }
            },
            MoreExecutors.directExecutor());
        if (!detector.isAvailable(now)
            && !suspected.contains(peer)
            && cluster.setAlive(peer, false)) {
          client.abandonCalls(); // outside the cluster's lock: callbacks may run here
        }
      }
    } catch (RuntimeException e) {
      logger.log(Level.WARNING, "Heartbeat round failed", e);
    }
  }

  @Override
  public void close() {
    scheduler.shutdownNow();
  }
}
