package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.protobuf.ByteString;
import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheException;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.GetResponse;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Issue 11, gap 4: a client that floods a node with {@code Get(load=true)} requests for distinct
 * keys and cancels each after 50 ms cannot make the node run more loads, or more threads, than its
 * limits allow: a load whose every caller has gone before it starts is skipped, loads run on a
 * bounded pool, and handlers on a fixed one. The node keeps answering others meanwhile.
 */
class CancelledLoadFloodTest {
  private static final int MAX_LOADS = 8;
  private static final int REQUESTS_PER_CONNECTION = 1_500;
  private static final int CONNECTIONS = 3;
  private static final long LOAD_MILLIS = 2_000;

  @Test
  void cancelledRequestsCannotMultiplyLoadsOrThreads() throws Exception {
    AtomicInteger loaderCalls = new AtomicInteger();
    AtomicInteger running = new AtomicInteger();
    AtomicInteger mostRunning = new AtomicInteger();
    ConcurrentHashMap<String, Boolean> loaded = new ConcurrentHashMap<>();
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    try (ShardcacheNode node =
        ShardcacheNode.builder().listen("127.0.0.1", 0).maxConcurrentLoads(MAX_LOADS).build()) {
      DistributedCache<String, String> cache =
          node.cache(
              "flood",
              CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                  .loader(
                      key -> {
                        loaderCalls.incrementAndGet();
                        mostRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
                        try {
                          if (!key.startsWith("quick:")) {
                            Thread.sleep(LOAD_MILLIS);
                          }
                          loaded.put(key, true);
                          return "v(" + key + ")";
                        } finally {
                          running.decrementAndGet();
                        }
                      })
                  .build());
      node.start();
      cache.put("served", "yes");
      int threadsBefore = threads.getThreadCount();

      List<ManagedChannel> channels = new ArrayList<>();
      List<ListenableFuture<GetResponse>> calls = new ArrayList<>();
      AtomicInteger exhausted = new AtomicInteger();
      int peakThreads = threadsBefore;
      try {
        for (int c = 0; c < CONNECTIONS; c++) {
          String[] hostPort = node.address().split(":");
          channels.add(
              Grpc.newChannelBuilderForAddress(
                      hostPort[0],
                      Integer.parseInt(hostPort[1]),
                      InsecureChannelCredentials.create())
                  .build());
        }
        for (int i = 0; i < REQUESTS_PER_CONNECTION; i++) {
          for (int c = 0; c < CONNECTIONS; c++) {
            calls.add(
                PeerServiceGrpc.newFutureStub(channels.get(c))
                    .withDeadlineAfter(50, TimeUnit.MILLISECONDS)
                    .get(
                        GetRequest.newBuilder()
                            .setCache("flood")
                            .setKey(ByteString.copyFromUtf8("k" + c + "-" + i))
                            .setLoad(true)
                            .setCaller("10.0.0.9:1")
                            .build()));
          }
          if (i % 100 == 0) {
            peakThreads = Math.max(peakThreads, threads.getThreadCount());
          }
        }
        for (ListenableFuture<GetResponse> call : calls) {
          try {
            call.get(30, TimeUnit.SECONDS);
          } catch (java.util.concurrent.ExecutionException e) {
            if (Status.fromThrowable(e.getCause()).getCode() == Status.Code.RESOURCE_EXHAUSTED) {
              exhausted.incrementAndGet();
            }
          }
        }
        // The node keeps serving others: a hit at once, and a new load once a thread is free.
        assertThat(cache.get("served")).isEqualTo("yes");
        assertThat(loadOnceAThreadIsFree(cache, "quick:after")).isEqualTo("v(quick:after)");
        peakThreads = Math.max(peakThreads, threads.getThreadCount());
        // Let every load that did start finish, then count.
        Thread.sleep(LOAD_MILLIS + 500);
      } finally {
        for (ManagedChannel channel : channels) {
          channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
      }
      int requests = REQUESTS_PER_CONNECTION * CONNECTIONS;
      System.out.printf(
          "CancelledLoadFloodTest: %d requests cancelled after 50 ms from %d"
              + " connections, %d refused RESOURCE_EXHAUSTED; loader calls %d (of which %d for the"
              + " flood), most loads at once %d (limit %d); threads %d before, peak %d%n",
          requests,
          CONNECTIONS,
          exhausted.get(),
          loaderCalls.get(),
          loaderCalls.get() - 1,
          mostRunning.get(),
          MAX_LOADS,
          threadsBefore,
          peakThreads);
      assertThat(mostRunning.get()).as("loads running at once").isLessThanOrEqualTo(MAX_LOADS);
      // Only loads that started while their callers were still there run: the first wave, at
      // most one pool's worth per load duration of the flood (which lasts a few seconds at most).
      assertThat(loaderCalls.get() - 1)
          .as("loads run for the flood of %s requests", requests)
          .isLessThanOrEqualTo(4 * MAX_LOADS);
      assertThat(peakThreads - threadsBefore)
          .as("threads added during the flood")
          .isLessThanOrEqualTo(
              MAX_LOADS + 64 + 96); // loads, handlers, and this JVM's gRPC client and Netty threads
    }
  }

  /**
   * A load of {@code key}, retried while the node refuses it as overloaded. The server learns of
   * the flood's cancellations asynchronously, on its transport threads, so for a moment after the
   * last client call has failed the abandoned loads may still hold their queue places; the node is
   * overloaded until they are gone, and then it must serve again. Bounded, so a node that never
   * frees the places fails the test.
   */
  private static String loadOnceAThreadIsFree(DistributedCache<String, String> cache, String key)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      try {
        return cache.get(key);
      } catch (ShardcacheException e) {
        if (!e.getMessage().contains("maxConcurrentLoads") || System.nanoTime() > deadline) {
          throw e;
        }
        Thread.sleep(50);
      }
    }
  }
}
