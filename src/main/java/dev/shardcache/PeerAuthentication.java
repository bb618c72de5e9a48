package dev.shardcache;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import com.google.common.hash.HashCode;
import com.google.protobuf.MessageLite;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.security.DigestOutputStream;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.jspecify.annotations.Nullable;

/**
 * Peer authentication by a shared cluster secret, with tokens that cannot be replayed.
 *
 * <p>Every call a node makes carries a {@link PeerToken} in the {@code shardcache-auth} header: an
 * HMAC-SHA256 under the secret that binds the call's method, its caller, the node it was sent to, a
 * random nonce, the time, and a SHA-256 digest of the request message. The serving node accepts the
 * call only if, in this order:
 *
 * <ol>
 *   <li>the token is a well-formed v2 token ({@link Refusal#MALFORMED}; a v1 token of an older node
 *       is {@link Refusal#OLD_VERSION});
 *   <li>its MAC is right for the method called, compared in constant time ({@link
 *       Refusal#SIGNATURE});
 *   <li>its time is within {@link #WINDOW} of the node's clock ({@link Refusal#STALE});
 *   <li>it names this node, as it advertises itself, as the target ({@link Refusal#WRONG_TARGET}):
 *       a token sniffed on its way to one member is no use at another;
 *   <li>its nonce was not seen within the window ({@link Refusal#REPLAY}), by {@link SeenNonces};
 *   <li>the request message, when it arrives and before the service sees it, has the digest the
 *       token names ({@link Refusal#BODY}): valid headers cannot carry another message.
 * </ol>
 *
 * A refused call is answered {@code UNAUTHENTICATED} (a node that cannot remember more nonces
 * answers {@code RESOURCE_EXHAUSTED}, {@link Refusal#NONCE_CAPACITY}), counted by reason, and
 * logged at most once per {@link #LOG_INTERVAL}. So a token captured without TLS can be used for
 * nothing: not again, not elsewhere, not with another message, not later.
 *
 * <p>Authentication is mutual: the serving node proves the secret in a {@code
 * shardcache-auth-reply} (an HMAC of the caller's token, which is unique to the call) in the
 * response headers and again in the trailers, and the caller checks it on every answer, errors
 * included (an error sent before any header arrives in trailers only). An answer without a valid
 * proof is {@code UNAUTHENTICATED} ({@link Refusal#UNPROVEN_REPLY}), which callers treat as an
 * unreachable peer and fail over, so a process at a member's address without the secret can neither
 * call the cluster nor make callers drop work by answering errors. Ends the caller sees without any
 * answer keep their status: {@code UNAVAILABLE}, {@code CANCELLED}, and {@code DEADLINE_EXCEEDED}
 * once the deadline has passed.
 *
 * <p>Tokens still do not hide traffic, nor protect answers from being altered in transit: use TLS
 * wherever the network is not trusted. All members must run this token version (v2); a v1 member is
 * refused. Thread-safe.
 */
final class PeerAuthentication {
  private static final Logger logger = Logger.getLogger(PeerAuthentication.class.getName());

