package dev.shardcache;

import static dev.shardcache.TestClusters.internals;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PingRequest;
import dev.shardcache.internal.proto.PingResponse;
import dev.shardcache.internal.proto.ScanPageRequest;
import dev.shardcache.internal.proto.ScanPageResponse;
import dev.shardcache.testing.TestCluster;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.TreeMap;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Cluster-wide iteration over real gRPC on 127.0.0.1: a scan through any member sees every live
 * entry of the cluster once; pages stay within the caller's bound and all arrive; a slow consumer
 * makes no member work ahead; a member that dies mid-scan is reported, never skipped; closing a
 * scan early asks nothing more of anyone.
 */
class ScanClusterTest {
  private static final String CACHE = "scanned";
  private static final int KIB = 1024;
  private static final int CALLER_BATCH_BYTES = 16 * KIB;

  private TestCluster cluster;

  @AfterEach
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void aScanThroughAnyMemberSeesEveryLiveEntryOnceWithItsValue() {
    cluster = trio(2, false);
    Map<String, String> expected = new TreeMap<>();
    for (int i = 0; i < 3; i++) {
      Map<String, String> batch = new TreeMap<>();
      for (int k = i; k < 600; k += 3) {
        batch.put("key-" + k, "value-of-key-" + k);
      }
      cluster.cache(i).putAll(batch);
      expected.putAll(batch);
    }
    List<String> removed = new ArrayList<>();
    for (int k = 0; k < 600; k += 10) {
      removed.add("key-" + k);
      expected.remove("key-" + k);
    }
    cluster.cache(1).invalidateAll(removed);
    cluster.cache(2).put("key-1", "written again");
    expected.put("key-1", "written again");
    cluster.awaitSettled();

    for (int i = 0; i < 3; i++) {
      List<Map.Entry<String, String>> seen = scanAll(cluster.cache(i));
      assertThat(seen).as("entries seen through node %s, duplicates included", i).hasSize(540);
      assertThat(asMap(seen)).as("entries seen through node %s", i).isEqualTo(expected);
    }
  }

  /**
   * The caller's {@code maxBatchBytes} (16 KiB) bounds the pages of members whose own bound is 4
   * MiB: each answer stays within it, so a member's 200 KiB of entries arrive in many pages, every
   * one of them.
   */
  @Test
  void pagesStayWithinTheCallersBoundAndAllArrive() {
    cluster = trio(1, false);
    Map<String, String> expected = writeLargeValues(150, 4 * KIB);

    List<Map.Entry<String, String>> seen = scanAll(cluster.cache(0));

    assertThat(seen).hasSize(expected.size());
    assertThat(asMap(seen)).isEqualTo(expected);
    long taken = internals(cluster, 0).scanPagesTaken();
    long served = internals(cluster, 1).scanPagesServed() + internals(cluster, 2).scanPagesServed();
    long minimum = 150L * 4 * KIB / CALLER_BATCH_BYTES;
    System.out.printf(
        "ScanClusterTest: 150 values of 4 KiB scanned through node 0 (maxBatchBytes 16 KiB) in %d"
            + " pages, %d of them served by the other two members (their own bound: 4 MiB)%n",
        taken, served);
    assertThat(taken).as("pages taken in by node 0").isGreaterThanOrEqualTo(minimum);

    // Each answer a member builds for a caller asking 16 KiB is at most 16 KiB.
    DefaultDistributedCache<String, String> member = internals(cluster, 1);
    ScanPageRequest.Builder request =
        ScanPageRequest.newBuilder().setCache(CACHE).setMaxAnswerBytes(CALLER_BATCH_BYTES);
    int pages = 0;
    while (true) {
      ScanPageResponse page = member.serveScanPage(request.build(), () -> false);
      pages++;
      assertThat(page.getSerializedSize()).isLessThanOrEqualTo(CALLER_BATCH_BYTES);
      if (!page.hasNextAfterHash()) {
        break;
      }
      request.setAfterHash(page.getNextAfterHash());
    }
    assertThat(pages).as("pages of node 1 alone").isGreaterThan(2);
  }

