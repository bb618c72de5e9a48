package dev.shardcache.security;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PingRequest;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * Real nodes on 127.0.0.1 (free ports) for the security tests, each defining the cache
 * {@value #CACHE} of UTF-8 strings whose loader answers {@code "loaded:<key>@<node>"}, and raw gRPC
 * channels to them. Closing it closes every node and channel it made.
 */
final class SecureNodes implements AutoCloseable {
  static final String CACHE = "users";

  private final List<ShardcacheNode> nodes = new ArrayList<>();
  private final List<DistributedCache<String, String>> caches = new ArrayList<>();
  private final List<ManagedChannel> channels = new ArrayList<>();

  /** Starts a node with {@code settings} applied to its builder (after listen) and no peers. */
  int start(UnaryOperator<ShardcacheNode.Builder> settings) {
    return start(settings, true);
  }

  /** As {@link #start(UnaryOperator)}; {@code withLoader} false defines the cache without a loader. */
  int start(UnaryOperator<ShardcacheNode.Builder> settings, boolean withLoader) {
    ShardcacheNode node = settings.apply(ShardcacheNode.builder().listen("127.0.0.1", 0)).build();
    nodes.add(node);
    CacheConfig.Builder<String, String> config = CacheConfig.builder(Codecs.utf8(), Codecs.utf8());
    if (withLoader) {
      String name = "node" + (nodes.size() - 1);
      config.loader(key -> "loaded:" + key + "@" + name);
    }
    caches.add(node.cache(CACHE, config.build()));
    try {
      node.start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return nodes.size() - 1;
  }

  /** Makes the nodes with the given indexes the members of each of their rings. */
  void join(int... indexes) {
    List<String> members = new ArrayList<>();
    for (int i : indexes) {
      members.add(node(i).address());
    }
    for (int i : indexes) {
      node(i).setPeers(members);
    }
  }

  ShardcacheNode node(int i) {
    return nodes.get(i);
  }

  DistributedCache<String, String> cache(int i) {
    return caches.get(i);
  }

  /** Returns a key of the form prefix + n that node {@code i} owns under its own ring. */
  String keyOwnedBy(int i, String prefix) {
    String owner = node(i).address();
    for (int n = 0; ; n++) {
      String key = prefix + n;
      if (cache(i).ownerOf(key).equals(owner)) {
        return key;
      }
    }
  }

  /** A new raw channel to node {@code i} with {@code credentials}; closed with this object. */
  ManagedChannel channel(int i, ChannelCredentials credentials) {
    ManagedChannel channel = Grpc.newChannelBuilderForAddress("127.0.0.1", port(node(i)), credentials)
        .maxInboundMessageSize(64 * 1024 * 1024)
        .build();
    channels.add(channel);
    return channel;
  }

  static int port(ShardcacheNode node) {
    String address = node.address();
    return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
  }

  static PeerServiceGrpc.PeerServiceBlockingStub stub(ManagedChannel channel) {
    return PeerServiceGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS);
  }

  /** Pings over {@code channel}: OK, or the status the call failed with. */
  static Status.Code ping(ManagedChannel channel) {
    try {
      stub(channel).ping(PingRequest.getDefaultInstance());
      return Status.Code.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    }
  }

  /** Pings node {@code i} over a fresh connection with {@code credentials}, then closes it. */
  Status.Code pingOnce(int i, ChannelCredentials credentials) {
    ManagedChannel channel = Grpc.newChannelBuilderForAddress("127.0.0.1", port(node(i)), credentials).build();
    try {
      return ping(channel);
    } finally {
      channel.shutdownNow();
    }
  }

  @Override
  public void close() {
    for (ManagedChannel channel : channels) {
      channel.shutdownNow();
    }
    for (ShardcacheNode node : nodes) {
      node.close();
    }
  }
}
