package dev.shardcache;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ServerCredentials;
import io.grpc.TlsChannelCredentials;
import io.grpc.TlsServerCredentials;
import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * The credentials of a node's server and of its channels to peers: plaintext, or TLS from a {@link
 * PeerTls} whose files are re-read periodically (grpc-java's advanced TLS managers swap
 * certificates under live connections; new handshakes use the new ones).
 *
 * <p>Clients verify the peer's certificate and that it names the host dialled; servers verify
 * client certificates against the trusted certificates when mutual TLS is on. Thread-safe.
 */
final class TransportSecurity implements AutoCloseable {

  private final @Nullable PeerTls tls;
  private final ServerCredentials serverCredentials;
  private final ChannelCredentials channelCredentials;
  private final List<AutoCloseable> reloads = new ArrayList<>();
  private final @Nullable ScheduledExecutorService reloader;

  private TransportSecurity() {
    this.tls = null;
    this.serverCredentials = InsecureServerCredentials.create();
    this.channelCredentials = InsecureChannelCredentials.create();
    this.reloader = null;
  }

  private TransportSecurity(PeerTls tls) throws IOException, GeneralSecurityException {
    this.tls = tls;
    this.reloader =
        Executors.newSingleThreadScheduledExecutor(
            new ThreadFactoryBuilder()
                .setNameFormat("shardcache-tls-reload")
                .setDaemon(true)
                .build());
    long period = tls.reloadInterval().toMillis();
    try {
      AdvancedTlsX509KeyManager keys = new AdvancedTlsX509KeyManager();
      AdvancedTlsX509TrustManager serverTrust =
          AdvancedTlsX509TrustManager.newBuilder()
              .setVerification(
                  AdvancedTlsX509TrustManager.Verification.CERTIFICATE_ONLY_VERIFICATION)
              .build();
      AdvancedTlsX509TrustManager clientTrust =
          AdvancedTlsX509TrustManager.newBuilder()
              .setVerification(
                  AdvancedTlsX509TrustManager.Verification.CERTIFICATE_AND_HOST_NAME_VERIFICATION)
              .build();
      keys.updateIdentityCredentials(tls.certificateChain().toFile(), tls.privateKey().toFile());
      serverTrust.updateTrustCredentials(tls.trustedCertificates().toFile());
      clientTrust.updateTrustCredentials(tls.trustedCertificates().toFile());
      // grpc-util's own scheduled reload raises any period under a minute to a minute, and reloads
      // the key only when both files changed; re-reading on our own schedule honours the interval
      // and picks up a renewed certificate alone. The future is not kept: the task logs its own
      // failures (so it never stops), and close() ends it by shutting the executor down.
      ScheduledFuture<?> unused =
          reloader.scheduleWithFixedDelay(
              () -> {
                try {
                  keys.updateIdentityCredentials(
                      tls.certificateChain().toFile(), tls.privateKey().toFile());
                  serverTrust.updateTrustCredentials(tls.trustedCertificates().toFile());
                  clientTrust.updateTrustCredentials(tls.trustedCertificates().toFile());
                } catch (IOException | GeneralSecurityException | RuntimeException e) {
                  java.util.logging.Logger.getLogger(TransportSecurity.class.getName())
                      .log(
                          java.util.logging.Level.WARNING,
                          "Cannot reload the TLS files of "
                              + tls
                              + "; the previous certificates stay in use: "
                              + e.getMessage());
                }
              },
              period,
              period,
              TimeUnit.MILLISECONDS);
      this.serverCredentials =
          TlsServerCredentials.newBuilder()
              .keyManager(keys)
              .trustManager(serverTrust)
              .clientAuth(
                  tls.requireClientCertificates()
                      ? TlsServerCredentials.ClientAuth.REQUIRE
                      : TlsServerCredentials.ClientAuth.NONE)
              .build();
      this.channelCredentials =
          TlsChannelCredentials.newBuilder().keyManager(keys).trustManager(clientTrust).build();
    } catch (IOException | GeneralSecurityException | RuntimeException e) {
      close();
      throw e;
    }
  }

  static TransportSecurity plaintext() {
    return new TransportSecurity();
  }

  /**
   * Loads the certificates of {@code tls} and starts reloading them.
   *
   * @throws IOException if a file cannot be read
   * @throws GeneralSecurityException if a file does not hold a valid certificate or key
   */
  static TransportSecurity of(PeerTls tls) throws IOException, GeneralSecurityException {
    return new TransportSecurity(tls);
  }

  /**
   * The transport security of a node: plaintext without {@code tls}, else its certificates loaded
   * and reloading.
   *
   * @throws IOException if the certificates cannot be loaded, saying which files to give
   */
  static TransportSecurity forNode(@Nullable PeerTls tls) throws IOException {
    if (tls == null) {
      return plaintext();
    }
    try {
      return of(tls);
    } catch (GeneralSecurityException e) {
      throw new IOException(
          "cannot load the TLS certificates of "
              + tls
              + ": "
              + e.getMessage()
              + "; give a PEM certificate chain, a PKCS#8 PEM private key and PEM trusted"
              + " certificates",
          e);
    }
  }

  boolean isTls() {
    return tls != null;
  }

  ServerCredentials serverCredentials() {
    return serverCredentials;
  }

  ChannelCredentials channelCredentials() {
    return channelCredentials;
  }

  String describe() {
    if (tls == null) {
      return "PLAINTEXT (no TLS: traffic is readable and any client may connect; use TLS outside"
          + " local development)";
    }
    return tls.requireClientCertificates() ? "mutual TLS" : "TLS (no client certificates)";
  }

  @Override
  public void close() {
    for (AutoCloseable reload : reloads) {
      try {
        reload.close();
      } catch (Exception ignored) {
        // stopping a reload task cannot fail in a way worth reporting
      }
    }
    if (reloader != null) {
      reloader.shutdownNow();
    }
  }
}
