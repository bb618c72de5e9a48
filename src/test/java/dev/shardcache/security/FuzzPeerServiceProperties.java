package dev.shardcache.security;

import static dev.shardcache.security.Http2Frames.EMPTY_SETTINGS;
import static dev.shardcache.security.Http2Frames.PREFACE;
import static dev.shardcache.security.Http2Frames.frame;
import static dev.shardcache.security.Http2Frames.literal;
import static io.grpc.MethodDescriptor.MethodType.UNARY;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.util.stream.Collectors.toMap;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.MessageLite;
import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.CompareAndSetRequest;
import dev.shardcache.internal.proto.DigestPage;
import dev.shardcache.internal.proto.DigestRequest;
import dev.shardcache.internal.proto.FetchRequest;
import dev.shardcache.internal.proto.GetAllRequest;
import dev.shardcache.internal.proto.GetRequest;
import dev.shardcache.internal.proto.InvalidateAllRequest;
import dev.shardcache.internal.proto.InvalidateRequest;
import dev.shardcache.internal.proto.KeyWrite;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.PingRequest;
import dev.shardcache.internal.proto.PutRequest;
import dev.shardcache.internal.proto.RefreshRequest;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.ScanPageRequest;
import dev.shardcache.internal.proto.SubscribeRequest;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.internal.proto.WriteAllRequest;
import dev.shardcache.security.TestCertificates.Authority;
import dev.shardcache.security.TestCertificates.NodeFiles;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tag;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Fuzzing one running node's peer service (issue 5): jqwik generates malformed and oversized
 * requests for every RPC, with random metadata, and raw bytes for its TCP port; every call must
 * end, before its deadline, with a status that names the client's mistake, the node must keep
 * serving, and entries the fuzzer never names must not change.
 *
 * <h2>What is generated</h2>
 *
 * <ul>
 *   <li><b>Requests of all thirteen RPCs</b> through a raw blocking stub: cache names that exist
 *       ({@code text}: UTF-8 to UTF-8; {@code counts}: UTF-8 to longs; {@code blobs}: UTF-8 to
 *       bytes, with a near cache), that almost exist ({@code "text "}, {@code "TEXT"}), empty,
 *       unicode, or up to 200,000 characters; keys and values of random bytes, malformed UTF-8
 *       (stray continuation bytes, overlong forms, encoded surrogates), longs of 0-16 bytes, sizes
 *       just over the limits ({@value #MAX_KEY} key bytes, {@value #MAX_VALUE} value bytes, the
 *       {@value #MAX_MESSAGE}-byte message limit); batches of up to 3,000 keys (a batch write at
 *       most {@value #MAX_WRITE_ALL_BYTES} bytes, however many writes share its value); replicated
 *       entries with negative, zero, huge and random timestamps and writers, tombstones, near-cache
 *       invalidations; digests of 0 to 140,000 buckets (powers of two and not), and requests for
 *       later pages of a digest answer naming any buckets and any bound; scan pages after any
 *       cursor (or none) with any bound; random callers.
 *   <li><b>Undecodable messages</b>: random bytes, and valid requests with flipped or truncated
 *       bytes, sent to every method name (and unknown ones) through a byte-array marshaller.
 *   <li><b>Metadata</b> on a quarter of the calls: random ASCII and binary headers, reserved names
 *       ({@code grpc-timeout}, {@code grpc-encoding}, {@code content-type}, {@code
 *       shardcache-auth}, ...), and header blocks over the node's 16 KiB limit.
 *   <li><b>Raw bytes on the socket</b>, to the plaintext node and to a mutual-TLS node: random
 *       bytes, truncated HTTP/2 prefaces, HTTP/1.1, TLS records, and hand-built HTTP/2 frames
 *       (settings with out-of-range values, headers with broken HPACK, gRPC calls whose data frames
 *       lie about their length or claim compression, window updates of 0, frames on stream 0,
 *       lengths over the frame size).
 * </ul>
 *
 * <h2>What must hold</h2>
 *
 * Every gRPC call ends within {@link #DEADLINE_SECONDS} s with OK, {@code INVALID_ARGUMENT}, {@code
 * NOT_FOUND}, {@code FAILED_PRECONDITION} (the fuzz caches' loaders refuse keys starting with
 * "fail") or {@code RESOURCE_EXHAUSTED} (message or header over the limit). Two more are justified
 * for inputs that are not a valid request at all: {@code UNIMPLEMENTED} for an unknown method name,
 * and, for bytes that do not parse as the method's request message, what grpc-java answers before
 * any code of the node runs: its marshaller throws {@code INTERNAL "Invalid protobuf byte
 * sequence"}, which escapes the unary call handler, so the server cancels the call with {@code
 * UNKNOWN "Application error processing RPC"} (and logs the stack trace at SEVERE). A call with a
 * header HTTP/2 forbids ({@code connection}, {@code transfer-encoding}, ...) or a malformed
 * reserved gRPC header is refused by the node's HTTP/2 layer with RST_STREAM, which the client
 * reports as {@code INTERNAL} (and its DATA frame, already sent, makes the node close that
 * connection with GOAWAY, so such calls get a connection of their own, and may end {@code
 * UNAVAILABLE} when that close overtakes the client's writes); headers over the node's 16 KiB limit
 * are refused by the client's HTTP/2 layer itself ({@code INTERNAL}, caused by {@code
 * HeaderListSizeException}), as the node announces the limit in its settings, so the raw-socket
 * inputs carry such headers instead. Anything else (another {@code INTERNAL} or {@code UNKNOWN},
 * {@code DEADLINE_EXCEEDED}, {@code UNAVAILABLE}) fails the property.
 *
 * <p>After every input the sentinel entries (a cache the fuzzer never names, and keys "sentinel-*"
 * in each fuzzed cache, which the generators never produce) hold their values; the node answers a
 * ping after every raw-socket input and every 50 gRPC inputs. {@code InvalidateAll} is sent only to
 * the {@code scratch} cache or to unknown names (and undecodable bytes that would parse as an
 * InvalidateAll of a fuzzed cache are left out), since clearing a fuzzed cache would rightly clear
 * its sentinels.
 *
 * <p>The default run tries {@value #GRPC_TRIES} gRPC inputs and {@value #RAW_TRIES} raw-socket
 * inputs (about 20 s); the {@code slow}-tagged soak properties try 20,000 and 3,000. The totals are
 * printed at the end: {@code fuzz: N gRPC inputs, M raw-socket inputs, 0 crashes, sentinels
 * intact}, followed by the count of each (RPC, status) pair.
 */
class FuzzPeerServiceProperties {

  static final int MAX_MESSAGE = 1024 * 1024;
  static final int MAX_VALUE = 64 * 1024;
  static final int MAX_KEY = CacheConfig.DEFAULT_MAX_KEY_BYTES;
  static final int GRPC_TRIES = 1500;
  static final int RAW_TRIES = 300;
  static final long DEADLINE_SECONDS = 10;

  /**
   * The most a generated {@code WriteAll} may serialize to: three times the node's limit, like the
   * largest single value, so the node's refusal of an oversized batch is still tried.
   */
  static final int MAX_WRITE_ALL_BYTES = 3 * MAX_MESSAGE;

  /**
   * What the fuzz client refuses to send at all: more than any generator builds (the largest, a
   * {@code Replicate} of 4 batches of 8 entries of up to 3 MiB, is about 100 MiB). A generator that
   * outgrows it fails the property with a message that says so ({@link #REQUEST_SIZE_GUARD}),
   * instead of stalling a run by serializing gigabytes before the node's refusal can be read.
   */
  static final int MAX_REQUEST_BYTES = 128 * MAX_MESSAGE;

  private static final List<String> FUZZED_CACHES = List.of("text", "counts", "blobs");
  private static final String SENTINEL_CACHE = "sentinels";
  private static final String SCRATCH_CACHE = "scratch";
  private static final int SENTINELS = 20;
  private static final byte[] SENTINEL_PREFIX = "sentinel-".getBytes(US_ASCII);

  private static Path certificates;
  private static ShardcacheNode node;
  private static ShardcacheNode tlsNode;
  private static ManagedChannel channel;
  private static ManagedChannel tlsChannel;
  private static DistributedCache<String, String> sentinels;
  private static DistributedCache<String, String> text;
  private static DistributedCache<String, Long> counts;
  private static DistributedCache<String, byte[]> blobs;
  private static DistributedCache<String, String> tlsSentinels;

  private static final LongAdder grpcInputs = new LongAdder();
  private static final LongAdder rawInputs = new LongAdder();
  private static final LongAdder undecodableRefusals = new LongAdder();
  private static final LongAdder transportRefusals = new LongAdder();
  private static volatile FuzzCall previous;
  private static final ConcurrentMap<String, LongAdder> outcomes = new ConcurrentHashMap<>();
  private static final List<String> crashes = new CopyOnWriteArrayList<>();

  // ---------------------------------------------------------------- the node

  @BeforeContainer
  static void startNodes() throws IOException {
    node =
        ShardcacheNode.builder().listen("127.0.0.1", 0).maxInboundMessageBytes(MAX_MESSAGE).build();
    sentinels =
        node.cache(SENTINEL_CACHE, CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build());
    text =
        node.cache(
            "text",
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
                .maximumSize(1_000_000)
                .maxValueBytes(MAX_VALUE)
                .loader(key -> refuseFail(key, "loaded:" + key))
                .build());
    counts =
        node.cache(
            "counts",
            CacheConfig.builder(Codecs.utf8(), Codecs.longs())
                .maximumSize(1_000_000)
                .maxValueBytes(MAX_VALUE)
                .loader(key -> refuseFail(key, (long) key.length()))
                .build());
    blobs =
        node.cache(
            "blobs",
            CacheConfig.builder(Codecs.utf8(), Codecs.bytes())
                .maximumSize(1_000_000)
                .maxValueBytes(MAX_VALUE)
                .nearCache(1_000, java.time.Duration.ofMinutes(1))
                .build());
    node.cache(
        SCRATCH_CACHE,
        CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).loader(key -> key).build());
    node.start();
    for (int i = 0; i < SENTINELS; i++) {
      sentinels.put("sentinel-" + i, "guarded " + i);
      text.put("sentinel-" + i, "text sentinel " + i);
      counts.put("sentinel-" + i, 1_000L + i);
      blobs.put("sentinel-" + i, blobSentinel(i));
    }
    channel = newChannel();

    certificates = Files.createTempDirectory("shardcache-fuzz-certs");
    Authority ca = TestCertificates.authority("fuzz CA");
    NodeFiles files = ca.issue("tls node").writeTo(certificates.resolve("node"), ca);
    tlsNode = ShardcacheNode.builder().listen("127.0.0.1", 0).tls(files.peerTls()).build();
    tlsSentinels =
        tlsNode.cache(SENTINEL_CACHE, CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).build());
    tlsNode.start();
    for (int i = 0; i < SENTINELS; i++) {
      tlsSentinels.put("sentinel-" + i, "guarded " + i);
    }
    NodeFiles client = ca.issue("fuzz client").writeTo(certificates.resolve("client"), ca);
    ChannelCredentials credentials =
        TlsChannelCredentials.newBuilder()
            .keyManager(client.chain().toFile(), client.key().toFile())
            .trustManager(client.trust().toFile())
            .build();
    tlsChannel =
        Grpc.newChannelBuilderForAddress("127.0.0.1", PeerChannels.port(tlsNode), credentials)
            .build();
  }

  @AfterContainer
  static void stopNodes() throws IOException {
    try {
      String intact = checkSentinels();
      ping(channel, "after fuzzing");
      ping(tlsChannel, "after fuzzing (TLS node)");
      System.out.printf(
          "fuzz: %d gRPC inputs, %d raw-socket inputs, %d crashes, %s%n",
          grpcInputs.sum(),
          rawInputs.sum(),
          crashes.size(),
          intact == null ? "sentinels intact" : intact);
      System.out.printf(
          "  (%d undecodable messages answered UNKNOWN/INTERNAL by grpc-java's marshaller,"
              + " %d calls with transport-level headers reset by HTTP/2)%n",
          undecodableRefusals.sum(), transportRefusals.sum());
      new TreeMap<>(outcomes)
          .forEach((outcome, count) -> System.out.printf("  %-40s %d%n", outcome, count.sum()));
      crashes.stream().limit(20).forEach(crash -> System.out.println("  crash: " + crash));
      if (intact != null || !crashes.isEmpty()) {
        throw new AssertionError("fuzzing broke the node: " + intact + " " + crashes);
      }
    } finally {
      if (channel != null) {
        channel.shutdownNow();
      }
      if (tlsChannel != null) {
        tlsChannel.shutdownNow();
      }
      if (node != null) {
        node.close();
      }
      if (tlsNode != null) {
        tlsNode.close();
      }
      if (certificates != null) {
        try (Stream<Path> files = Files.walk(certificates)) {
          files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        }
      }
    }
  }

  private static <T> T refuseFail(String key, T value) {
    if (key.startsWith("fail")) {
      throw new IllegalStateException("the fuzz loader refuses keys starting with 'fail'");
    }
    return value;
  }

  private static byte[] blobSentinel(int i) {
    byte[] bytes = new byte[16 + i];
    Arrays.fill(bytes, (byte) i);
    return bytes;
  }

  /** Returns null if every sentinel holds its value, else what differs. */
  private static String checkSentinels() {
    List<String> changed = new ArrayList<>();
    for (int i = 0; i < SENTINELS; i++) {
      String key = "sentinel-" + i;
      expect(changed, "sentinels/" + key, "guarded " + i, sentinels.get(key));
      expect(changed, "text/" + key, "text sentinel " + i, text.get(key));
      expect(changed, "counts/" + key, 1_000L + i, counts.get(key));
      byte[] blob = blobs.get(key);
      if (blob == null || !Arrays.equals(blob, blobSentinel(i))) {
        changed.add("blobs/" + key + " = " + (blob == null ? null : blob.length + " bytes"));
      }
      expect(changed, "tls sentinels/" + key, "guarded " + i, tlsSentinels.get(key));
    }
    return changed.isEmpty() ? null : "sentinels changed: " + changed;
  }

  private static void expect(List<String> changed, String what, Object expected, Object actual) {
    if (!expected.equals(actual)) {
      changed.add(what + " = " + actual);
    }
  }

  private static void ping(ManagedChannel over, String when) {
    try {
      PeerServiceGrpc.newBlockingStub(over)
          .withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS)
          .ping(PingRequest.newBuilder().setCaller("fuzz").build());
    } catch (StatusRuntimeException e) {
      throw new AssertionError("the node stopped serving " + when + ": " + e.getStatus(), e);
    }
  }

  // ---------------------------------------------------------------- properties

  @Property(tries = GRPC_TRIES)
  void everyRequestIsAnsweredWithAStatusAndNoSentinelChanges(@ForAll("requests") FuzzCall call) {
    send(call);
  }

  /** No generated batch write may be so large that sending it stalls or exhausts the test JVM. */
  @Property(tries = 300)
  void generatedBatchWritesStayWithinTheirBudget(
      @ForAll("writeAllRequests") WriteAllRequest request) {
    assertThat(request.getSerializedSize()).isLessThanOrEqualTo(MAX_WRITE_ALL_BYTES);
  }

  /**
   * Regression (issue 10): the two batch writes that stalled full runs, 1,589 and 2,999 writes
   * sharing one value of 700 KB and 700 KB to 3 MiB, are cut to the budget, still over the node's
   * limit, and answered {@code RESOURCE_EXHAUSTED} (not a deadline) by a node that then keeps
   * serving with its sentinels intact.
   */
  @Example
  void theBatchWritesThatStalledFullRunsAreCutAndRefusedByTheNode() {
    for (int[] shape : new int[][] {{1_589, 700_000}, {2_999, 700_000}, {2_999, 3 * MAX_MESSAGE}}) {
      List<ByteString> keys = new ArrayList<>();
      for (int i = 0; i < shape[0]; i++) {
        keys.add(ByteString.copyFromUtf8("many-" + i));
      }
      WriteAllRequest request =
          writeAll("counts", keys, ByteString.copyFrom(new byte[shape[1]]), true, "");
      assertThat(request.getSerializedSize())
          .as("%s writes of %s bytes", shape[0], shape[1])
          .isLessThanOrEqualTo(MAX_WRITE_ALL_BYTES)
          .isGreaterThan(MAX_MESSAGE);
      assertThatThrownBy(() -> stub(channel).writeAll(request))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e ->
                  assertThat(e.getStatus().getCode())
                      .as("the answer to %s writes of %s bytes", shape[0], shape[1])
                      .isEqualTo(Status.Code.RESOURCE_EXHAUSTED));
    }
    ping(channel, "after the oversized batch writes");
    assertThat(checkSentinels()).isNull();
  }

  /**
   * Regression (CI, stop 15): mutated bytes sent to {@code Subscribe} parsed as a valid
   * subscription, which stays open by design, and the fuzzer, calling it as a unary method, waited
   * for an end that never comes and called it a hang. A subscription is answered by its first
   * message; cancelling it frees its slot, so many of them in a row are all accepted.
   */
  @Example
  void validSubscriptionsSentAsRawBytesAreAnsweredByTheirFirstMessage() {
    byte[] subscription =
        SubscribeRequest.newBuilder().setCaller("fuzzer").addCaches("counts").build().toByteArray();
    LongAdder accepted = outcomes.computeIfAbsent("Raw Subscribe OK", k -> new LongAdder());
    long before = accepted.sum();
    for (int i = 0; i < 300; i++) { // more than maxSubscribedClients (256)
      send(rawCall(PeerServiceGrpc.getSubscribeMethod().getFullMethodName(), subscription));
    }
    assertThat(accepted.sum() - before).as("subscriptions accepted").isEqualTo(300);
    ping(channel, "after 300 subscriptions, each cancelled after its first message");
  }

  /** A request over the fuzzer's own limit is never sent, and fails with a message that says so. */
  @Example
  void aGeneratedRequestOverTheFuzzersOwnLimitIsNeverSent() {
    WriteAllRequest.Builder huge = WriteAllRequest.newBuilder().setCache("counts");
    ByteString shared = ByteString.copyFrom(new byte[MAX_MESSAGE]); // one copy, sent 129 times
    for (int i = 0; i <= MAX_REQUEST_BYTES / MAX_MESSAGE; i++) {
      huge.addWrites(
          KeyWrite.newBuilder().setKey(ByteString.copyFromUtf8("k" + i)).setValue(shared));
    }
    WriteAllRequest request = huge.build();
    assertThatThrownBy(() -> stub(channel).writeAll(request))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("over its own limit of " + MAX_REQUEST_BYTES);
    ping(channel, "after a request the client refused");
  }

  @Property(tries = RAW_TRIES)
  void rawBytesOnTheSocketLeaveTheNodesServing(@ForAll("rawInputs") RawInput input) {
    sendRaw(input);
  }

  @Property(tries = 20_000)
  @Tag("slow")
  void soakEveryRequestIsAnsweredWithAStatusAndNoSentinelChanges(
      @ForAll("requests") FuzzCall call) {
    send(call);
  }

  @Property(tries = 3_000)
  @Tag("slow")
  void soakRawBytesOnTheSocketLeaveTheNodesServing(@ForAll("rawInputs") RawInput input) {
    sendRaw(input);
  }

  private static void send(FuzzCall call) {
    grpcInputs.increment();
    // Headers that HTTP/2 refuses can make the node close the whole connection (see judge), so
    // such calls get a connection of their own and cannot fail the calls that follow.
    ManagedChannel over = call.transportHeaders() ? newChannel() : channel;
    try {
      send(call, over);
    } finally {
      if (over != channel) {
        over.shutdownNow();
      }
    }
  }

  private static ManagedChannel newChannel() {
    return Grpc.newChannelBuilderForAddress(
            "127.0.0.1", PeerChannels.port(node), InsecureChannelCredentials.create())
        .maxInboundMessageSize(64 * 1024 * 1024)
        .maxInboundMetadataSize(1024 * 1024)
        .build();
  }

  private static PeerServiceGrpc.PeerServiceBlockingStub stub(ManagedChannel over) {
    return PeerServiceGrpc.newBlockingStub(over)
        .withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS)
        .withInterceptors(REQUEST_SIZE_GUARD);
  }

  /**
   * Fails the fuzzer, in its own thread and before anything is sent, when a generator built a
   * request over {@link #MAX_REQUEST_BYTES}. (grpc-java's own {@code withMaxOutboundMessageSize} is
   * no such guard: a blocking call whose message it refused was seen to wait past its deadline.)
   */
  private static final ClientInterceptor REQUEST_SIZE_GUARD =
      new ClientInterceptor() {
        @Override
        public <Q, A> ClientCall<Q, A> interceptCall(
            MethodDescriptor<Q, A> method, CallOptions options, Channel next) {
          return new ForwardingClientCall.SimpleForwardingClientCall<>(
              next.newCall(method, options)) {
            @Override
            public void sendMessage(Q message) {
              long size =
                  message instanceof MessageLite request
                      ? request.getSerializedSize()
                      : message instanceof byte[] bytes ? bytes.length : 0;
              if (size > MAX_REQUEST_BYTES) {
                throw new AssertionError(
                    "the fuzzer built a "
                        + method.getFullMethodName()
                        + " request of "
                        + size
                        + " bytes, over its own limit of "
                        + MAX_REQUEST_BYTES
                        + ": bound the generator, as writeAll does");
              }
              super.sendMessage(message);
            }
          };
        }
      };

  private static void send(FuzzCall call, ManagedChannel over) {
    PeerServiceGrpc.PeerServiceBlockingStub stub = stub(over);
    if (call.headers() != null) {
      stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(call.headers()));
    }
    Status status;
    long started = System.nanoTime();
    try {
      Object unused = call.invoke().apply(stub); // only the status is judged, not the answer
      status = Status.OK;
    } catch (StatusRuntimeException e) {
      status = e.getStatus();
    } catch (RuntimeException e) {
      status = Status.fromThrowable(e);
    }
    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
    outcomes.computeIfAbsent(call.rpc() + " " + status.getCode(), k -> new LongAdder()).increment();
    FuzzCall before = previous;
    previous = call;
    String problem = judge(call, status);
    if (problem != null) {
      crashes.add(
          call + " -> " + status + " after " + millis + " ms (previous input: " + before + ")");
      throw new AssertionError(
          problem
              + ": "
              + call
              + " -> "
              + status
              + " after "
              + millis
              + " ms (previous input: "
              + before
              + ")");
    }
    String intact = checkSentinels();
    if (intact != null) {
      throw new AssertionError(intact + " after " + call);
    }
    if (grpcInputs.sum() % 50 == 0) {
      ping(channel, "after " + call);
    }
  }

  /** Returns why {@code status} is not an acceptable answer to {@code call}, or null if it is. */
  private static String judge(FuzzCall call, Status status) {
    switch (status.getCode()) {
      case OK, INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, RESOURCE_EXHAUSTED -> {
        return null;
      }
      case UNIMPLEMENTED -> {
        return call.unknownMethod() ? null : "UNIMPLEMENTED for a method the node serves";
      }
      case INTERNAL, UNKNOWN -> {
        String description = String.valueOf(status.getDescription());
        if (call.transportHeaders()
            && status.getCode() == Status.Code.INTERNAL
            && (description.startsWith(
                    "RST_STREAM closed stream. HTTP/2 error code: PROTOCOL_ERROR")
                || description.startsWith(
                    "Connection closed after GOAWAY. HTTP/2 error code: PROTOCOL_ERROR"))) {
          // A header HTTP/2 forbids, or one gRPC reserves with a malformed value: the node's HTTP/2
          // layer resets the stream as RFC 9113 8.1.2 requires, and the client reports the reset
          // as INTERNAL. No code of the node runs. The DATA frame the client has already sent then
          // names a stream the node never opened, a connection error: the node also sends GOAWAY,
          // which may reach the client first.
          transportRefusals.increment();
          return null;
        }
        if (call.transportHeaders()
            && status.getCode() == Status.Code.INTERNAL
            && status.getCause() != null
            && status
                .getCause()
                .getClass()
                .getName()
                .endsWith("Http2Exception$HeaderListSizeException")) {
          // Over the 16 KiB the node announced in its HTTP/2 settings: the client's own HTTP/2
          // layer refuses to send the headers (the raw-socket inputs send such headers anyway).
          transportRefusals.increment();
          return null;
        }
        if (call.undecodable()
            && (description.startsWith("Invalid protobuf byte sequence")
                || description.equals("Application error processing RPC"))) {
          // grpc-java refusing bytes that are not the request message, before the node's code
          // runs: its marshaller throws INTERNAL "Invalid protobuf byte sequence", which escapes
          // the unary call handler, so the server cancels the call with UNKNOWN (and logs the
          // stack trace at SEVERE).
          undecodableRefusals.increment();
          return null;
        }
        return status.getCode().toString();
      }
      case UNAVAILABLE -> {
        if (call.transportHeaders()) {
          // The same refusal when the node's GOAWAY and close overtake the client's writes (a
          // broken pipe or reset on the call's own connection).
          transportRefusals.increment();
          return null;
        }
        return "UNAVAILABLE";
      }
      case DEADLINE_EXCEEDED -> {
        return "no answer within " + DEADLINE_SECONDS + " s (a hang)";
      }
      default -> {
        return "unexpected status";
      }
    }
  }

  private static void sendRaw(RawInput input) {
    rawInputs.increment();
    ShardcacheNode target = input.tls() ? tlsNode : node;
    try (Socket socket = new Socket()) {
      socket.connect(
          new InetSocketAddress(InetAddress.getLoopbackAddress(), PeerChannels.port(target)),
          5_000);
      socket.setSoTimeout(100);
      OutputStream out = socket.getOutputStream();
      try {
        out.write(input.bytes());
        out.flush();
        if (input.readAnswer()) {
          drain(socket.getInputStream());
        }
      } catch (IOException reset) {
        // the node may close the connection while we write: that is a fine answer to garbage
      }
    } catch (IOException e) {
      crashes.add("cannot connect to " + target + " after raw input " + input + ": " + e);
      throw new UncheckedIOException("the node stopped accepting connections after " + input, e);
    }
    ping(input.tls() ? tlsChannel : channel, "after raw input " + input);
    String intact = checkSentinels();
    if (intact != null) {
      throw new AssertionError(intact + " after raw input " + input);
    }
  }

  private static void drain(InputStream in) throws IOException {
    byte[] buffer = new byte[8192];
    long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(300);
    try {
      while (System.nanoTime() < until && in.read(buffer) >= 0) {
        // read what the node answers (settings, GOAWAY, a TLS alert) until it closes or goes quiet
      }
    } catch (SocketTimeoutException quiet) {
      // nothing more to read
    }
  }

  // ---------------------------------------------------------------- gRPC inputs

  /**
   * One generated call: the RPC's name (for the tallies), the call itself, and whether it is bytes
   * that are not a request message ({@code undecodable}) or goes to a method the node does not have
   * ({@code unknownMethod}).
   */
  record FuzzCall(
      String rpc,
      String summary,
      Function<PeerServiceGrpc.PeerServiceBlockingStub, Object> invoke,
      Metadata headers,
      boolean undecodable,
      boolean unknownMethod,
      boolean transportHeaders) {

    FuzzCall withHeaders(Headers added) {
      return new FuzzCall(
          rpc,
          summary + " with headers " + added.summary(),
          invoke,
          added.metadata(),
          undecodable,
          unknownMethod,
          added.transportLevel());
    }

    @Override
    public String toString() {
      return rpc + "(" + summary + ")";
    }
  }

  private static FuzzCall call(
      String rpc,
      String summary,
      Function<PeerServiceGrpc.PeerServiceBlockingStub, Object> invoke) {
    return new FuzzCall(rpc, summary, invoke, null, false, false, false);
  }

  @Provide
  Arbitrary<FuzzCall> requests() {
    Arbitrary<FuzzCall> bare =
        Arbitraries.frequencyOf(
            Tuple.of(3, gets()),
            Tuple.of(2, getAlls()),
            Tuple.of(3, puts()),
            Tuple.of(2, invalidates()),
            Tuple.of(2, writeAlls()),
            Tuple.of(2, compareAndSets()),
            Tuple.of(1, invalidateAlls()),
            Tuple.of(3, replicates()),
            Tuple.of(2, fetches()),
            Tuple.of(2, digests()),
            Tuple.of(1, pings()),
            Tuple.of(1, refreshes()),
            Tuple.of(1, scanPages()),
            Tuple.of(3, undecodables()));
    return Combinators.combine(bare, headers().injectNull(0.75))
        .as((call, headers) -> headers == null ? call : call.withHeaders(headers));
  }

  private static Arbitrary<FuzzCall> gets() {
    return Combinators.combine(cacheNames(), keys(), Arbitraries.of(true, false), callers())
        .as(
            (cache, key, load, caller) ->
                call(
                    "Get",
                    describe(cache) + ", key " + describe(key) + ", load=" + load,
                    stub ->
                        stub.get(
                            GetRequest.newBuilder()
                                .setCache(cache)
                                .setKey(key)
                                .setLoad(load)
                                .setCaller(caller)
                                .build())));
  }

  private static Arbitrary<FuzzCall> getAlls() {
    return Combinators.combine(cacheNames(), keyLists(), Arbitraries.of(true, false), callers())
        .as(
            (cache, keys, load, caller) ->
                call(
                    "GetAll",
                    describe(cache) + ", " + keys.size() + " keys, load=" + load,
                    stub ->
                        stub.getAll(
                            GetAllRequest.newBuilder()
                                .setCache(cache)
                                .addAllKeys(keys)
                                .setLoad(load)
                                .setCaller(caller)
                                .build())));
  }

  private static Arbitrary<FuzzCall> puts() {
    return Combinators.combine(cacheNames(), keys(), values(), callers())
        .as(
            (cache, key, value, caller) ->
                call(
                    "Put",
                    describe(cache) + ", key " + describe(key) + ", value " + describe(value),
                    stub ->
                        stub.put(
                            PutRequest.newBuilder()
                                .setCache(cache)
                                .setKey(key)
                                .setValue(value)
                                .setCaller(caller)
                                .build())));
  }

  private static Arbitrary<FuzzCall> writeAlls() {
    return batchWrites()
        .map(
            request ->
                call(
                    "WriteAll",
                    describe(request.getCache())
                        + ", "
                        + request.getWritesCount()
                        + " writes, "
                        + request.getSerializedSize()
                        + " bytes, forwarded="
                        + request.getForwarded(),
                    stub -> stub.writeAll(request)));
  }

  @Provide
  Arbitrary<WriteAllRequest> writeAllRequests() {
    return batchWrites();
  }

  private static Arbitrary<WriteAllRequest> batchWrites() {
    return Combinators.combine(
            cacheNames(), keyLists(), values(), Arbitraries.of(true, false), callers())
        .as(FuzzPeerServiceProperties::writeAll);
  }

  /**
   * A batch write of {@code keys}, two writes in three carrying {@code value} (every third a
   * remove), with {@code value} cut so the request stays within {@link #MAX_WRITE_ALL_BYTES}.
   *
   * <p>The cut is what keeps a fuzz run alive: one value is shared by up to 2,000 writes, so 3,000
   * keys with a value of 3 MiB made a request of gigabytes (1.1 and 2.1 GB were seen). The node
   * refuses it from its 5-byte length prefix ({@code RESOURCE_EXHAUSTED}, its handlers untouched),
   * but grpc-java's blocking stub serializes the whole message into Netty's direct buffers before
   * it can read that answer: the call ran past its 10 s deadline with no node thread in the write
   * path, or exhausted the test JVM's direct memory.
   */
  static WriteAllRequest writeAll(
      String cache, List<ByteString> keys, ByteString value, boolean forwarded, String caller) {
    long keyBytes =
        ByteString.copyFromUtf8(cache).size() + ByteString.copyFromUtf8(caller).size() + 16;
    for (ByteString key : keys) {
      keyBytes += key.size() + 16; // the key, and the framing of its write and its value
    }
    long valued = keys.size() - keys.size() / 3;
    long room = Math.max(0, MAX_WRITE_ALL_BYTES - keyBytes);
    ByteString shared =
        valued * value.size() <= room ? value : value.substring(0, (int) (room / valued));
    WriteAllRequest.Builder request =
        WriteAllRequest.newBuilder().setCache(cache).setCaller(caller).setForwarded(forwarded);
    for (int i = 0; i < keys.size(); i++) {
      KeyWrite.Builder write = KeyWrite.newBuilder().setKey(keys.get(i));
      if (i % 3 != 2) {
        write.setValue(shared);
      }
      request.addWrites(write);
    }
    return request.build();
  }

  private static Arbitrary<FuzzCall> invalidates() {
    return Combinators.combine(cacheNames(), keys(), callers())
        .as(
            (cache, key, caller) ->
                call(
                    "Invalidate",
                    describe(cache) + ", key " + describe(key),
                    stub ->
                        stub.invalidate(
                            InvalidateRequest.newBuilder()
                                .setCache(cache)
                                .setKey(key)
                                .setCaller(caller)
                                .build())));
  }

  private static Arbitrary<FuzzCall> compareAndSets() {
    return Combinators.combine(
            cacheNames(), keys(), values().injectNull(0.3), values().injectNull(0.3), callers())
        .as(
            (cache, key, expected, update, caller) -> {
              CompareAndSetRequest.Builder request =
                  CompareAndSetRequest.newBuilder().setCache(cache).setKey(key).setCaller(caller);
              if (expected != null) {
                request.setExpected(expected);
              }
              if (update != null) {
                request.setUpdate(update);
              }
              CompareAndSetRequest built = request.build();
              return call(
                  "CompareAndSet",
                  describe(cache)
                      + ", key "
                      + describe(key)
                      + ", expected "
                      + (expected == null ? "absent" : describe(expected))
                      + ", update "
                      + (update == null ? "absent" : describe(update)),
                  stub -> stub.compareAndSet(built));
            });
  }

  private static Arbitrary<FuzzCall> invalidateAlls() {
    // Never a fuzzed cache: clearing it would (rightly) clear its sentinels.
    Arbitrary<String> names =
        Arbitraries.frequencyOf(
            Tuple.of(2, Arbitraries.just(SCRATCH_CACHE)), Tuple.of(3, unknownCacheNames()));
    return Combinators.combine(names, callers())
        .as(
            (cache, caller) ->
                call(
                    "InvalidateAll",
                    describe(cache),
                    stub ->
                        stub.invalidateAll(
                            InvalidateAllRequest.newBuilder()
                                .setCache(cache)
                                .setCaller(caller)
                                .build())));
  }

  private static Arbitrary<FuzzCall> replicates() {
    Arbitrary<VersionedEntry> entry =
        Combinators.combine(keys(), values().injectNull(0.2), timestamps(), Arbitraries.longs())
            .as(
                (key, value, timestamp, writer) -> {
                  VersionedEntry.Builder built =
                      VersionedEntry.newBuilder()
                          .setKey(key)
                          .setTimestamp(timestamp)
                          .setWriter(writer);
                  if (value != null) {
                    built.setValue(value);
                  }
                  return built.build();
                });
    Arbitrary<List<VersionedEntry>> entries =
        Arbitraries.frequencyOf(
            Tuple.of(8, entry.list().ofMaxSize(8)),
            Tuple.of(
                1,
                Combinators.combine(Arbitraries.integers().between(500, 5_000), Arbitraries.longs())
                    .as(FuzzPeerServiceProperties::manySmallEntries)));
    Arbitrary<CacheBatch> batch =
        Combinators.combine(cacheNames(), entries, keys().list().ofMaxSize(5))
            .as(
                (cache, list, near) ->
                    CacheBatch.newBuilder()
                        .setCache(cache)
                        .addAllEntries(list)
                        .addAllNearInvalidations(near)
                        .build());
    return Combinators.combine(batch.list().ofMaxSize(4), callers())
        .as(
            (batches, caller) -> {
              ReplicateRequest request =
                  ReplicateRequest.newBuilder().addAllBatches(batches).setCaller(caller).build();
              StringBuilder summary = new StringBuilder();
              for (CacheBatch b : batches) {
                summary
                    .append(describe(b.getCache()))
                    .append(": ")
                    .append(b.getEntriesCount())
                    .append(" entries")
                    .append(
                        b.getEntriesCount() == 0
                            ? ""
                            : " (first ts " + b.getEntries(0).getTimestamp() + ")")
                    .append(", ")
                    .append(b.getNearInvalidationsCount())
                    .append(" near; ");
              }
              return call(
                  "Replicate",
                  batches.size() + " batches: " + summary,
                  stub -> stub.replicate(request));
            });
  }

  private static List<VersionedEntry> manySmallEntries(int count, long seed) {
    Random random = new Random(seed);
    List<VersionedEntry> entries = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      entries.add(
          VersionedEntry.newBuilder()
              .setKey(ByteString.copyFromUtf8("bulk-" + random.nextInt(100_000)))
              .setValue(ByteString.copyFromUtf8("v" + i))
              .setTimestamp(random.nextLong() >>> 1)
              .setWriter(random.nextLong())
              .build());
    }
    return entries;
  }

  private static Arbitrary<FuzzCall> fetches() {
    return Combinators.combine(cacheNames(), keyLists(), callers())
        .as(
            (cache, keys, caller) ->
                call(
                    "Fetch",
                    describe(cache) + ", " + keys.size() + " keys",
                    stub ->
                        stub.fetch(
                            FetchRequest.newBuilder()
                                .setCache(cache)
                                .addAllKeys(keys)
                                .setCaller(caller)
                                .build())));
  }

  private static Arbitrary<FuzzCall> digests() {
    Arbitrary<Integer> counts =
        Arbitraries.frequencyOf(
            Tuple.of(3, Arbitraries.of(0, 1, 2, 3, 7, 1_000, 1_023, 1_024, 1_025, 4_096)),
            Tuple.of(2, Arbitraries.integers().between(0, 5_000)),
            Tuple.of(1, Arbitraries.of(1 << 14, 1 << 16, 100_000, 1 << 17, 140_000)));
    // The node's own address as caller makes it digest the keys it "shares" with itself: all.
    Arbitrary<String> callers =
        Arbitraries.frequencyOf(
            Tuple.of(3, callers()), Tuple.of(1, Arbitraries.create(() -> node.address())));
    return Combinators.combine(cacheNames(), counts, Arbitraries.longs(), callers)
        .as(
            (cache, count, seed, caller) -> {
              Random random = new Random(seed);
              DigestRequest.Builder request =
                  DigestRequest.newBuilder().setCache(cache).setCaller(caller);
              // A third of the requests ask for a later page of an answer: bucket numbers in and
              // out of range, any hash to go on after, any bound on the answer.
              boolean page = random.nextInt(3) == 0;
              if (page) {
                DigestPage.Builder later =
                    DigestPage.newBuilder().setBucketCount(count).setAfterHash(random.nextLong());
                for (int i = 0, n = random.nextInt(2_000); i < n; i++) {
                  later.addDiffering(
                      random.nextInt(8) == 0 ? random.nextInt() : random.nextInt(count + 1));
                }
                request.setPage(later);
              } else {
                for (int i = 0; i < count; i++) {
                  request.addBuckets(random.nextInt(4) == 0 ? 0 : random.nextLong());
                }
              }
              request.setMaxAnswerBytes(
                  switch (random.nextInt(4)) {
                    case 0 -> 0;
                    case 1 -> random.nextInt(); // negative half the time
                    case 2 -> random.nextInt(100_000);
                    default -> Integer.MAX_VALUE;
                  });
              DigestRequest built = request.build();
              return call(
                  "Digest",
                  describe(cache)
                      + ", "
                      + count
                      + (page
                          ? " buckets' page after " + built.getPage().getAfterHash()
                          : " buckets")
                      + ", max answer "
                      + built.getMaxAnswerBytes()
                      + ", caller "
                      + describe(caller),
                  stub -> stub.digest(built));
            });
  }

  private static Arbitrary<FuzzCall> refreshes() {
    return Combinators.combine(cacheNames(), keys(), callers())
        .as(
            (cache, key, caller) ->
                call(
                    "Refresh",
                    describe(cache) + ", key " + describe(key),
                    stub ->
                        stub.refresh(
                            RefreshRequest.newBuilder()
                                .setCache(cache)
                                .setKey(key)
                                .setCaller(caller)
                                .build())));
  }

  private static Arbitrary<FuzzCall> scanPages() {
    Arbitrary<Integer> bounds =
        Arbitraries.frequencyOf(
            Tuple.of(1, Arbitraries.of(0, -1, Integer.MIN_VALUE, 1, 16_384, Integer.MAX_VALUE)),
            Tuple.of(2, Arbitraries.integers()));
    return Combinators.combine(cacheNames(), Arbitraries.longs().injectNull(0.3), bounds, callers())
        .as(
            (cache, after, bound, caller) -> {
              ScanPageRequest.Builder request =
                  ScanPageRequest.newBuilder()
                      .setCache(cache)
                      .setCaller(caller)
                      .setMaxAnswerBytes(bound);
              if (after != null) {
                request.setAfterHash(after);
              }
              ScanPageRequest built = request.build();
              return call(
                  "ScanPage",
                  describe(cache)
                      + (after == null ? ", first page" : ", after " + after)
                      + ", max answer "
                      + bound,
                  stub -> stub.scanPage(built));
            });
  }

  private static Arbitrary<FuzzCall> pings() {
    return callers()
        .map(
            caller ->
                call(
                    "Ping",
                    "caller " + describe(caller),
                    stub -> stub.ping(PingRequest.newBuilder().setCaller(caller).build())));
  }

  private static final List<String> METHODS =
      PeerServiceGrpc.getServiceDescriptor().getMethods().stream()
          .map(MethodDescriptor::getFullMethodName)
          .sorted()
          .toList();

  private static final Map<String, MethodDescriptor.MethodType> METHOD_TYPES =
      PeerServiceGrpc.getServiceDescriptor().getMethods().stream()
          .collect(toMap(MethodDescriptor::getFullMethodName, MethodDescriptor::getType));

  /**
   * Sends {@code payload} on a server-streaming method ({@code Subscribe}) and returns its first
   * answer, or throws the status it ended with. A subscription that parses is accepted and stays
   * open by design (it never ends on its own while both nodes run), so its answer is its first
   * message, not its end; the call is then cancelled, which must release the subscription.
   */
  private static Object firstAnswerOfStream(
      PeerServiceGrpc.PeerServiceBlockingStub stub,
      MethodDescriptor<byte[], byte[]> descriptor,
      byte[] payload) {
    ClientCall<byte[], byte[]> call = stub.getChannel().newCall(descriptor, stub.getCallOptions());
    Iterator<byte[]> answers = ClientCalls.blockingServerStreamingCall(call, payload);
    try {
      return answers.hasNext() ? answers.next() : "ended with OK";
    } finally {
      call.cancel("the fuzzer has the first answer", null);
    }
  }

  /** Bytes that are not (or not quite) a request message, to a real or an unknown method. */
  private static Arbitrary<FuzzCall> undecodables() {
    Arbitrary<String> methods =
        Arbitraries.frequencyOf(
            Tuple.of(6, Arbitraries.of(METHODS)),
            Tuple.of(
                1,
                Arbitraries.of(
                    "shardcache.v1.PeerService/Nope",
                    "shardcache.v1.PeerService/get",
                    "shardcache.v2.PeerService/Get",
                    "grpc.health.v1.Health/Watchh",
                    "x/y")));
    Arbitrary<byte[]> payloads =
        Arbitraries.frequencyOf(
            Tuple.of(3, Arbitraries.bytes().array(byte[].class).ofMaxSize(200)),
            Tuple.of(
                3,
                Combinators.combine(validRequestBytes(), Arbitraries.longs())
                    .as(FuzzPeerServiceProperties::mutate)),
            Tuple.of(
                1,
                Arbitraries.of(
                    new byte[] {
                      (byte) 0x80,
                      (byte) 0x80,
                      (byte) 0x80,
                      (byte) 0x80,
                      (byte) 0x80,
                      (byte) 0x80,
                      (byte) 0x80,
                      (byte) 0x80,
                      (byte) 0x80,
                      (byte) 0x80,
                      0x01
                    }, // an over-long varint tag
                    new byte[] {
                      0x0a, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f
                    }, // length 4 GiB
                    new byte[] {
                      0x0a, 0x02, (byte) 0xc3, 0x28
                    }, // field 1 (string) with malformed UTF-8
                    new byte[] {
                      0x0a, 0x03, (byte) 0xed, (byte) 0xa0, (byte) 0x80
                    }, // an encoded surrogate
                    new byte[] {0x0b}, // a start-group tag with no end
                    new byte[] {0x12, 0x05, 0x01}))); // a length beyond the end
    return Combinators.combine(methods, payloads)
        .filter((method, payload) -> !mayTouchSentinels(method, payload))
        .as(FuzzPeerServiceProperties::rawCall);
  }

  /** Bytes sent as the request message of {@code method}, which the node may not serve. */
  private static FuzzCall rawCall(String method, byte[] payload) {
    boolean unknown = !METHODS.contains(method);
    MethodDescriptor.MethodType type = unknown ? UNARY : METHOD_TYPES.get(method);
    MethodDescriptor<byte[], byte[]> descriptor =
        MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(type)
            .setFullMethodName(method)
            .setRequestMarshaller(BYTES)
            .setResponseMarshaller(BYTES)
            .build();
    return new FuzzCall(
        unknown ? "Unknown" : "Raw " + method.substring(method.indexOf('/') + 1),
        method + " <- " + payload.length + " bytes " + hex(payload, 24),
        stub ->
            type == UNARY
                ? ClientCalls.blockingUnaryCall(
                    stub.getChannel(), descriptor, stub.getCallOptions(), payload)
                : firstAnswerOfStream(stub, descriptor, payload),
        null,
        true,
        unknown,
        false);
  }

  /**
   * Whether bytes sent to {@code method} might, if they parse, clear a fuzzed cache (an
   * InvalidateAll naming it) or name a sentinel cache or key: such inputs are left out, as the
   * typed generators leave them out.
   */
  static boolean mayTouchSentinels(String method, byte[] payload) {
    if (method.equals(PeerServiceGrpc.getInvalidateAllMethod().getFullMethodName())) {
      try {
        String cache = InvalidateAllRequest.parseFrom(payload).getCache();
        if (FUZZED_CACHES.contains(cache) || cache.equals(SENTINEL_CACHE)) {
          return true;
        }
      } catch (com.google.protobuf.InvalidProtocolBufferException unparseable) {
        // the node cannot parse it either
      }
    }
    return indexOf(payload, "sentinel".getBytes(US_ASCII)) >= 0;
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  /**
   * The serialized form of a valid request to some method (the method may differ from the target).
   */
  private static Arbitrary<byte[]> validRequestBytes() {
    return Combinators.combine(cacheNames(), keys(), values(), timestamps())
        .as(
            (cache, key, value, timestamp) -> {
              List<byte[]> all =
                  List.of(
                      GetRequest.newBuilder()
                          .setCache(cache)
                          .setKey(key)
                          .setLoad(true)
                          .build()
                          .toByteArray(),
                      PutRequest.newBuilder()
                          .setCache(cache)
                          .setKey(key)
                          .setValue(value)
                          .build()
                          .toByteArray(),
                      ReplicateRequest.newBuilder()
                          .addBatches(
                              CacheBatch.newBuilder()
                                  .setCache(cache)
                                  .addEntries(
                                      VersionedEntry.newBuilder()
                                          .setKey(key)
                                          .setValue(value)
                                          .setTimestamp(timestamp)))
                          .build()
                          .toByteArray(),
                      DigestRequest.newBuilder()
                          .setCache(cache)
                          .addBuckets(timestamp)
                          .addBuckets(1)
                          .build()
                          .toByteArray());
              return all.get(Math.floorMod(timestamp, all.size()));
            });
  }

  /** Flips, truncates, or splices bytes of {@code bytes}, as chosen by {@code seed}. */
  private static byte[] mutate(byte[] bytes, long seed) {
    Random random = new Random(seed);
    byte[] copy = bytes.clone();
    switch (random.nextInt(4)) {
      case 0 -> {
        for (int i = 0, n = 1 + random.nextInt(4); i < n && copy.length > 0; i++) {
          copy[random.nextInt(copy.length)] ^= (byte) (1 << random.nextInt(8));
        }
        return copy;
      }
      case 1 -> {
        return Arrays.copyOf(copy, copy.length == 0 ? 0 : random.nextInt(copy.length));
      }
      case 2 -> {
        byte[] longer = Arrays.copyOf(copy, copy.length + 1 + random.nextInt(16));
        for (int i = copy.length; i < longer.length; i++) {
          longer[i] = (byte) random.nextInt();
        }
        return longer;
      }
      default -> {
        if (copy.length > 0) {
          copy[0] = (byte) random.nextInt(); // a random first tag: wrong field or wire type
        }
        return copy;
      }
    }
  }

  private static final MethodDescriptor.Marshaller<byte[]> BYTES =
      new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
          return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
          try {
            return stream.readAllBytes();
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
      };

  // ---------------------------------------------------------------- fields

  /**
   * Cache names: the fuzzed ones mostly, near misses, and anything else; never the sentinel cache.
   */
  private static Arbitrary<String> cacheNames() {
    return Arbitraries.frequencyOf(
        Tuple.of(12, Arbitraries.of(FUZZED_CACHES)), Tuple.of(2, unknownCacheNames()));
  }

  private static Arbitrary<String> unknownCacheNames() {
    return Arbitraries.frequencyOf(
            Tuple.of(
                3,
                Arbitraries.of(
                    "",
                    " ",
                    "text ",
                    "TEXT",
                    "text\u0000",
                    "sentinels/",
                    "scratch2",
                    "t\u00e9xt",
                    "\u30c6\u30ad\u30b9\u30c8",
                    "\ud83d\udd11",
                    "\uffff",
                    "../text",
                    "%s%n")),
            Tuple.of(3, Arbitraries.strings().all().ofMaxLength(40)),
            Tuple.of(1, Arbitraries.integers().between(257, 200_000).map(n -> "c".repeat(n))))
        .filter(name -> !name.equals(SENTINEL_CACHE) && !FUZZED_CACHES.contains(name));
  }

  private static String describe(String name) {
    if (name.length() > 24) {
      return "'" + name.substring(0, 12) + "...' (" + name.length() + " chars)";
    }
    return "'" + name + "'";
  }

  private static String describe(ByteString bytes) {
    return bytes.size() + " bytes " + hex(bytes.toByteArray(), 12);
  }

  private static String hex(byte[] bytes, int limit) {
    StringBuilder hex = new StringBuilder();
    for (int i = 0; i < Math.min(limit, bytes.length); i++) {
      hex.append(String.format("%02x", bytes[i]));
    }
    return hex + (bytes.length > limit ? "..." : "");
  }

  /**
   * Keys: a small pool the fuzzer reuses, random bytes, malformed UTF-8, oversized; never a
   * sentinel.
   */
  private static Arbitrary<ByteString> keys() {
    return Arbitraries.frequencyOf(
            Tuple.of(
                4,
                Arbitraries.integers()
                    .between(0, 19)
                    .map(i -> ByteString.copyFromUtf8("pool-" + i))),
            Tuple.of(
                1,
                Arbitraries.integers()
                    .between(0, 5)
                    .map(i -> ByteString.copyFromUtf8("fail-" + i))),
            Tuple.of(
                1,
                Arbitraries.of(
                    ByteString.EMPTY,
                    ByteString.copyFromUtf8("sentinel"),
                    ByteString.copyFromUtf8("sentinel-"),
                    ByteString.copyFromUtf8("Sentinel-1"))),
            Tuple.of(3, Arbitraries.strings().all().ofMaxLength(30).map(ByteString::copyFromUtf8)),
            Tuple.of(3, blobs(0, 64)),
            Tuple.of(2, malformedUtf8()),
            Tuple.of(1, blobs(MAX_KEY - 2, MAX_KEY + 2)),
            Tuple.of(1, blobs(MAX_KEY + 3, 100_000)))
        .filter(key -> !isSentinelKey(key));
  }

  private static boolean isSentinelKey(ByteString key) {
    return key.size() > SENTINEL_PREFIX.length
        && key.startsWith(ByteString.copyFrom(SENTINEL_PREFIX));
  }

  private static Arbitrary<List<ByteString>> keyLists() {
    return Arbitraries.frequencyOf(
        Tuple.of(6, keys().list().ofMaxSize(10)),
        Tuple.of(
            1,
            Combinators.combine(Arbitraries.integers().between(990, 3_000), Arbitraries.longs())
                .as(
                    (count, seed) -> {
                      Random random = new Random(seed);
                      List<ByteString> keys = new ArrayList<>(count);
                      for (int i = 0; i < count; i++) {
                        keys.add(ByteString.copyFromUtf8("many-" + random.nextInt(10_000)));
                      }
                      return keys;
                    })));
  }

  /** Values: random bytes, longs of every length, malformed UTF-8, and sizes around the limits. */
  private static Arbitrary<ByteString> values() {
    return Arbitraries.frequencyOf(
        Tuple.of(4, blobs(0, 64)),
        Tuple.of(3, Arbitraries.integers().between(0, 16).flatMap(n -> blobs(n, n))),
        Tuple.of(2, Arbitraries.strings().all().ofMaxLength(40).map(ByteString::copyFromUtf8)),
        Tuple.of(2, malformedUtf8()),
        Tuple.of(1, blobs(MAX_VALUE - 2, MAX_VALUE + 2)),
        Tuple.of(1, blobs(MAX_VALUE + 3, MAX_MESSAGE - 100)),
        Tuple.of(1, blobs(MAX_MESSAGE - 100, MAX_MESSAGE + 200)),
        Tuple.of(1, blobs(MAX_MESSAGE + 201, 3 * MAX_MESSAGE)));
  }

  /**
   * Random bytes of a length in [min, max], made from a seed (so large ones are cheap to shrink).
   */
  private static Arbitrary<ByteString> blobs(int min, int max) {
    return Combinators.combine(Arbitraries.integers().between(min, max), Arbitraries.longs())
        .as(
            (size, seed) -> {
              byte[] bytes = new byte[size];
              new Random(seed).nextBytes(bytes);
              return ByteString.copyFrom(bytes);
            });
  }

  /** UTF-8 text with one malformed sequence spliced in. */
  private static Arbitrary<ByteString> malformedUtf8() {
    byte[][] bad = {
      {(byte) 0x80},
      {(byte) 0xbf},
      {(byte) 0xc0, (byte) 0x80},
      {(byte) 0xc1, (byte) 0xbf},
      {(byte) 0xe0, (byte) 0x80, (byte) 0x80},
      {(byte) 0xed, (byte) 0xa0, (byte) 0x80},
      {(byte) 0xed, (byte) 0xbf, (byte) 0xbf},
      {(byte) 0xf4, (byte) 0x90, (byte) 0x80, (byte) 0x80},
      {(byte) 0xf8, (byte) 0x88, (byte) 0x80, (byte) 0x80, (byte) 0x80},
      {(byte) 0xfe},
      {(byte) 0xff},
      {(byte) 0xe2, (byte) 0x82},
      {(byte) 0xc3}
    };
    return Combinators.combine(
            Arbitraries.strings().alpha().ofMaxLength(10),
            Arbitraries.of(bad),
            Arbitraries.strings().alpha().ofMaxLength(10))
        .as(
            (before, sequence, after) ->
                ByteString.copyFromUtf8(before)
                    .concat(ByteString.copyFrom(sequence))
                    .concat(ByteString.copyFromUtf8(after)));
  }

  private static Arbitrary<Long> timestamps() {
    long now = System.currentTimeMillis() << 16;
    return Arbitraries.frequencyOf(
        Tuple.of(
            3,
            Arbitraries.of(
                Long.MIN_VALUE,
                -1L,
                0L,
                1L,
                Long.MAX_VALUE,
                now,
                now + (60_000L << 16),
                now + (3_600_000L << 16),
                ((1L << 48) - 1) << 16,
                Long.MAX_VALUE >>> 1)),
        Tuple.of(2, Arbitraries.longs()),
        Tuple.of(2, Arbitraries.longs().between(0, now)));
  }

  private static Arbitrary<String> callers() {
    return Arbitraries.frequencyOf(
        Tuple.of(4, Arbitraries.just("")),
        Tuple.of(
            2,
            Arbitraries.of(
                "127.0.0.1:1", "localhost:7070", "[::1]:0", "not an address", "a:b:c:d")),
        Tuple.of(2, Arbitraries.strings().all().ofMaxLength(30)),
        Tuple.of(1, Arbitraries.integers().between(1_000, 100_000).map(n -> "x".repeat(n))));
  }

  // ---------------------------------------------------------------- metadata

  /**
   * Generated metadata; {@code transportLevel} when it holds a name HTTP/2 or gRPC reserve for the
   * transport (such as {@code connection}, {@code te}, {@code grpc-timeout}) or more bytes than the
   * node's 16 KiB header limit.
   */
  record Headers(Metadata metadata, String summary, boolean transportLevel) {}

  private static final List<String> RESERVED =
      List.of(
          "grpc-timeout",
          "grpc-encoding",
          "grpc-accept-encoding",
          "content-type",
          "te",
          "user-agent",
          "grpc-status",
          "grpc-message",
          "grpc-previous-rpc-attempts",
          "shardcache-auth",
          "authorization",
          "host",
          "connection",
          "transfer-encoding",
          "grpc-trace-bin",
          "grpc-tags-bin",
          "content-length");

  private static Arbitrary<Headers> headers() {
    Arbitrary<String> names =
        Arbitraries.frequencyOf(
            Tuple.of(2, Arbitraries.of(RESERVED)),
            Tuple.of(
                3,
                Arbitraries.strings()
                    .withChars("abcdefghijklmnopqrstuvwxyz0123456789-_.")
                    .ofMinLength(1)
                    .ofMaxLength(30)));
    Arbitrary<String> values =
        Arbitraries.frequencyOf(
            Tuple.of(5, Arbitraries.strings().withCharRange(' ', '~').ofMaxLength(60)),
            Tuple.of(
                2,
                Arbitraries.of(
                    "",
                    "gzip",
                    "identity",
                    "snappy",
                    "1n",
                    "99999999H",
                    "-5S",
                    "application/grpc+json",
                    "text/html",
                    "v1.0.AAAA",
                    "v1." + Long.MIN_VALUE + ".x",
                    "trailers")),
            Tuple.of(1, Arbitraries.integers().between(4_000, 40_000).map(n -> "h".repeat(n))));
    Arbitrary<Map.Entry<String, Object>> header =
        Combinators.combine(names, values, blobs(0, 300), Arbitraries.of(true, false))
            .as(
                (name, value, binary, useBinary) ->
                    useBinary || name.endsWith("-bin")
                        ? Map.entry(
                            name.endsWith("-bin") ? name : name + "-bin", binary.toByteArray())
                        : Map.entry(name, value));
    return header
        .list()
        .ofMinSize(1)
        .ofMaxSize(8)
        .map(
            list -> {
              Metadata metadata = new Metadata();
              Map<String, Integer> sizes = new LinkedHashMap<>();
              // HTTP/2 counts a header as name + value + 32 bytes; binary values go base64-encoded;
              // the
              // client's own headers (path, content type, user agent, deadline...) take a few
              // hundred.
              int listSize = 512;
              for (Map.Entry<String, Object> entry : list) {
                if (entry.getValue() instanceof byte[] bytes) {
                  metadata.put(
                      Metadata.Key.of(entry.getKey(), Metadata.BINARY_BYTE_MARSHALLER), bytes);
                  sizes.merge(entry.getKey(), bytes.length, Integer::sum);
                  listSize += entry.getKey().length() + 4 * ((bytes.length + 2) / 3) + 32;
                } else {
                  String value = (String) entry.getValue();
                  metadata.put(
                      Metadata.Key.of(entry.getKey(), Metadata.ASCII_STRING_MARSHALLER), value);
                  sizes.merge(entry.getKey(), value.length(), Integer::sum);
                  listSize += entry.getKey().length() + value.length() + 32;
                }
              }
              boolean transportLevel =
                  sizes.keySet().stream().anyMatch(RESERVED::contains) || listSize > 16 * 1024;
              return new Headers(metadata, sizes.toString(), transportLevel);
            });
  }

  // ---------------------------------------------------------------- raw socket inputs

  /** Bytes for a TCP connection to the plaintext node, or the TLS one. */
  @SuppressWarnings("ArrayRecordComponent") // a fuzz input, printed but never compared by value
  record RawInput(String kind, byte[] bytes, boolean tls, boolean readAnswer) {
    @Override
    public String toString() {
      return kind
          + " to the "
          + (tls ? "TLS" : "plaintext")
          + " node, "
          + bytes.length
          + " bytes "
          + hex(bytes, 32);
    }
  }

  @Provide
  Arbitrary<RawInput> rawInputs() {
    // The CRLF line ends are the point of this input; a text block would hide them in escapes.
    @SuppressWarnings("StringConcatToTextBlock")
    byte[] h2cUpgrade =
        ("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                + "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
            .getBytes(US_ASCII);
    Arbitrary<Map.Entry<String, byte[]>> payloads =
        Arbitraries.frequencyOf(
            Tuple.of(
                2,
                Arbitraries.bytes()
                    .array(byte[].class)
                    .ofMinSize(1)
                    .ofMaxSize(4096)
                    .map(b -> Map.entry("random bytes", b))),
            Tuple.of(
                2,
                Arbitraries.integers()
                    .between(0, PREFACE.length - 1)
                    .map(n -> Map.entry("truncated preface", Arrays.copyOf(PREFACE, n)))),
            Tuple.of(
                2,
                Arbitraries.bytes()
                    .array(byte[].class)
                    .ofMaxSize(512)
                    .map(b -> Map.entry("preface then random bytes", concat(PREFACE, b)))),
            Tuple.of(
                4,
                Arbitraries.longs()
                    .map(seed -> Map.entry("preface then random frames", randomFrames(seed)))),
            Tuple.of(
                4,
                Combinators.combine(Arbitraries.of(METHODS), Arbitraries.longs())
                    .as(
                        (method, seed) ->
                            Map.entry("broken gRPC call", brokenGrpcCall(method, seed)))),
            Tuple.of(
                1,
                Arbitraries.of(
                    Map.entry(
                        "HTTP/1.1 request",
                        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".getBytes(US_ASCII)),
                    Map.entry("HTTP/1.1 upgrade to h2c", h2cUpgrade),
                    Map.entry(
                        "TLS ClientHello prefix",
                        new byte[] {
                          0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc, 0x03, 0x03
                        }),
                    Map.entry(
                        "TLS record of 16 MiB",
                        new byte[] {0x16, 0x03, 0x03, (byte) 0xff, (byte) 0xff}),
                    Map.entry("nothing", new byte[0]))));
    return Combinators.combine(
            payloads, Arbitraries.of(false, false, true), Arbitraries.of(true, false))
        .as((payload, tls, read) -> new RawInput(payload.getKey(), payload.getValue(), tls, read));
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] part : parts) {
      out.writeBytes(part);
    }
    return out.toByteArray();
  }

  private static byte[] randomFrames(long seed) {
    Random random = new Random(seed);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(PREFACE);
    if (random.nextBoolean()) {
      out.writeBytes(EMPTY_SETTINGS);
    }
    for (int i = 0, n = 1 + random.nextInt(6); i < n; i++) {
      byte[] payload = new byte[random.nextInt(64)];
      random.nextBytes(payload);
      int type = random.nextInt(12); // 0-9 are defined frame types, 10-11 unknown
      int flags = random.nextInt(256);
      int stream = random.nextInt(3) == 0 ? 0 : random.nextInt(8) * 2 + 1;
      int declared =
          switch (random.nextInt(5)) {
            case 0 -> (1 << 24) - 1; // over any frame size
            case 1 -> payload.length + 1 + random.nextInt(100); // promises more than comes
            default -> payload.length;
          };
      if (type == 4 && random.nextBoolean()) {
        // settings with out-of-range values: window > 2^31-1, frame size < 16 KiB, push = 2
        int id = 1 + random.nextInt(6);
        int value = random.nextBoolean() ? 0xffffffff : random.nextInt(3);
        payload = ByteBuffer.allocate(6).putShort((short) id).putInt(value).array();
        declared = random.nextInt(3) == 0 ? 5 : 6;
      } else if (type == 8 && random.nextBoolean()) {
        payload =
            ByteBuffer.allocate(4)
                .putInt(random.nextBoolean() ? 0 : 0x7fffffff)
                .array(); // window update
        declared = 4;
      }
      out.writeBytes(frame(declared, type, flags, stream, payload));
    }
    return out.toByteArray();
  }

  /**
   * A connection that starts a real gRPC call to {@code method} with hand-encoded HPACK headers,
   * then breaks it: bad header encoding, bad pseudo-headers, a message whose 5-byte prefix lies
   * about its length or claims compression, a message over the size limit, or data after the end.
   */
  private static byte[] brokenGrpcCall(String method, long seed) {
    Random random = new Random(seed);
    ByteArrayOutputStream headers = new ByteArrayOutputStream();
    literal(headers, ":method", random.nextInt(8) == 0 ? "GET" : "POST");
    literal(headers, ":scheme", "http");
    literal(headers, ":path", random.nextInt(8) == 0 ? "/" + method + "/../x" : "/" + method);
    literal(headers, ":authority", "127.0.0.1");
    literal(
        headers, "content-type", random.nextInt(8) == 0 ? "application/json" : "application/grpc");
    literal(headers, "te", "trailers");
    switch (random.nextInt(6)) {
      case 0 -> literal(headers, "grpc-timeout", random.nextBoolean() ? "garbage" : "99999999999H");
      case 1 -> literal(headers, "grpc-encoding", random.nextBoolean() ? "gzip" : "no-such-codec");
      case 2 -> literal(headers, "x-big", "b".repeat(17 * 1024)); // over the 16 KiB header limit
      case 3 -> {
        byte[] junk = new byte[1 + random.nextInt(20)];
        random.nextBytes(junk);
        headers.writeBytes(junk); // broken HPACK
      }
      case 4 -> literal(headers, "Upper-Case", "x"); // HTTP/2 forbids upper-case names
      default -> {}
    }
    byte[] block = headers.toByteArray();
    byte[] message = new byte[random.nextInt(200)];
    do {
      random.nextBytes(message);
    } while (mayTouchSentinels(method, message));
    int declared =
        switch (random.nextInt(5)) {
          case 0 -> Integer.MAX_VALUE; // "a 2 GiB message follows"
          case 1 -> MAX_MESSAGE + 1;
          case 2 -> message.length + 1 + random.nextInt(1000);
          default -> message.length;
        };
    byte compressed = (byte) (random.nextInt(4) == 0 ? 1 : random.nextInt(8) == 0 ? 7 : 0);
    byte[] data = Http2Frames.grpcMessage(compressed, declared, message);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(PREFACE);
    out.writeBytes(EMPTY_SETTINGS);
    // Headers in one frame (so a block over 16 KiB is also over the frame size), sometimes ending
    // the stream before its data; then the data, ending the stream or not.
    out.writeBytes(
        frame(
            Http2Frames.HEADERS,
            Http2Frames.END_HEADERS | (random.nextInt(4) == 0 ? Http2Frames.END_STREAM : 0),
            1,
            block));
    out.writeBytes(
        frame(Http2Frames.DATA, random.nextBoolean() ? Http2Frames.END_STREAM : 0, 1, data));
    if (random.nextInt(4) == 0) {
      out.writeBytes(
          frame(Http2Frames.DATA, 0, 1, new byte[] {1, 2, 3})); // data after the stream ended
    }
    if (random.nextInt(4) == 0) {
      out.writeBytes(
          frame(Http2Frames.RST_STREAM, 0, 1, ByteBuffer.allocate(4).putInt(8).array())); // CANCEL
    }
    return out.toByteArray();
  }
}