  static final Metadata.Key<String> TOKEN =
      Metadata.Key.of("shardcache-auth", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<String> REPLY =
      Metadata.Key.of("shardcache-auth-reply", Metadata.ASCII_STRING_MARSHALLER);

  /** How far a token's time may be from the serving node's clock, either way. */
  static final Duration WINDOW = Duration.ofMinutes(1);

  /** How long past the window a nonce is kept (see {@link SeenNonces}). */
  static final Duration NONCE_MARGIN = Duration.ofSeconds(15);

  static final Duration LOG_INTERVAL = Duration.ofSeconds(10);
  private static final String ALGORITHM = "HmacSHA256";
  private static final Base64.Encoder BASE64URL = Base64.getUrlEncoder().withoutPadding();

  /** Why a call or an answer was refused; each is counted. */
  enum Refusal {
    /** The call carried no token. */
    MISSING,
    /** The token is not a well-formed v2 token. */
    MALFORMED,
    /** The token is of another version: v1, from a node not yet upgraded. */
    OLD_VERSION,
    /** The MAC is wrong: another secret, another method, or a forgery. */
    SIGNATURE,
    /** The token's time is more than the window away from this node's clock. */
    STALE,
    /** The token was made for another node. */
    WRONG_TARGET,
    /** The token's nonce was seen before: a replay. */
    REPLAY,
    /** The request message is not the one the token was made for. */
    BODY,
    /** This node keeps its {@code maxNonces} nonces and cannot take more until some expire. */
    NONCE_CAPACITY,
    /** Caller side: a peer's answer did not prove the secret. */
    UNPROVEN_REPLY
  }

  private final SecretKeySpec key;
  private final LongSupplier clock;
  private final SeenNonces nonces;
  private final SecureRandom random = new SecureRandom();
  private final AtomicReference<@Nullable String> self = new AtomicReference<>();
  private final Map<Refusal, LongAdder> refused = new EnumMap<>(Refusal.class);
  private final AtomicLong nextLogAt = new AtomicLong();

  /** One keyed MAC per thread: four MACs a call, each Mac.getInstance a provider lookup. */
  private final ThreadLocal<Mac> macs = ThreadLocal.withInitial(this::newMac);

  PeerAuthentication(byte[] secret, LongSupplier clockMillis) {
    this(secret, clockMillis, ShardcacheNode.DEFAULT_MAX_NONCES);
  }

  /** With room for {@code maxNonces} nonces (the node's setting; tests use a small one). */
  PeerAuthentication(byte[] secret, LongSupplier clockMillis, int maxNonces) {
    this.key = new SecretKeySpec(secret.clone(), ALGORITHM);
    this.clock = clockMillis;
    this.nonces = new SeenNonces(maxNonces, WINDOW.plus(NONCE_MARGIN), clockMillis);
    for (Refusal reason : Refusal.values()) {
      refused.put(reason, new LongAdder());
    }
  }

  /**
   * Tells this node's address as members dial it ("host:port", as it advertises itself): the target
   * its server accepts tokens for, and the caller its client names. Set once, before the node
   * serves or calls.
   *
   * @throws IllegalStateException if another address was set
   */
  void identify(String address) {
    String previous = self.compareAndExchange(null, address);
    if (previous != null && !previous.equals(address)) {
      throw new IllegalStateException("this node was already identified as " + previous);
    }
  }

  @Nullable String self() {
    return self.get();
  }

  private Mac newMac() {
    try {
      Mac mac = Mac.getInstance(ALGORITHM);
      mac.init(key);
      return mac;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is unavailable in this JVM", e);
    }
  }

  /** Calls and answers refused, for any reason. */
  long rejectedCount() {
    long total = 0;
    for (LongAdder count : refused.values()) {
      total += count.sum();
    }
    return total;
  }

  /** Calls (or, for {@link Refusal#UNPROVEN_REPLY}, answers) refused for {@code reason}. */
  long rejectedCount(Refusal reason) {
    return counter(reason).sum();
  }

  private LongAdder counter(Refusal reason) {
    return requireNonNull(refused.get(reason)); // the constructor put one for every Refusal
  }

  // ---------------------------------------------------------------- tokens

  /** A token for a call of {@code method} carrying {@code request}, with a new random nonce. */
  String token(String method, long millis, String caller, String target, byte[] request) {
    byte[] nonce = new byte[PeerToken.NONCE_BYTES];
    random.nextBytes(nonce);
    java.nio.ByteBuffer buffer = java.nio.ByteBuffer.wrap(nonce);
    PeerToken unsigned =
        new PeerToken(
            millis,
            buffer.getLong(),
            buffer.getLong(),
            caller,
            target,
            HashCode.fromBytes(sha256(request)),
            "");
    return unsigned.withMac(sign(unsigned.signedText(method))).format();
  }

  static byte[] sha256(byte[] bytes) {
    return sha256().digest(bytes);
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is unavailable in this JVM", e);
    }
  }

  private String sign(String message) {
    return BASE64URL.encodeToString(macs.get().doFinal(message.getBytes(UTF_8)));
  }

  /** The verdict on a call's headers: either its token ({@link Accept}) or why it is refused. */
  sealed interface Verdict permits Verdict.Accept, Verdict.Refuse {
    /** The call may go on, with this token; its body is still to be checked. */
    record Accept(PeerToken token) implements Verdict {
      @Override
      public @Nullable Refusal refusal() {
        return null;
      }
    }

    /** The call is refused for {@code refusal}; {@code detail} says what was wrong, for the log. */
    record Refuse(Refusal refusal, String detail) implements Verdict {}

    /** Why the call is refused, or null if it is accepted. */
    @Nullable Refusal refusal();

    default boolean accepted() {
      return this instanceof Accept;
    }
  }