  /**
   * A consumer that stops reading leaves every member idle: the pages members served never exceed
   * those the consumer took in from them plus the one asked for ahead.
   */
  @Test
  void aSlowConsumerMakesNoMemberWorkAhead() {
    cluster = trio(1, false);
    writeLargeValues(300, 4 * KIB);
    String self = cluster.node(0).address();

    try (CacheScan<String, String> scan = cluster.cache(0).scan()) {
      long localPages = -1;
      int remoteEntries = 0;
      while (remoteEntries < 10) {
        Map.Entry<String, String> entry = scan.next();
        if (!cluster.cache(0).ownerOf(entry.getKey()).equals(self)) {
          if (remoteEntries++ == 0) {
            localPages = internals(cluster, 0).scanPagesTaken() - 1;
          }
        }
      }
      long local = localPages;
      long remoteTaken = internals(cluster, 0).scanPagesTaken() - local;
      // Given time to run ahead, no member does.
      await()
          .during(Duration.ofMillis(300))
          .atMost(Duration.ofSeconds(2))
          .until(() -> servedByPeers() <= remoteTaken + 1);
      long servedWhilePaused = servedByPeers();

      int rest = 0;
      while (scan.hasNext()) {
        scan.next();
        rest++;
      }
      System.out.printf(
          "ScanClusterTest: consumer paused after %d remote entries (%d remote pages taken):"
              + " members had served %d pages; the whole scan took %d pages from them%n",
          remoteEntries, remoteTaken, servedWhilePaused, servedByPeers());
      assertThat(10 + rest).isLessThan(300);
      assertThat(servedByPeers()).isGreaterThan(servedWhilePaused + 10);
    }
  }

  /**
   * A member stopped while the scan reads its pages: the scan throws {@link
   * ScanIncompleteException} naming it and counting what was delivered, and keeps throwing it. Once
   * the member has left every ring, a new scan sees every entry again (rf=2: nothing was lost).
   */
  @Test
  void aMemberStoppedMidScanIsReportedNotSkipped() {
    cluster = trio(2, false);
    Map<String, String> expected = writeLargeValues(150, 4 * KIB);
    cluster.awaitSettled();
    List<String> others = new ArrayList<>(cluster.addresses());
    others.remove(cluster.node(0).address());
    String last = others.stream().sorted().reduce((a, b) -> b).orElseThrow();

    CacheScan<String, String> scan = cluster.cache(0).scan();
    long delivered = 0;
    while (true) {
      Map.Entry<String, String> entry = scan.next();
      delivered++;
      if (cluster.cache(0).ownerOf(entry.getKey()).equals(last)) {
        break; // the first entry of the member scanned last: its other pages are still to come
      }
    }
    cluster.stop(cluster.indexOf(last));

    long deliveredBeforeFailure = delivered;
    ScanIncompleteException failure = null;
    try {
      while (scan.hasNext()) {
        scan.next();
        delivered++;
      }
    } catch (ScanIncompleteException e) {
      failure = e;
    }
    System.out.printf(
        "ScanClusterTest: member %s stopped after its first entry (%d delivered); the scan failed"
            + " with: %s%n",
        last, deliveredBeforeFailure, failure == null ? "nothing" : failure.getMessage());
    assertThat(failure).as("the scan's failure").isNotNull();
    assertThat(failure.member()).isEqualTo(last);
    assertThat(failure.entriesDelivered()).isEqualTo(delivered);
    assertThat(delivered).isLessThan(expected.size());
    assertThat(failure).hasMessageContaining(last).hasMessageContaining("scan again");
    ScanIncompleteException first = failure;
    assertThatThrownBy(scan::hasNext).isSameAs(first);
    assertThatThrownBy(scan::next).isSameAs(first);

    await()
        .atMost(Duration.ofSeconds(20))
        .ignoreExceptions()
        .untilAsserted(
            () -> {
              List<Map.Entry<String, String>> again = scanAll(cluster.cache(0));
              assertThat(again).hasSize(expected.size());
              assertThat(asMap(again)).isEqualTo(expected);
            });
  }

  /** A member cut off by the network before the scan reaches it fails the scan too. */
  @Test
  void aMemberCutOffBeforeItsTurnIsReported() {
    cluster = trio(2, true);
    writeLargeValues(60, KIB);
    String cut = cluster.node(2).address();
    cluster.proxy(2).cut();

    assertThatThrownBy(() -> scanAll(cluster.cache(0)))
        .isInstanceOfSatisfying(
            ScanIncompleteException.class, e -> assertThat(e.member()).isEqualTo(cut))
        .hasMessageContaining("could not be reached");
  }

