package dev.shardcache;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Starts real nodes with real gRPC servers on 127.0.0.1 (free ports), each defining one cache
 * "users" of UTF-8 strings with a {@link RecordingLoader}, and makes them one cluster. Closing it
 * closes every node it started.
 */
final class TestCluster implements AutoCloseable {
  static final String CACHE = "users";

  final List<ShardcacheNode> nodes = new ArrayList<>();
  final List<DistributedCache<String, String>> caches = new ArrayList<>();
  final List<RecordingLoader> loaders = new ArrayList<>();
  private final Function<CacheConfig.Builder<String, String>, CacheConfig.Builder<String, String>>
      customizer;
  final FakeTicker ticker = new FakeTicker();

  TestCluster(int size) {
    this(size, b -> b);
  }

  TestCluster(
      int size,
      Function<CacheConfig.Builder<String, String>, CacheConfig.Builder<String, String>> customizer) {
    this.customizer = customizer;
    try {
      for (int i = 0; i < size; i++) {
        addNode();
      }
      joinAll();
    } catch (RuntimeException | Error e) {
      close();
      throw e;
    }
  }

  /** Starts one more node; it knows no peers until {@link #joinAll} or setPeers. */
  int addNode() {
    ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).ticker(ticker).build();
    nodes.add(node);
    try {
      node.start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    RecordingLoader named = new RecordingLoader(node.address());
    DistributedCache<String, String> cache =
        node.cache(
            CACHE,
            customizer
                .apply(CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).loader(named))
                .build());
    loaders.add(named);
    caches.add(cache);
    return nodes.size() - 1;
  }

  /** Tells every running node that the running nodes are the members. */
  void joinAll() {
    List<String> members = addresses();
    for (ShardcacheNode node : nodes) {
      if (node.isRunning()) {
        node.setPeers(members);
      }
    }
  }

  List<String> addresses() {
    List<String> members = new ArrayList<>();
    for (ShardcacheNode node : nodes) {
      if (node.isRunning()) {
        members.add(node.address());
      }
    }
    return members;
  }

  ShardcacheNode node(int i) {
    return nodes.get(i);
  }

  DistributedCache<String, String> cache(int i) {
    return caches.get(i);
  }

  RecordingLoader loader(int i) {
    return loaders.get(i);
  }

  int indexOf(String address) {
    for (int i = 0; i < nodes.size(); i++) {
      if (nodes.get(i).isRunning() && nodes.get(i).address().equals(address)) {
        return i;
      }
    }
    throw new IllegalArgumentException("no running node " + address);
  }

  int totalLoads() {
    return loaders.stream().mapToInt(RecordingLoader::calls).sum();
  }

  int totalLoads(String key) {
    return loaders.stream().mapToInt(l -> l.calls(key)).sum();
  }

  /** Returns a key that node {@code i} owns, searching "prefix0", "prefix1", ... */
  String keyOwnedBy(int i, String prefix) {
    String owner = node(i).address();
    for (int n = 0; ; n++) {
      String key = prefix + n;
      if (cache(i).ownerOf(key).equals(owner)) {
        return key;
      }
    }
  }

  @Override
  public void close() {
    nodes.forEach(ShardcacheNode::close);
  }
}
