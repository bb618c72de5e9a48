package dev.shardcache.security;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PingRequest;
import dev.shardcache.internal.proto.PutRequest;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.netty.util.internal.PlatformDependent;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A flood against one node (issue 5): for {@value #FLOOD_SECONDS} seconds, {@value #THREADS}
 * threads send messages just over the node's 1 MiB {@code maxInboundMessageBytes}; in the second
 * half another {@value #THREADS} keep many more reads of a slow-loading cache (200 ms a load) in
 * flight than its {@code maxConcurrentCallsPerPeer} of {@value #MAX_CALLS} allows. All go over
 * {@value #CONNECTIONS} connections, so the per-connection stream limit does not hold them back on
 * the client and the node's per-host limit is what refuses them.
 *
 * <p>What must hold: every oversized message is answered {@code RESOURCE_EXHAUSTED}; calls past the
 * limit are answered {@code RESOURCE_EXHAUSTED} and the loader never runs more than {@value
 * #MAX_CALLS} loads at once; no call hangs or gets another status; the heap used after a full GC
 * stays within {@value #HEAP_BOUND_MIB} MiB of what it was before the flood (sampled every 500 ms,
 * with a System.gc() before each sample; the test JVM runs with -Xmx1g), and netty's direct
 * (off-heap) buffers, shared by the test's clients and the node, stay under {@value
 * #DIRECT_BOUND_MIB} MiB; and afterwards the node serves normal requests at once, including {@value
 * #MAX_CALLS} concurrent slow reads (so no in-flight counter leaked). A summary line with the
 * counts and heap figures is printed.
 */
class FloodTest {

  static final int MAX_MESSAGE = 1024 * 1024;
  static final int MAX_CALLS = 8;
  static final int THREADS = 64;
  static final int CONNECTIONS = 16;
  static final int FLOOD_SECONDS = 6;
  static final long LOAD_MILLIS = 200;
  static final long HEAP_BOUND_MIB = 64;
  static final long DIRECT_BOUND_MIB = 512;

  private ShardcacheNode node;
  private final List<ManagedChannel> channels = new ArrayList<>();
  private ExecutorService pool;

  private final AtomicInteger loadsRunning = new AtomicInteger();
  private final AtomicInteger peakLoads = new AtomicInteger();

  @AfterEach
  void tearDown() throws InterruptedException {
    if (pool != null) {
      pool.shutdownNow();
      pool.awaitTermination(10, TimeUnit.SECONDS);
    }
    channels.forEach(ManagedChannel::shutdownNow);
    if (node != null) {
      node.close();
    }
  }

  @Test
  void oversizedMessagesAndCallsPastTheLimitAreRefusedTheHeapStaysBoundedAndTheNodeRecovers()
      throws Exception {
    node =
        ShardcacheNode.builder()
            .listen("127.0.0.1", 0)
            .maxInboundMessageBytes(MAX_MESSAGE)
            .maxConcurrentCallsPerPeer(MAX_CALLS)
            .build();
    DistributedCache<String, String> slow =
        node.cache(
            "slow",
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .maximumSize(1_000)
                .loader(this::slowLoad)
                .build());
    DistributedCache<String, byte[]> data =
        node.cache(
            "data",
            CacheConfig.builder(Codecs.utf8(), Codecs.bytes())
                .maxValueBytes(2 * MAX_MESSAGE)
                .build());
    node.start();
    byte[] kept = new byte[1000];
    data.put("kept", kept);
    for (int i = 0; i < CONNECTIONS; i++) {
      channels.add(
          Grpc.newChannelBuilderForAddress(
                  "127.0.0.1", PeerChannels.port(node), InsecureChannelCredentials.create())
              .build());
    }
    // Warm every connection up, so the flood measures the node, not connection set-up.
    for (ManagedChannel channel : channels) {
      stub(channel).ping(PingRequest.getDefaultInstance());
    }

    // A Put whose message is just over the limit: the value alone is MAX_MESSAGE bytes.
    PutRequest oversized =
        PutRequest.newBuilder()
            .setCache("data")
            .setKey(ByteString.copyFromUtf8("big"))
            .setValue(ByteString.copyFrom(new byte[MAX_MESSAGE]))
            .build();
    assertThat(oversized.getSerializedSize()).isBetween(MAX_MESSAGE + 1, MAX_MESSAGE + 64);

    HeapSampler heap = new HeapSampler();
    long baseline = heap.usedAfterGc();
    ConcurrentMap<String, LongAdder> outcomes = new ConcurrentHashMap<>();
    pool = Executors.newFixedThreadPool(2 * THREADS + 1);
    Future<?> sampling = pool.submit(heap);
    long started = System.nanoTime();
    // First the oversized messages alone, then both floods together.
    flood(outcomes, oversized, true, false, FLOOD_SECONDS / 2);
    flood(outcomes, oversized, true, true, FLOOD_SECONDS - FLOOD_SECONDS / 2);
    long floodMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);

    // Recovery: at once, normal requests succeed, including MAX_CALLS slow reads at the same time.
    long recoveryStarted = System.nanoTime();
    PeerServiceGrpc.PeerServiceBlockingStub stub = stub(channels.get(0));
    assertThat(stub.ping(PingRequest.getDefaultInstance()).getAddress()).isEqualTo(node.address());
    ByteString nearlyFull = ByteString.copyFrom(new byte[MAX_MESSAGE - 1024]);
    stub.put(
        PutRequest.newBuilder()
            .setCache("data")
            .setKey(ByteString.copyFromUtf8("after"))
            .setValue(nearlyFull)
            .build());
    assertThat(data.get("after")).hasSize(MAX_MESSAGE - 1024);
    assertThat(data.get("kept")).isEqualTo(kept);
    assertThat(data.get("big")).as("no oversized put was applied").isNull();
    List<Future<String>> reads = new ArrayList<>();
    for (int i = 0; i < MAX_CALLS; i++) {
      PeerServiceGrpc.PeerServiceBlockingStub over = stub(channels.get(i % CONNECTIONS));
      String key = "after-" + i;
      reads.add(
          pool.submit(
              () ->
                  over.get(
                          GetRequest.newBuilder()
                              .setCache("slow")
                              .setLoad(true)
                              .setKey(ByteString.copyFromUtf8(key))
                              .build())
                      .getValue()
                      .toStringUtf8()));
    }
    for (int i = 0; i < MAX_CALLS; i++) {
      assertThat(reads.get(i).get(10, TimeUnit.SECONDS)).isEqualTo("loaded:after-" + i);
    }
    assertThat(slow.get("after-0")).isEqualTo("loaded:after-0");
    long recoveryMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - recoveryStarted);

    heap.stop();
    sampling.get(10, TimeUnit.SECONDS);
    long peakAfterGc = heap.peakAfterGc();
    long peakRaw = heap.peakRaw();
    long peakDirect = heap.peakDirect();

    Map<String, Long> counts = new TreeMap<>();
    outcomes.forEach((outcome, count) -> counts.put(outcome, count.sum()));
    long oversizedRefused = counts.getOrDefault("oversized RESOURCE_EXHAUSTED (message size)", 0L);
    long oversizedLimited =
        counts.getOrDefault("oversized RESOURCE_EXHAUSTED (concurrent calls)", 0L);
    long readsRefused = counts.getOrDefault("slow read RESOURCE_EXHAUSTED (concurrent calls)", 0L);
    long readsServed = counts.getOrDefault("slow read OK", 0L);
    System.out.printf(
        "flood: %d s, %d threads of oversized puts (plus %d of slow reads for the second half)"
            + " over %d connections: %d oversized puts refused"
            + " RESOURCE_EXHAUSTED (%d for size, %d for the call limit); %d slow reads past the limit of %d"
            + " refused RESOURCE_EXHAUSTED, %d served; peak concurrent loads %d; heap used after GC %d MiB"
            + " before, peak %d MiB during (+%d MiB, bound %d MiB), peak without GC %d MiB; netty direct"
            + " memory peak %d MiB (client and node);"
            + " recovered (ping, 1 MiB put, %d concurrent slow reads) in %d ms; all outcomes %s%n",
        floodMillis / 1000,
        THREADS,
        THREADS,
        CONNECTIONS,
        oversizedRefused + oversizedLimited,
        oversizedRefused,
        oversizedLimited,
        readsRefused,
        MAX_CALLS,
        readsServed,
        peakLoads.get(),
        mib(baseline),
        mib(peakAfterGc),
        mib(peakAfterGc - baseline),
        HEAP_BOUND_MIB,
        mib(peakRaw),
        mib(peakDirect),
        MAX_CALLS,
        recoveryMillis,
        counts);

    assertThat(counts.keySet())
        .as("every outcome of the flood")
        .allMatch(
            outcome ->
                outcome.startsWith("oversized RESOURCE_EXHAUSTED")
                    || outcome.equals("slow read OK")
                    || outcome.equals("slow read RESOURCE_EXHAUSTED (concurrent calls)"));
    assertThat(oversizedRefused).as("oversized messages refused for their size").isGreaterThan(100);
    assertThat(readsRefused).as("reads refused past the concurrent-call limit").isGreaterThan(100);
    assertThat(readsServed).as("reads served within the limit").isPositive();
    assertThat(peakLoads.get()).as("loads running at once").isBetween(1, MAX_CALLS);
    assertThat(peakAfterGc - baseline)
        .as("heap growth after GC, bytes")
        .isLessThan(HEAP_BOUND_MIB << 20);
    assertThat(peakDirect).as("netty direct memory, bytes").isLessThan(DIRECT_BOUND_MIB << 20);
  }

  private final AtomicLong keys = new AtomicLong();

  /** Runs THREADS senders of {@code oversized} and/or THREADS slow readers for {@code seconds}. */
  private void flood(
      ConcurrentMap<String, LongAdder> outcomes,
      PutRequest oversized,
      boolean puts,
      boolean reads,
      int seconds)
      throws Exception {
    AtomicBoolean flooding = new AtomicBoolean(true);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<?>> workers = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      PeerServiceGrpc.PeerServiceBlockingStub over =
          PeerServiceGrpc.newBlockingStub(channels.get(t % CONNECTIONS));
      if (puts) {
        workers.add(
            pool.submit(
                () -> {
                  start.await();
                  while (flooding.get()) {
                    record(
                        outcomes,
                        "oversized",
                        () -> over.withDeadlineAfter(10, TimeUnit.SECONDS).put(oversized));
                  }
                  return null;
                }));
      }
      if (reads) {
        workers.add(
            pool.submit(
                () -> {
                  start.await();
                  while (flooding.get()) {
                    GetRequest read =
                        GetRequest.newBuilder()
                            .setCache("slow")
                            .setLoad(true)
                            .setKey(ByteString.copyFromUtf8("key-" + keys.incrementAndGet()))
                            .build();
                    record(
                        outcomes,
                        "slow read",
                        () -> over.withDeadlineAfter(10, TimeUnit.SECONDS).get(read));
                  }
                  return null;
                }));
      }
    }
    start.countDown();
    Thread.sleep(TimeUnit.SECONDS.toMillis(seconds));
    flooding.set(false);
    for (Future<?> worker : workers) {
      worker.get(30, TimeUnit.SECONDS);
    }
  }

  private String slowLoad(String key) throws InterruptedException {
    int running = loadsRunning.incrementAndGet();
    peakLoads.accumulateAndGet(running, Math::max);
    try {
      Thread.sleep(LOAD_MILLIS);
      return "loaded:" + key;
    } finally {
      loadsRunning.decrementAndGet();
    }
  }

  private static void record(
      ConcurrentMap<String, LongAdder> outcomes, String what, Runnable call) {
    String outcome;
    try {
      call.run();
      outcome = what + " OK";
    } catch (StatusRuntimeException e) {
      Status status = e.getStatus();
      String description = String.valueOf(status.getDescription());
      String reason = "";
      if (status.getCode() == Status.Code.RESOURCE_EXHAUSTED) {
        reason =
            description.contains("calls in progress")
                ? " (concurrent calls)"
                : description.toLowerCase(java.util.Locale.ROOT).contains("exceeds maximum")
                    ? " (message size)"
                    : " (" + description + ")";
      } else if (status.getCode() != Status.Code.OK) {
        reason = " (" + description + ")";
      }
      outcome = what + " " + status.getCode() + reason;
    }
    outcomes.computeIfAbsent(outcome, o -> new LongAdder()).increment();
  }

  private static PeerServiceGrpc.PeerServiceBlockingStub stub(ManagedChannel channel) {
    return PeerServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  private static long mib(long bytes) {
    return bytes >> 20;
  }

  /** Samples the used heap every 50 ms, and after a full GC every 500 ms, until stopped. */
  private static final class HeapSampler implements java.util.concurrent.Callable<Void> {
    private final MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final AtomicLong peakRaw = new AtomicLong();
    private final AtomicLong peakAfterGc = new AtomicLong();
    private final AtomicLong peakDirect = new AtomicLong();

    long usedAfterGc() {
      System.gc();
      return memory.getHeapMemoryUsage().getUsed();
    }

    @Override
    public Void call() throws InterruptedException {
      for (int tick = 0; running.get(); tick++) {
        peakRaw.accumulateAndGet(memory.getHeapMemoryUsage().getUsed(), Math::max);
        // gRPC's netty buffers live outside the heap: -1 when netty does not count them.
        peakDirect.accumulateAndGet(PlatformDependent.usedDirectMemory(), Math::max);
        if (tick % 10 == 0) {
          peakAfterGc.accumulateAndGet(usedAfterGc(), Math::max);
        }
        Thread.sleep(50);
      }
      peakAfterGc.accumulateAndGet(usedAfterGc(), Math::max);
      return null;
    }

    void stop() {
      running.set(false);
    }

    long peakRaw() {
      return peakRaw.get();
    }

    long peakAfterGc() {
      return peakAfterGc.get();
    }

    long peakDirect() {
      return peakDirect.get();
    }
  }
}
