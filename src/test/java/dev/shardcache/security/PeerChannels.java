package dev.shardcache.security;

import dev.shardcache.ShardcacheNode;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PingRequest;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Raw gRPC channels to nodes on 127.0.0.1, for the security tests that call the peer service as an
 * outsider would. Closing it closes every channel it opened.
 */
final class PeerChannels implements AutoCloseable {
  private final List<ManagedChannel> channels = new ArrayList<>();

  /** A new channel to {@code node} with {@code credentials}; closed with this object. */
  ManagedChannel open(ShardcacheNode node, ChannelCredentials credentials) {
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress("127.0.0.1", port(node), credentials)
            .maxInboundMessageSize(64 * 1024 * 1024)
            .build();
    channels.add(channel);
    return channel;
  }

  /** The port of the node's address. */
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

  /** Pings {@code node} over a fresh connection with {@code credentials}, then closes it. */
  static Status.Code pingOnce(ShardcacheNode node, ChannelCredentials credentials) {
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress("127.0.0.1", port(node), credentials).build();
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
  }
}
