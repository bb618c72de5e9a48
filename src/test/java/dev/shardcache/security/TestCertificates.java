package dev.shardcache.security;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.util.Objects.requireNonNull;

import dev.shardcache.PeerTls;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import javax.security.auth.x500.X500Principal;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Throwaway certificate authorities and node certificates for the TLS tests, written as the PEM
 * files {@link PeerTls#fromPemFiles} reads: a certificate chain, a PKCS#8 private key and a file of
 * trusted CA certificates.
 *
 * <p>Every key is EC P-256, signed SHA256withECDSA. A node certificate names {@code 127.0.0.1} (IP
 * SAN) and {@code localhost} (DNS SAN), may be used for both TLS server and TLS client
 * authentication, and is valid from an hour ago for a day, so tests on a machine with a slightly
 * wrong clock still pass.
 *
 * <pre>{@code
 * TestCertificates.Authority ca = TestCertificates.authority("cluster CA");
 * TestCertificates.Authority rogue = TestCertificates.authority("rogue CA");   // trusted by nobody
 * TestCertificates.NodeFiles node = ca.issue("node-0").writeTo(tempDir.resolve("node-0"), ca);
 * ShardcacheNode.builder().tls(node.peerTls()) ...
 * ca.issue("node-0 v2").replace(node);      // re-issue in place, for reload tests
 * }</pre>
 *
 * <p>Not thread-safe; each test makes its own.
 */
public final class TestCertificates {

  private static final SecureRandom random = new SecureRandom();
  private static final AtomicLong serials = new AtomicLong(System.currentTimeMillis());

  private TestCertificates() {}

  /** Creates a new self-signed certificate authority with a fresh key. */
  public static Authority authority(String name) {
    KeyPair keys = newKeyPair();
    X500Principal subject = new X500Principal("CN=" + name + ", O=Shardcache tests");
    try {
      JcaX509ExtensionUtils extensions = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder builder =
          new JcaX509v3CertificateBuilder(
                  subject,
                  nextSerial(),
                  Date.from(Instant.now().minus(Duration.ofHours(1))),
                  Date.from(Instant.now().plus(Duration.ofDays(1))),
                  subject,
                  keys.getPublic())
              .addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
              .addExtension(
                  Extension.keyUsage,
                  true,
                  new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign | KeyUsage.digitalSignature))
              .addExtension(
                  Extension.subjectKeyIdentifier,
                  false,
                  extensions.createSubjectKeyIdentifier(keys.getPublic()));
      return new Authority(name, keys, sign(builder, keys));
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalStateException("cannot create test CA " + name, e);
    }
  }

  /**
   * Writes the certificates of {@code authorities} into one PEM file (a trust bundle), replacing
   * {@code file} atomically and giving it a new modification time.
   */
  public static Path writeTrust(Path file, Authority... authorities) {
    StringBuilder pem = new StringBuilder();
    for (Authority authority : authorities) {
      pem.append(pem("CERTIFICATE", encoded(authority.certificate())));
    }
    replaceFile(file, pem.toString());
    return file;
  }

  /** A certificate authority: issues node certificates. */
  public static final class Authority {
    private final String name;
    private final KeyPair keys;
    private final X509Certificate certificate;

    private Authority(String name, KeyPair keys, X509Certificate certificate) {
      this.name = name;
      this.keys = keys;
      this.certificate = certificate;
    }

    public X509Certificate certificate() {
      return certificate;
    }

    /**
     * Issues a node certificate with a fresh key: common name {@code commonName}, subject
     * alternative names IP 127.0.0.1 and DNS localhost, for server and client authentication.
     */
    public Issued issue(String commonName) {
      return issue(
          commonName,
          List.of(
              new GeneralName(GeneralName.iPAddress, "127.0.0.1"),
              new GeneralName(GeneralName.dNSName, "localhost")));
    }

    /** Issues a node certificate that names only the DNS name {@code host} (no IP address). */
    public Issued issueForDnsNameOnly(String commonName, String host) {
      return issue(commonName, List.of(new GeneralName(GeneralName.dNSName, host)));
    }

    private Issued issue(String commonName, List<GeneralName> names) {
      KeyPair nodeKeys = newKeyPair();
      try {
        JcaX509ExtensionUtils extensions = new JcaX509ExtensionUtils();
        X509v3CertificateBuilder builder =
            new JcaX509v3CertificateBuilder(
                    certificate,
                    nextSerial(),
                    Date.from(Instant.now().minus(Duration.ofHours(1))),
                    Date.from(Instant.now().plus(Duration.ofDays(1))),
                    new X500Principal("CN=" + commonName + ", O=Shardcache tests"),
                    nodeKeys.getPublic())
                .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                .addExtension(
                    Extension.keyUsage,
                    true,
                    new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyAgreement))
                .addExtension(
                    Extension.extendedKeyUsage,
                    false,
                    new ExtendedKeyUsage(
                        new KeyPurposeId[] {
                          KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth
                        }))
                .addExtension(
                    Extension.subjectAlternativeName,
                    false,
                    new GeneralNames(names.toArray(GeneralName[]::new)))
                .addExtension(
                    Extension.subjectKeyIdentifier,
                    false,
                    extensions.createSubjectKeyIdentifier(nodeKeys.getPublic()))
                .addExtension(
                    Extension.authorityKeyIdentifier,
                    false,
                    extensions.createAuthorityKeyIdentifier(certificate));
        return new Issued(sign(builder, keys), nodeKeys, this);
      } catch (IOException | GeneralSecurityException e) {
        throw new IllegalStateException("cannot issue a test certificate for " + commonName, e);
      }
    }

    @Override
    public String toString() {
      return "Authority{" + name + "}";
    }
  }

  /** A node certificate and its key, not yet written anywhere. */
  public static final class Issued {
    private final X509Certificate certificate;
    private final KeyPair keys;
    private final Authority issuer;

    private Issued(X509Certificate certificate, KeyPair keys, Authority issuer) {
      this.certificate = certificate;
      this.keys = keys;
      this.issuer = issuer;
    }

    public X509Certificate certificate() {
      return certificate;
    }

    public Authority issuer() {
      return issuer;
    }

    /**
     * Writes {@code chain.pem} (this certificate, then its issuer's), {@code key.pem} (PKCS#8) and
     * {@code trust.pem} (the certificates of {@code trusted}) into {@code directory}, creating it.
     */
    public NodeFiles writeTo(Path directory, Authority... trusted) {
      try {
        Files.createDirectories(directory);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      NodeFiles files =
          new NodeFiles(
              directory.resolve("chain.pem"),
              directory.resolve("key.pem"),
              directory.resolve("trust.pem"));
      replace(files);
      writeTrust(files.trust(), trusted);
      return files;
    }

    /**
     * Overwrites the chain and key files of {@code files} with this certificate and key (the trust
     * file is left alone), each replaced atomically; their modification times move forward, so a
     * file watcher sees the change even within one clock tick.
     */
    public void replace(NodeFiles files) {
      // The key first: a reader that sees the new chain then also finds the new key.
      replaceFile(files.key(), pem("PRIVATE KEY", keys.getPrivate().getEncoded()));
      replaceFile(
          files.chain(),
          pem("CERTIFICATE", encoded(certificate))
              + pem("CERTIFICATE", encoded(issuer.certificate())));
    }
  }

  /** Where a node's PEM files are: certificate chain, PKCS#8 private key, trusted CAs. */
  public record NodeFiles(Path chain, Path key, Path trust) {
    public NodeFiles {
      requireNonNull(chain);
      requireNonNull(key);
      requireNonNull(trust);
    }

    /** Mutual TLS from these files, with the default reload interval. */
    public PeerTls peerTls() {
      return PeerTls.fromPemFiles(chain, key, trust);
    }

    /** Replaces the trust file with the certificates of {@code authorities}. */
    public void trust(Authority... authorities) {
      writeTrust(trust, authorities);
    }
  }

  // ---------------------------------------------------------------- helpers

  private static KeyPair newKeyPair() {
    try {
      KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
      generator.initialize(new ECGenParameterSpec("secp256r1"), random);
      return generator.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("EC P-256 is unavailable in this JVM", e);
    }
  }

  private static BigInteger nextSerial() {
    return BigInteger.valueOf(serials.incrementAndGet());
  }

  private static X509Certificate sign(X509v3CertificateBuilder builder, KeyPair issuerKeys)
      throws GeneralSecurityException {
    try {
      return new JcaX509CertificateConverter()
          .getCertificate(
              builder.build(
                  new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKeys.getPrivate())));
    } catch (OperatorCreationException e) {
      throw new GeneralSecurityException(e);
    }
  }

  private static byte[] encoded(X509Certificate certificate) {
    try {
      return certificate.getEncoded();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String pem(String type, byte[] der) {
    return "-----BEGIN "
        + type
        + "-----\n"
        + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
        + "\n-----END "
        + type
        + "-----\n";
  }

  private static final AtomicLong lastModified = new AtomicLong();

  /** Writes {@code content} to a sibling temporary file and moves it over {@code file}. */
  private static void replaceFile(Path file, String content) {
    try {
      Path parent = file.toAbsolutePath().getParent();
      Files.createDirectories(parent);
      Path temporary = Files.createTempFile(parent, file.getFileName().toString(), ".tmp");
      Files.write(temporary, content.getBytes(US_ASCII));
      // Strictly increasing modification times, at least a second apart from any earlier write
      // of these helpers, so a reloader comparing times never misses a replacement.
      long now = System.currentTimeMillis();
      long time = lastModified.updateAndGet(previous -> Math.max(now, previous + 1_000));
      Files.setLastModifiedTime(temporary, FileTime.fromMillis(time));
      try {
        Files.move(
            temporary, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(temporary, file, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }
}
