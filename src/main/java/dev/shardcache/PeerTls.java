package dev.shardcache;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * How a node secures its peer connections with TLS: its own certificate chain and private key
 * (presented as a server and, for mutual TLS, as a client), and the certificates it trusts to sign
 * its peers' certificates. Files are PEM encoded and re-read every {@link #reloadInterval()}, so
 * rotated certificates take effect without a restart.
 *
 * <p>With {@linkplain #requireClientCertificates() client certificates required} (the default),
 * this is mutual TLS: a node accepts a connection only from a peer whose certificate chains to a
 * trusted certificate, and a peer without one is refused during the handshake. Each node's
 * certificate must name the host it is reached at (a DNS or IP subject alternative name matching
 * the host in its {@code host:port}), since peers verify it like any TLS client would.
 *
 * <pre>{@code
 * ShardcacheNode node = ShardcacheNode.builder()
 *     .listen("10.0.0.1", 7070)
 *     .tls(PeerTls.fromPemFiles(Path.of("node.crt"), Path.of("node.key"), Path.of("ca.crt")))
 *     .build();
 * }</pre>
 *
 * <p>Immutable and thread-safe.
 */
public final class PeerTls {

  /** How often certificate files are re-read when {@link #withReloadInterval} is not used. */
  public static final Duration DEFAULT_RELOAD_INTERVAL = Duration.ofMinutes(1);

  private final Path certificateChain;
  private final Path privateKey;
  private final Path trustedCertificates;
  private final boolean requireClientCertificates;
  private final Duration reloadInterval;

  private PeerTls(
      Path certificateChain,
      Path privateKey,
      Path trustedCertificates,
      boolean requireClientCertificates,
      Duration reloadInterval) {
    this.certificateChain = certificateChain;
    this.privateKey = privateKey;
    this.trustedCertificates = trustedCertificates;
    this.requireClientCertificates = requireClientCertificates;
    this.reloadInterval = reloadInterval;
  }

  /**
   * Returns the TLS settings of a node whose certificate chain, private key (PKCS#8 PEM) and
   * trusted certificates are in PEM files. The files must exist when the node starts; a file that
   * later fails to parse is logged and the previous certificates stay in use.
   *
   * @throws IllegalArgumentException if a file does not exist or is not readable
   */
  public static PeerTls fromPemFiles(
      Path certificateChain, Path privateKey, Path trustedCertificates) {
    return new PeerTls(
        readable(certificateChain, "certificateChain"),
        readable(privateKey, "privateKey"),
        readable(trustedCertificates, "trustedCertificates"),
        true,
        DEFAULT_RELOAD_INTERVAL);
  }

  private static Path readable(Path path, String what) {
    requireNonNull(path, what);
    checkArgument(
        Files.isReadable(path),
        "%s file %s does not exist or is not readable; give the path of a PEM file",
        what,
        path);
    return path;
  }

  /**
   * Returns a copy that does (the default) or does not require peers to present a client
   * certificate. Without it, any TLS client may connect; combine it with {@link
   * ShardcacheNode.Builder#clusterSecret} so that peers still authenticate.
   */
  public PeerTls withClientCertificates(boolean required) {
    return new PeerTls(certificateChain, privateKey, trustedCertificates, required, reloadInterval);
  }

  /**
   * Returns a copy that re-reads the files every {@code interval} (default one minute).
   *
   * @throws IllegalArgumentException if {@code interval} is under one second
   */
  public PeerTls withReloadInterval(Duration interval) {
    requireNonNull(interval, "interval");
    checkArgument(
        interval.compareTo(Duration.ofSeconds(1)) >= 0,
        "reload interval must be at least 1 s, got %s",
        interval);
    return new PeerTls(
        certificateChain, privateKey, trustedCertificates, requireClientCertificates, interval);
  }

  public Path certificateChain() {
    return certificateChain;
  }

  public Path privateKey() {
    return privateKey;
  }

  public Path trustedCertificates() {
    return trustedCertificates;
  }

  public boolean requireClientCertificates() {
    return requireClientCertificates;
  }

  public Duration reloadInterval() {
    return reloadInterval;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof PeerTls other
        && certificateChain.equals(other.certificateChain)
        && privateKey.equals(other.privateKey)
        && trustedCertificates.equals(other.trustedCertificates)
        && requireClientCertificates == other.requireClientCertificates
        && reloadInterval.equals(other.reloadInterval);
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        certificateChain,
        privateKey,
        trustedCertificates,
        requireClientCertificates,
        reloadInterval);
  }

  @Override
  public String toString() {
    return "PeerTls{chain="
        + certificateChain
        + ", key="
        + privateKey
        + ", trust="
        + trustedCertificates
        + (requireClientCertificates ? ", mutual" : ", server-only")
        + ", reload="
        + reloadInterval
        + "}";
  }
}