  /**
   * Checks a call's token up to its nonce, which it remembers if all else is right; the body is
   * checked by {@link #bodyMatches} when it arrives. Never throws.
   */
  Verdict check(String method, @Nullable String text) {
    if (text == null) {
      return new Verdict.Refuse(Refusal.MISSING, "no token");
    }
    PeerToken token;
    try {
      token = PeerToken.parse(text);
    } catch (PeerToken.Unreadable e) {
      return new Verdict.Refuse(
          e.otherVersion ? Refusal.OLD_VERSION : Refusal.MALFORMED, e.getMessage());
    }
    byte[] expected = sign(token.signedText(method)).getBytes(UTF_8);
    if (!MessageDigest.isEqual(expected, token.mac().getBytes(UTF_8))) {
      return new Verdict.Refuse(
          Refusal.SIGNATURE, "a MAC that is not this cluster's for " + method);
    }
    long now = clock.getAsLong();
    long skew = token.millis() - now; // no overflow: both are non-negative
    if (Math.abs(skew) > WINDOW.toMillis()) {
      return new Verdict.Refuse(
          Refusal.STALE, "a token stamped " + skew + " ms from this node's clock");
    }
    String me = self.get();
    if (me == null || !token.target().equalsIgnoreCase(me)) {
      return new Verdict.Refuse(
          Refusal.WRONG_TARGET,
          "a token made for " + token.target() + " (this node is " + me + ")");
    }
    return switch (nonces.remember(token.nonceHigh(), token.nonceLow(), token.millis())) {
      case FIRST -> new Verdict.Accept(token);
      case SEEN -> new Verdict.Refuse(Refusal.REPLAY, "a token already used");
      case FULL -> new Verdict.Refuse(Refusal.NONCE_CAPACITY, "no room for its nonce");
    };
  }

