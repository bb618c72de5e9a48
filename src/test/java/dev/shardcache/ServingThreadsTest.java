package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.testing.TestCluster;
import io.grpc.Attributes;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.Status;
import io.grpc.health.v1.HealthGrpc;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/**
 * Which threads serve a peer's calls: a {@code Get} (and a {@code Ping}, and a client's {@code
 * Acknowledge}) is answered on the transport thread that read it (no hop to a handler thread),
 * every other call on the bounded handler pool, and a load never on a transport thread.
 *
 * <p>Threads are told apart by name: gRPC's Netty event loops are {@code grpc-...}, the handler
 * pool {@code shardcache-handler-N}, the load executor {@code shardcache-load-N}. What ran where is
 * seen through a key codec on the serving node that records the thread of each key it decodes (a
 * peer's call decodes its key on the thread that serves it), and through the loader's own thread.
 */
class ServingThreadsTest {
  private static final String CACHE = "kv";

  @Test
  void getAndPingStayOnTheTransportThreadAndEveryOtherCallGoesToTheHandlerPool() {
    ExecutorService handlers = Executors.newSingleThreadExecutor();
    try {
      ServingExecutors executors = new ServingExecutors(handlers);
      assertThat(executors.getExecutor(callOf(PeerServiceGrpc.getGetMethod()), new Metadata()))
          .isNull();
      assertThat(executors.getExecutor(callOf(PeerServiceGrpc.getPingMethod()), new Metadata()))
          .as("a heartbeat, answered even while every handler thread is busy")
          .isNull();
      assertThat(executors.getExecutor(callOf(HealthGrpc.getCheckMethod()), new Metadata()))
          .as("a health probe")
          .isNull();
      assertThat(
              executors.getExecutor(callOf(PeerServiceGrpc.getAcknowledgeMethod()), new Metadata()))
          .as("a client-only member's acknowledgement, which a write may be waiting for")
          .isNull();
      for (MethodDescriptor<?, ?> other :
          List.of(
              PeerServiceGrpc.getPutMethod(),
              PeerServiceGrpc.getGetAllMethod(),
              PeerServiceGrpc.getFetchMethod(),
              PeerServiceGrpc.getReplicateMethod(),
              PeerServiceGrpc.getInvalidateMethod(),
              PeerServiceGrpc.getRefreshMethod(),
              PeerServiceGrpc.getSubscribeMethod(), // registers the stream, then returns
              PeerServiceGrpc.getScanPageMethod())) { // walks the shard: never a transport thread
        assertThat(executors.getExecutor(callOf(other), new Metadata()))
            .as(other.getFullMethodName())
            .isSameAs(handlers);
      }
    } finally {
      handlers.shutdownNow();
    }
  }

  @Test
  void remoteHitIsServedOnTheTransportThreadWritesOnHandlersLoadsOnTheLoadExecutor() {
    ThreadRecordingCodec keys = new ThreadRecordingCodec();
    List<String> loaderThreads = new CopyOnWriteArrayList<>();
    CacheConfig<String, String> config =
        CacheConfig.builder(keys, Codecs.utf8())
            .replicationFactor(1)
            .loader(
                k -> {
                  loaderThreads.add(Thread.currentThread().getName());
                  return "loaded-" + k;
                })
            .build();
    try (TestCluster cluster = TestCluster.builder().size(2).cache(CACHE, config).build()) {
      DistributedCache<String, String> a = cluster.cache(0);
      DistributedCache<String, String> b = cluster.cache(1);
      String held = keyOwnedByBOnBoth(cluster, "held-");
      b.put(held, "v");

      assertThat(a.get(held)).isEqualTo("v");
      assertThat(keys.threadsOf(held))
          .as("threads that decoded the key of the remote get")
          .isNotEmpty()
          .allSatisfy(t -> assertThat(t).startsWith("grpc-"));

      String written = keyOwnedByBOnBoth(cluster, "written-");
      a.put(written, "w");
      assertThat(keys.threadsOf(written))
          .as("threads that decoded the key of the remote put")
          .isNotEmpty()
          .allSatisfy(t -> assertThat(t).startsWith("shardcache-handler-"));

      String missing = keyOwnedByBOnBoth(cluster, "missing-");
      assertThat(a.get(missing)).isEqualTo("loaded-" + missing);
      assertThat(keys.threadsOf(missing)).anySatisfy(t -> assertThat(t).startsWith("grpc-"));
      assertThat(loaderThreads)
          .as("threads the owner's loader ran on")
          .isNotEmpty()
          .allSatisfy(t -> assertThat(t).startsWith("shardcache-load-"));
    }
  }

  private static String keyOwnedByBOnBoth(TestCluster cluster, String prefix) {
    String ownerB = cluster.node(1).address();
    for (int n = 0; ; n++) {
      String key = prefix + n;
      if (cluster.cache(0).ownerOf(key).equals(ownerB)
          && cluster.cache(1).ownerOf(key).equals(ownerB)) {
        return key;
      }
    }
  }

  /** UTF-8 keys that remember, per key, the threads that decoded them. */
  private static final class ThreadRecordingCodec implements Codec<String> {
    private final Map<String, List<String>> decodedOn = new ConcurrentHashMap<>();

    @Override
    public byte[] encode(String value) {
      return Codecs.utf8().encode(value);
    }

    @Override
    public String decode(byte[] bytes) {
      String key = Codecs.utf8().decode(bytes);
      decodedOn
          .computeIfAbsent(key, k -> new CopyOnWriteArrayList<>())
          .add(Thread.currentThread().getName());
      return key;
    }

    List<String> threadsOf(String key) {
      return decodedOn.getOrDefault(key, List.of());
    }
  }

  private static <Q, R> ServerCall<Q, R> callOf(MethodDescriptor<Q, R> method) {
    return new ServerCall<>() {
      @Override
      public void request(int numMessages) {}

      @Override
      public void sendHeaders(Metadata headers) {}

      @Override
      public void sendMessage(R message) {}

      @Override
      public void close(Status status, Metadata trailers) {}

      @Override
      public boolean isCancelled() {
        return false;
      }

      @Override
      public Attributes getAttributes() {
        return Attributes.EMPTY;
      }

      @Override
      public @Nullable String getAuthority() {
        return null;
      }

      @Override
      public MethodDescriptor<Q, R> getMethodDescriptor() {
        return method;
      }
    };
  }
}
