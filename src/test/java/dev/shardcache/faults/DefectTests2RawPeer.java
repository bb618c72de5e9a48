package dev.shardcache.faults;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.FetchRequest;
import dev.shardcache.internal.proto.FetchResponse;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.VersionedEntry;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A raw gRPC client of one node's peer service, for the fault tests of the defect-tests-2 branch:
 * it speaks the wire protocol directly through the public generated stubs, as a peer (or an
 * impostor) would, so a test can deliver versioned entries the public API never produces.
 */
final class DefectTests2RawPeer implements AutoCloseable {
  /** The caller this client names in its requests: not a member of any test cluster. */
  static final String CALLER = "10.0.0.9:1";

  private final ManagedChannel channel;

  private DefectTests2RawPeer(ManagedChannel channel) {
    this.channel = channel;
  }

  /** Opens a plaintext channel to a node's "host:port" address. */
  static DefectTests2RawPeer to(String address) {
    int colon = address.lastIndexOf(':');
    String host = address.substring(0, colon);
    int port = Integer.parseInt(address.substring(colon + 1));
    return new DefectTests2RawPeer(
        Grpc.newChannelBuilderForAddress(host, port, InsecureChannelCredentials.create()).build());
  }

  /** The hybrid logical clock timestamp of {@code physicalMillis} with counter 0. */
  static long timestampAt(long physicalMillis) {
    return physicalMillis << 16;
  }

  /** A versioned value of a UTF-8 key, as replication carries it. */
  static VersionedEntry value(String key, String value, long timestamp, long writer) {
    return VersionedEntry.newBuilder()
        .setKey(ByteString.copyFromUtf8(key))
        .setValue(ByteString.copyFromUtf8(value))
        .setTimestamp(timestamp)
        .setWriter(writer)
        .build();
  }

  private PeerServiceGrpc.PeerServiceBlockingStub stub() {
    return PeerServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  /**
   * Sends one {@code Replicate} call carrying {@code entries} for {@code cache}; returns the status
   * the node answered ({@code OK} if it accepted the batch).
   */
  Status.Code replicate(String cache, VersionedEntry... entries) {
    try {
      stub()
          .replicate(
              ReplicateRequest.newBuilder()
                  .setCaller(CALLER)
                  .addBatches(
                      CacheBatch.newBuilder().setCache(cache).addAllEntries(List.of(entries)))
                  .build());
      return Status.Code.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    }
  }

  /**
   * The versioned entries (values and tombstones) the node holds for UTF-8 keys, without loading,
   * asked as a caller of an earlier version asks: with no bound on the answer's bytes.
   */
  FetchResponse fetch(String cache, String... keys) {
    FetchRequest.Builder request = FetchRequest.newBuilder().setCache(cache).setCaller(CALLER);
    for (String key : keys) {
      request.addKeys(ByteString.copyFromUtf8(key));
    }
    return stub().fetch(request.build());
  }

  /**
   * As {@link #fetch}, from a caller that accepts answers of at most {@code maxAnswerBytes} and
   * asks again for the keys the answer lists in {@code not_included}.
   */
  FetchResponse fetchWithin(String cache, int maxAnswerBytes, String... keys) {
    FetchRequest.Builder request =
        FetchRequest.newBuilder()
            .setCache(cache)
            .setCaller(CALLER)
            .setMaxAnswerBytes(maxAnswerBytes);
    for (String key : keys) {
      request.addKeys(ByteString.copyFromUtf8(key));
    }
    return stub().fetch(request.build());
  }

  /** Describes a fetch answer for one key: "absent", "tombstone@ts" or "'value'@ts". */
  static String describe(FetchResponse response) {
    if (response.getEntriesCount() == 0) {
      return "absent";
    }
    VersionedEntry entry = response.getEntries(0);
    String stamp = (entry.getTimestamp() >>> 16) + "." + (entry.getTimestamp() & 0xFFFF);
    return entry.hasValue()
        ? "'" + entry.getValue().toStringUtf8() + "'@" + stamp
        : "tombstone@" + stamp;
  }

  @Override
  public void close() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }
}