  /**
   * Whether {@code request}, serialized again, has the digest {@code token} names. Protobuf writes
   * a message's known fields in field-number order and the fields it does not know after them, so a
   * request re-serializes to the bytes sent as long as fields added later have higher numbers.
   */
  static <Q> boolean bodyMatches(PeerToken token, MethodDescriptor<Q, ?> method, Q request) {
    MessageDigest digest = sha256();
    try (OutputStream out = new DigestOutputStream(OutputStream.nullOutputStream(), digest)) {
      if (request instanceof MessageLite message) {
        message.writeTo(out);
      } else {
        try (InputStream in = method.streamRequest(request)) {
          in.transferTo(out);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return MessageDigest.isEqual(digest.digest(), token.digest().asBytes());
  }

  /** The proof a node that knows the secret gives in its answer to {@code token}. */
  String reply(String token) {
    return sign("reply." + token);
  }

  boolean verifyReply(String token, @Nullable String reply) {
    return reply != null
        && reply.length() <= 64
        && MessageDigest.isEqual(reply(token).getBytes(UTF_8), reply.getBytes(UTF_8));
  }

  void count(Refusal reason) {
    counter(reason).increment();
  }

  long now() {
    return clock.getAsLong();
  }

  // ---------------------------------------------------------------- interceptors

  /**
   * Signs every call with a token for its request message, sent as the caller this node was
   * {@linkplain #identify identified} as, to the channel's authority; and refuses answers without a
   * proof of the secret. See {@link SignedClientCall}.
   */
  ClientInterceptor clientInterceptor() {
    return new ClientInterceptor() {
      @Override
      public <Q, R> io.grpc.ClientCall<Q, R> interceptCall(
          MethodDescriptor<Q, R> method, io.grpc.CallOptions options, io.grpc.Channel next) {
        String caller = self.get();
        if (caller == null) {
          throw new IllegalStateException("identify the node before it calls peers");
        }
        return new SignedClientCall<>(PeerAuthentication.this, method, options, next, caller);
      }
    };
  }

  ServerInterceptor serverInterceptor() {
    return new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(
          ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        MethodDescriptor<Q, R> method = call.getMethodDescriptor();
        if (self.get() == null) {
          call.close(
              Status.UNAVAILABLE.withDescription("the node is starting; retry"), new Metadata());
          return new ServerCall.Listener<>() {};
        }
        String text = headers.get(TOKEN);
        Verdict verdict = check(method.getFullMethodName(), text);
        if (verdict instanceof Verdict.Refuse denied) {
          // A node short of room for nonces still proves the secret: the token was good.
          refuse(
              call,
              denied.refusal(),
              denied.detail(),
              null,
              denied.refusal() == Refusal.NONCE_CAPACITY ? reply(text) : null);
          return new ServerCall.Listener<>() {};
        }
        PeerToken token = ((Verdict.Accept) verdict).token(); // a Verdict is one or the other
        String answer = reply(text);
        ServerCall<Q, R> proving =
            new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
              @Override
              public void sendHeaders(Metadata responseHeaders) {
                responseHeaders.put(REPLY, answer);
                super.sendHeaders(responseHeaders);
              }

              @Override
              public void close(Status status, Metadata trailers) {
                // Also in the trailers: an answer that fails before its headers has only trailers.
                trailers.discardAll(REPLY);
                trailers.put(REPLY, answer);
                super.close(status, trailers);
              }
            };
        return new BodyCheck<>(next.startCall(proving, headers), call, token, method);
      }
    };
  }

  /**
   * Passes the request message on only if it is the one the token was made for; otherwise closes
   * the call before the service sees it. Every other event passes, so that the interceptors inside
   * (the call limiter) see the call end.
   */
  private final class BodyCheck<Q, R>
      extends ForwardingServerCallListener.SimpleForwardingServerCallListener<Q> {
    private final ServerCall<Q, R> call;
    private final PeerToken token;
    private final MethodDescriptor<Q, R> method;
    private boolean checked;
    private boolean refusedCall;

    BodyCheck(
        ServerCall.Listener<Q> next,
        ServerCall<Q, R> call,
        PeerToken token,
        MethodDescriptor<Q, R> method) {
      super(next);
      this.call = call;
      this.token = token;
      this.method = method;
    }

    @Override
    public void onMessage(Q message) {
      if (refusedCall) {
        return;
      }
      if (checked || !bodyMatches(token, method, message)) {
        refusedCall = true;
        refuse(
            call,
            Refusal.BODY,
            checked
                ? "a second request message"
                : "a request message that is not the one its token was made for",
            token,
            null);
        return;
      }
      checked = true;
      super.onMessage(message);
    }

    @Override
    public void onHalfClose() {
      if (refusedCall) {
        return;
      }
      if (!checked) {
        refusedCall = true;
        refuse(call, Refusal.BODY, "no request message", token, null);
        return;
      }
      super.onHalfClose();
    }
  }

  private void refuse(
      ServerCall<?, ?> call,
      Refusal reason,
      String detail,
      @Nullable PeerToken token,
      @Nullable String proof) {
    count(reason);
    String method = call.getMethodDescriptor().getFullMethodName();
    long now = System.nanoTime();
    long due = nextLogAt.get();
    if (now - due >= 0 && nextLogAt.compareAndSet(due, now + LOG_INTERVAL.toNanos())) {
      logger.log(
          Level.WARNING,
          "Refused a call of {0} from {1}{2}: {3} ({4}; {5} refused so far)",
          new Object[] {
            method,
            call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR),
            token == null ? "" : " (token of " + token.caller() + ")",
            reason,
            detail,
            rejectedCount()
          });
    }
    Status status =
        switch (reason) {
          case OLD_VERSION ->
              Status.UNAUTHENTICATED.withDescription(
                  "cluster token of an older version"
                      + " ("
                      + detail
                      + "): every member must run a version with v2 tokens");
          case STALE ->
              Status.UNAUTHENTICATED.withDescription(
                  "cluster token refused: "
                      + detail
                      + ", over the window of "
                      + WINDOW.toSeconds()
                      + " s; synchronize the members' clocks (NTP)");
          case WRONG_TARGET ->
              Status.UNAUTHENTICATED.withDescription(
                  "cluster token refused: "
                      + detail
                      + "; members must dial each other at the addresses they advertise"
                      + " (ShardcacheNode.Builder.advertiseHost)");
          case REPLAY ->
              Status.UNAUTHENTICATED.withDescription("cluster token refused: already used");
          case BODY -> Status.UNAUTHENTICATED.withDescription("cluster token refused: " + detail);
          case NONCE_CAPACITY ->
              Status.RESOURCE_EXHAUSTED.withDescription(
                  "more than "
                      + nonces.capacity()
                      + " authenticated calls within "
                      + WINDOW.plus(NONCE_MARGIN).toSeconds()
                      + " s: this node cannot remember more token nonces, its limit"
                      + " (ShardcacheNode.Builder.maxNonces "
                      + nonces.capacity()
                      + "); retry later, or raise maxNonces (about 160 bytes a nonce)");
          default ->
              Status.UNAUTHENTICATED.withDescription(
                  "missing or invalid cluster token: configure"
                      + " this node with the cluster's secret (ShardcacheNode.Builder.clusterSecret)");
        };
    Metadata trailers = new Metadata();
    if (proof != null) {
      trailers.put(REPLY, proof);
    }
    call.close(status, trailers);
  }
}