  /**
   * A member of an earlier version, which does not serve {@code ScanPage}, fails the scan with a
   * message that says to upgrade every member, rather than being skipped.
   */
  @Test
  void aMemberWithoutScanPagesIsReportedWithWhatToDo() throws IOException {
    Server older =
        Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
            .addService(
                new PeerServiceGrpc.PeerServiceImplBase() {
                  @Override
                  public void ping(PingRequest request, StreamObserver<PingResponse> response) {
                    response.onNext(PingResponse.getDefaultInstance());
                    response.onCompleted();
                  }
                })
            .build()
            .start();
    try {
      cluster =
          TestCluster.builder()
              .size(1)
              .cache(CACHE, CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build())
              .build();
      String olderAddress = "127.0.0.1:" + older.getPort();
      cluster.node(0).setPeers(List.of(olderAddress));

      assertThatThrownBy(() -> scanAll(cluster.cache(0)))
          .isInstanceOfSatisfying(
              ScanIncompleteException.class, e -> assertThat(e.member()).isEqualTo(olderAddress))
          .hasMessageContaining("upgrade every member");
    } finally {
      older.shutdownNow();
    }
  }

  /**
   * Closing a scan half way: nothing more is delivered or asked of any member, and closing again is
   * harmless.
   */
  @Test
  void closingAScanEarlyAsksNothingMore() {
    cluster = trio(1, false);
    writeLargeValues(300, 4 * KIB);
    String self = cluster.node(0).address();
    CacheScan<String, String> scan = cluster.cache(0).scan();
    while (cluster.cache(0).ownerOf(scan.next().getKey()).equals(self)) {
      // read this node's own entries, up to the first of a peer (a call for the next is on its way)
    }

    scan.close();

    assertThat(scan.hasNext()).isFalse();
    assertThatThrownBy(scan::next).isInstanceOf(NoSuchElementException.class);
    scan.close();
    // One page of a peer was taken and at most one more asked for; nothing after the close.
    await()
        .during(Duration.ofMillis(300))
        .atMost(Duration.ofSeconds(2))
        .until(() -> servedByPeers() <= 2);
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * Three members with a cache of replication factor {@code rf}; node 0's {@code maxBatchBytes} is
   * 16 KiB, the others keep 4 MiB. Heartbeats every 100 ms; anti-entropy only when asked.
   */
  private static TestCluster trio(int rf, boolean proxied) {
    TestCluster.Builder builder =
        TestCluster.builder()
            .size(3)
            .nodeSettings(
                (index, node) -> {
                  node.heartbeatInterval(Duration.ofMillis(100))
                      .antiEntropyInterval(Duration.ofHours(1));
                  return index == 0 ? node.maxBatchBytes(CALLER_BATCH_BYTES) : node;
                })
            .cache(
                CACHE,
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                    .replicationFactor(rf)
                    .remoteTimeout(Duration.ofSeconds(2))
                    .build());
    if (proxied) {
      builder.behindProxy(0, 1, 2);
    }
    TestCluster built = builder.build();
    built.awaitSettled();
    return built;
  }

  /** Writes {@code count} keys with values of {@code bytes} through the three members in turn. */
  private Map<String, String> writeLargeValues(int count, int bytes) {
    Map<String, String> written = new TreeMap<>();
    String tail = "v".repeat(bytes);
    IntStream.range(0, count)
        .forEach(
            k -> {
              String key = "large-" + k;
              cluster.cache(k % 3).put(key, key + tail);
              written.put(key, key + tail);
            });
    return written;
  }

  private long servedByPeers() {
    return internals(cluster, 1).scanPagesServed() + internals(cluster, 2).scanPagesServed();
  }

  private static List<Map.Entry<String, String>> scanAll(DistributedCache<String, String> cache) {
    List<Map.Entry<String, String>> seen = new ArrayList<>();
    try (CacheScan<String, String> scan = cache.scan()) {
      scan.forEachRemaining(seen::add);
    }
    return seen;
  }

  private static Map<String, String> asMap(List<Map.Entry<String, String>> entries) {
    Map<String, String> map = new LinkedHashMap<>();
    entries.forEach(entry -> map.put(entry.getKey(), entry.getValue()));
    return new TreeMap<>(map);
  }
}
