package dev.shardcache.faults;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.CacheConfig;
import dev.shardcache.CacheLoader;
import dev.shardcache.Codecs;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.internal.proto.FetchRequest;
import dev.shardcache.internal.proto.FetchResponse;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PingRequest;
import dev.shardcache.internal.proto.PingResponse;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.ReplicateResponse;
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
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * How a bulk load reads the list of keys a holder left out of its {@code Fetch} answer: it asks for
 * exactly those again, and a list it could never finish asking for is taken as saying nothing.
 *
 * <p>Node B (a real node) and a scripted peer P are the two holders of every key (replication
 * factor 2); B owns the keys asked, misses them all, and its bulk load asks P for copies before it
 * calls the loader. P answers each {@code Fetch} as the test scripts it.
 *
 * <ul>
 *   <li>P answers one copy and lists the rest: B asks again for exactly the listed keys, with its
 *       bound, and keeps every copy P then sends; the loader is never called.
 *   <li>P lists keys and answers none (asking again would never end): B asks once, then loads every
 *       key, and its {@code getAll} returns.
 * </ul>
 */
class FetchListingTest {
  private static final String CACHE = "listed";
  private static final int KEYS = 20;

  private final Map<String, AtomicInteger> loads = new ConcurrentHashMap<>();
  private final List<FetchRequest> fetches = new CopyOnWriteArrayList<>();
  private volatile Function<FetchRequest, FetchResponse> onFetch =
      request -> FetchResponse.getDefaultInstance();
  private TestCluster cluster;
  private Server peer;
  private List<String> keys;

  @BeforeEach
  void start() throws IOException {
    CacheLoader<String, String> bulk =
        new CacheLoader<>() {
          @Override
          public String load(String key) {
            loads.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
            return "loaded:" + key;
          }

          @Override
          public Map<String, String> loadAll(Set<? extends String> asked) {
            Map<String, String> values = new LinkedHashMap<>();
            for (String key : asked) {
              values.put(key, load(key));
            }
            return values;
          }
        };
    cluster =
        TestCluster.builder()
            .size(1)
            .nodeSettings(node -> node.antiEntropyInterval(Duration.ofHours(1)))
            .cache(
                CACHE,
                CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                    .replicationFactor(2)
                    .remoteTimeout(Duration.ofSeconds(2))
                    .loader(bulk)
                    .build())
            .build();
    peer =
        Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
            .addService(new ScriptedPeer())
            .build()
            .start();
    String self = cluster.node(0).address();
    cluster.node(0).setPeers(List.of(self, address(peer)));
    keys = new ArrayList<>();
    for (int n = 0; keys.size() < KEYS; n++) {
      if (cluster.cache(CACHE, 0).ownerOf("k" + n).equals(self)) {
        keys.add("k" + n);
      }
    }
  }

  @AfterEach
  void stop() throws InterruptedException {
    if (cluster != null) {
      cluster.close();
    }
    if (peer != null) {
      peer.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void theKeysAHolderListsAreAskedAgainAndTheirCopiesKept() throws Exception {
    onFetch =
        request -> {
          FetchResponse.Builder answer = FetchResponse.newBuilder();
          boolean first = fetches.size() == 1;
          for (int i = 0; i < request.getKeysCount(); i++) {
            if (first && i > 0) {
              answer.addNotIncluded(i);
            } else {
              answer.addEntries(
                  DefectTests2RawPeer.value(
                      request.getKeys(i).toStringUtf8(),
                      "copy:" + request.getKeys(i).toStringUtf8(),
                      DefectTests2RawPeer.timestampAt(System.currentTimeMillis()),
                      7));
            }
          }
          return answer.build();
        };

    Map<String, String> answer = getAll();

    keys.forEach(key -> assertThat(answer.get(key)).isEqualTo("copy:" + key));
    assertThat(loads).as("keys loaded").isEmpty();
    assertThat(fetches).as("Fetch calls P received").hasSize(2);
    assertThat(fetches.get(0).getKeysCount()).isEqualTo(KEYS);
    assertThat(fetches.get(1).getKeysList())
        .as("asked again")
        .containsExactlyElementsOf(fetches.get(0).getKeysList().subList(1, KEYS));
    assertThat(fetches)
        .allSatisfy(
            fetch ->
                assertThat(fetch.getMaxAnswerBytes())
                    .as("the bound B sends")
                    .isEqualTo(ShardcacheNode.DEFAULT_MAX_BATCH_BYTES));
  }

  @Test
  void aListWithoutAnyCopyIsNotAskedAgainAndTheKeysAreLoaded() throws Exception {
    onFetch =
        request -> {
          FetchResponse.Builder answer = FetchResponse.newBuilder();
          for (int i = 0; i < request.getKeysCount(); i++) {
            answer.addNotIncluded(i);
          }
          return answer.build();
        };

    Map<String, String> answer = getAll();

    keys.forEach(key -> assertThat(answer.get(key)).isEqualTo("loaded:" + key));
    assertThat(loads.keySet()).containsExactlyInAnyOrderElementsOf(keys);
    assertThat(fetches).as("Fetch calls P received").hasSize(1);
  }

  /** B's getAll of the keys, within 20 s: a caller that kept asking would never return. */
  private Map<String, String> getAll() throws Exception {
    return CompletableFuture.supplyAsync(() -> cluster.cache(CACHE, 0).getAll(keys))
        .get(20, TimeUnit.SECONDS);
  }

  private static String address(Server server) {
    return "127.0.0.1:" + server.getPort();
  }

  /** P: answers pings as itself, accepts replication, and answers fetches as the test says. */
  private final class ScriptedPeer extends PeerServiceGrpc.PeerServiceImplBase {
    @Override
    public void ping(PingRequest request, StreamObserver<PingResponse> observer) {
      observer.onNext(PingResponse.newBuilder().setAddress(address(peer)).build());
      observer.onCompleted();
    }

    @Override
    public void replicate(ReplicateRequest request, StreamObserver<ReplicateResponse> observer) {
      observer.onNext(ReplicateResponse.getDefaultInstance());
      observer.onCompleted();
    }

    @Override
    public void fetch(FetchRequest request, StreamObserver<FetchResponse> observer) {
      fetches.add(request);
      observer.onNext(onFetch.apply(request));
      observer.onCompleted();
    }
  }
}
