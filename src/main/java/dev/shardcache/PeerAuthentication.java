package dev.shardcache;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Peer authentication by a shared cluster secret. Every call a node makes carries a token in the
 * {@code shardcache-auth} header: {@code v1.<millis>.<HMAC-SHA256(secret, "v1.<millis>.<method>")>}.
 * The serving node recomputes the HMAC and accepts the call only if it matches (compared in
 * constant time) and the timestamp is within {@link #MAX_SKEW} of its clock; anything else is
 * answered {@code UNAUTHENTICATED} before the call reaches the service, counted, and logged at
 * most once per {@link #LOG_INTERVAL}.
 *
 * <p>Authentication is mutual: the serving node answers with a {@code shardcache-auth-reply}
 * header, an HMAC of the caller's token, and the caller refuses an answer without a valid one
 * ({@code UNAUTHENTICATED}, which callers treat like an unreachable peer). So a process listening
 * at a member's address without the secret can neither call the cluster nor be trusted by it: its
 * heartbeats fail, it is suspected, and no entry is read from or written to it.
 *
 * <p>The token proves the caller knows the secret; it does not hide traffic, and a captured token
 * can be replayed for the same method within the skew window. Use it with TLS (which stops both)
 * wherever the network is not trusted. Thread-safe.
 */
final class PeerAuthentication {
  private static final Logger logger = Logger.getLogger(PeerAuthentication.class.getName());

  static final Metadata.Key<String> TOKEN =
      Metadata.Key.of("shardcache-auth", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<String> REPLY =
      Metadata.Key.of("shardcache-auth-reply", Metadata.ASCII_STRING_MARSHALLER);
  static final Duration MAX_SKEW = Duration.ofMinutes(5);
  static final Duration LOG_INTERVAL = Duration.ofSeconds(10);
  private static final String ALGORITHM = "HmacSHA256";

  private final SecretKeySpec key;
  private final LongSupplier clock;
  private final LongAdder rejected = new LongAdder();
  private final AtomicLong nextLogAt = new AtomicLong();

  PeerAuthentication(byte[] secret, LongSupplier clockMillis) {
    this.key = new SecretKeySpec(secret.clone(), ALGORITHM);
    this.clock = clockMillis;
  }

  /** Calls refused for a missing or wrong token. */
  long rejectedCount() {
    return rejected.sum();
  }

  String token(String method, long millis) {
    return "v1." + millis + "." + sign("v1." + millis + "." + method);
  }

  private String sign(String message) {
    try {
      Mac mac = Mac.getInstance(ALGORITHM);
      mac.init(key);
      return Base64.getUrlEncoder().withoutPadding().encodeToString(mac.doFinal(message.getBytes(UTF_8)));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is unavailable in this JVM", e);
    }
  }

  /** Whether {@code token} authenticates a call of {@code method} now; never throws. */
  boolean verify(String method, String token) {
    if (token == null || token.length() > 256) {
      return false;
    }
    String[] parts = token.split("\\.", -1);
    if (parts.length != 3 || !parts[0].equals("v1")) {
      return false;
    }
    long millis;
    try {
      millis = Long.parseLong(parts[1]);
    } catch (NumberFormatException e) {
      return false;
    }
    if (millis < 0 || Math.abs(clock.getAsLong() - millis) > MAX_SKEW.toMillis()) {
      return false; // (a negative stamp could also overflow the subtraction)
    }
    byte[] expected = sign("v1." + millis + "." + method).getBytes(UTF_8);
    return MessageDigest.isEqual(expected, parts[2].getBytes(UTF_8));
  }

  /** The reply a server that knows the secret gives to {@code token}. */
  String reply(String token) {
    return sign("reply." + token);
  }

  boolean verifyReply(String token, @org.jspecify.annotations.Nullable String reply) {
    return reply != null && reply.length() <= 256
        && MessageDigest.isEqual(reply(token).getBytes(UTF_8), reply.getBytes(UTF_8));
  }

  ClientInterceptor clientInterceptor() {
    return new ClientInterceptor() {
      @Override
      public <Q, R> ClientCall<Q, R> interceptCall(
          MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        String token = token(method.getFullMethodName(), clock.getAsLong());
        return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
          @Override
          public void start(Listener<R> listener, Metadata headers) {
            headers.put(TOKEN, token);
            super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
              private boolean verified;

              @Override
              public void onHeaders(Metadata responseHeaders) {
                verified = verifyReply(token, responseHeaders.get(REPLY));
                super.onHeaders(responseHeaders);
              }

              @Override
              public void onClose(Status status, Metadata trailers) {
                if (status.isOk() && !verified) {
                  // Whatever it sent, a peer that cannot prove the secret is not a member.
                  rejected.increment();
                  super.onClose(Status.UNAUTHENTICATED.withDescription("the peer did not prove the"
                      + " cluster secret; is it a member configured with the same secret?"), trailers);
                  return;
                }
                super.onClose(status, trailers);
              }
            }, headers);
          }
        };
      }
    };
  }

  ServerInterceptor serverInterceptor() {
    return new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(
          ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        String method = call.getMethodDescriptor().getFullMethodName();
        String token = headers.get(TOKEN);
        if (verify(method, token)) {
          String answer = reply(token);
          return next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
            @Override
            public void sendHeaders(Metadata responseHeaders) {
              responseHeaders.put(REPLY, answer);
              super.sendHeaders(responseHeaders);
            }
          }, headers);
        }
        rejected.increment();
        long now = System.nanoTime();
        long due = nextLogAt.get();
        if (now - due >= 0 && nextLogAt.compareAndSet(due, now + LOG_INTERVAL.toNanos())) {
          logger.log(Level.WARNING, "Refused a call of {0} from {1} without a valid cluster token"
              + " ({2} refused so far); is that node configured with the same cluster secret?",
              new Object[] {method,
                  call.getAttributes().get(io.grpc.Grpc.TRANSPORT_ATTR_REMOTE_ADDR), rejected.sum()});
        }
        call.close(Status.UNAUTHENTICATED.withDescription(
            "missing or invalid cluster token: configure this node with the cluster's secret"
                + " (ShardcacheNode.Builder.clusterSecret)"), new Metadata());
        return new ServerCall.Listener<>() {};
      }
    };
  }
}
