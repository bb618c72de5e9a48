package dev.shardcache;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.common.hash.HashCode;
import java.nio.ByteBuffer;
import java.util.Base64;
import org.jspecify.annotations.Nullable;

/**
 * The cluster token of one call, version 2, as it travels in the {@code shardcache-auth} header:
 *
 * <pre>v2.&lt;millis&gt;.&lt;nonce&gt;.&lt;caller&gt;.&lt;target&gt;.&lt;digest&gt;.&lt;mac&gt;
 * </pre>
 *
 * <ul>
 *   <li>{@code millis}: the caller's clock when it made the call, in decimal;
 *   <li>{@code nonce}: 128 random bits, so no two calls have the same token;
 *   <li>{@code caller}: the calling node's advertised address ("host:port");
 *   <li>{@code target}: the address the caller dialled, the channel's authority;
 *   <li>{@code digest}: SHA-256 of the serialized request message;
 *   <li>{@code mac}: HMAC-SHA256 under the cluster secret of everything before it and the full
 *       method name: {@code "v2.<millis>.<nonce>.<caller>.<target>.<digest>." + method}.
 * </ul>
 *
 * Every field but {@code millis} is unpadded base64url ({@code caller} and {@code target} of their
 * UTF-8 bytes), so no field holds a dot and the method name, last in the signed text, cannot be
 * confused with a field. A token is at most {@value #MAX_CHARS} characters. Immutable: the digest
 * is a {@link HashCode}, which copies the bytes it is made from and hands out copies, so two tokens
 * are equal exactly when their header values are.
 */
record PeerToken(
    long millis,
    long nonceHigh,
    long nonceLow,
    String caller,
    String target,
    HashCode digest,
    String mac) {

  static final String VERSION = "v2";
  static final int MAX_CHARS = 1024;
  static final int NONCE_BYTES = 16;
  static final int DIGEST_BYTES = 32;

  /** The longest caller or target address, in UTF-8 bytes. */
  static final int MAX_ADDRESS_BYTES = 300;

  private static final Base64.Encoder ENCODER = Base64.getUrlEncoder().withoutPadding();
  private static final Base64.Decoder DECODER = Base64.getUrlDecoder();

  /** A token that cannot be read: why, for the refusal. */
  static final class Unreadable extends Exception {
    private static final long serialVersionUID = 1L;

    /** Whether it is a token of another version, such as an older node's v1. */
    final boolean otherVersion;

    private final String reason;

    Unreadable(String reason, boolean otherVersion) {
      super(reason, null, false, false);
      this.reason = reason;
      this.otherVersion = otherVersion;
    }

    /** Why the token cannot be read; never null, unlike a Throwable's message in general. */
    @Override
    public String getMessage() {
      return reason;
    }
  }

  /** The text the MAC is computed over. */
  String signedText(String method) {
    return unsignedPrefix() + "." + method;
  }

  private String unsignedPrefix() {
    byte[] nonce = ByteBuffer.allocate(NONCE_BYTES).putLong(nonceHigh).putLong(nonceLow).array();
    return VERSION
        + "."
        + millis
        + "."
        + ENCODER.encodeToString(nonce)
        + "."
        + ENCODER.encodeToString(caller.getBytes(UTF_8))
        + "."
        + ENCODER.encodeToString(target.getBytes(UTF_8))
        + "."
        + ENCODER.encodeToString(digest.asBytes());
  }

  /** The header value. */
  String format() {
    return unsignedPrefix() + "." + mac;
  }

  /** This token with {@code mac}; the other fields unchanged. */
  PeerToken withMac(String newMac) {
    return new PeerToken(millis, nonceHigh, nonceLow, caller, target, digest, newMac);
  }

  /**
   * Reads a header value; checks the form only (not the MAC, the time or the target).
   *
   * @throws Unreadable if it is not a v2 token
   */
  static PeerToken parse(@Nullable String text) throws Unreadable {
    if (text == null || text.isEmpty()) {
      throw new Unreadable("no token", false);
    }
    if (text.length() > MAX_CHARS) {
      throw new Unreadable("a token over " + MAX_CHARS + " characters", false);
    }
    String[] parts = text.split("\\.", -1);
    if (!parts[0].equals(VERSION)) {
      throw new Unreadable(
          "a token of version '" + abbreviate(parts[0]) + "'",
          parts.length > 1 && parts[0].matches("v[0-9]{1,3}"));
    }
    if (parts.length != 7) {
      throw new Unreadable("a token of " + parts.length + " parts, not 7", false);
    }
    long millis;
    try {
      millis = Long.parseLong(parts[1]);
    } catch (NumberFormatException e) {
      throw new Unreadable("a token time that is not a number", false);
    }
    if (millis < 0 || !parts[1].equals(Long.toString(millis))) {
      throw new Unreadable("a token time that is not in canonical decimal", false);
    }
    ByteBuffer nonce = ByteBuffer.wrap(decode(parts[2], NONCE_BYTES, NONCE_BYTES, "nonce"));
    String caller = new String(decode(parts[3], 1, MAX_ADDRESS_BYTES, "caller"), UTF_8);
    String target = new String(decode(parts[4], 1, MAX_ADDRESS_BYTES, "target"), UTF_8);
    HashCode digest = HashCode.fromBytes(decode(parts[5], DIGEST_BYTES, DIGEST_BYTES, "digest"));
    decode(parts[6], DIGEST_BYTES, DIGEST_BYTES, "mac"); // the form only; compared as text
    return new PeerToken(
        millis, nonce.getLong(), nonce.getLong(), caller, target, digest, parts[6]);
  }

  /** Decodes canonical unpadded base64url of {@code min..max} bytes. */
  private static byte[] decode(String field, int min, int max, String name) throws Unreadable {
    byte[] bytes;
    try {
      bytes = DECODER.decode(field);
    } catch (IllegalArgumentException e) {
      throw new Unreadable("a token " + name + " that is not base64url", false);
    }
    // One text per value: padding and stray low bits would let a token be spelled two ways.
    if (bytes.length < min || bytes.length > max || !ENCODER.encodeToString(bytes).equals(field)) {
      throw new Unreadable("a token " + name + " of the wrong length or spelling", false);
    }
    return bytes;
  }

  private static String abbreviate(String s) {
    return s.length() <= 8 ? s : s.substring(0, 8) + "...";
  }

  @Override
  public String toString() {
    return "PeerToken[" + caller + " -> " + target + " at " + millis + "]";
  }
}
