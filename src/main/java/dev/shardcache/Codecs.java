package dev.shardcache;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * The codecs Shardcache ships: UTF-8 strings, byte arrays, longs, protobuf messages, and Java
 * serialization restricted to an allow-list of classes. All of them are thread-safe and validate
 * what they decode. There is no unrestricted Java serialization, on purpose: decoding untrusted
 * bytes into arbitrary classes is how caches become remote-code-execution holes.
 */
public final class Codecs {

  private Codecs() {}

  /**
   * Strings as UTF-8. Decoding rejects malformed UTF-8 with a {@link CodecException} rather than
   * substituting replacement characters, so a corrupt value is never cached as a different string.
   */
  public static Codec<String> utf8() {
    return Utf8Codec.INSTANCE;
  }

  /**
   * Byte arrays as themselves, for values. Every copy that crosses the network is a reader's own:
   * an array read from another node shares nothing with the cache. But like any local cache, the
   * node a value is put on or read on keeps and answers the array object itself while it holds the
   * key (see {@link DistributedCache#put}): treat a {@code byte[]} given to or read from the cache
   * as immutable. Not for keys: Java arrays are equal only to themselves, so {@link
   * CacheConfig.Builder#build()} refuses it as a key codec.
   */
  public static Codec<byte[]> bytes() {
    return BytesCodec.INSTANCE;
  }

  /**
   * Longs as 8 big-endian bytes; decoding anything but exactly 8 bytes is a {@link CodecException}.
   */
  public static Codec<Long> longs() {
    return LongCodec.INSTANCE;
  }

  /**
   * Protobuf messages of one type, in the protobuf wire format, parsed with {@code parser} (for
   * example {@code MyMessage.parser()}). Protobuf serialization is deterministic for a given
   * message only when it has no map fields; do not use a message with map fields as a key.
   */
  public static <M extends MessageLite> Codec<M> protobuf(Parser<M> parser) {
    return new ProtobufCodec<>(requireNonNull(parser, "parser"));
  }

  /**
   * Java-serialized objects of {@code type}, decoded only if every class in the stream is {@code
   * type}, a JDK value or collection class (strings, boxed primitives, {@code BigDecimal}, {@code
   * java.time}, {@code UUID}, the standard lists, sets and maps), or matches one of {@code
   * allowed}: class names or {@link java.io.ObjectInputFilter} patterns such as {@code
   * "com.example.model.*"} (one package) or {@code "com.example.**"} (and its subpackages).
   * Anything else fails with a {@link CodecException} before it is instantiated, as does a stream
   * over the fixed limits on depth, size and hashing work that bound its decoding cost (20 levels,
   * 100,000 references; see the README's Security section).
   *
   * <p>Use it for values of arbitrary application types (annotated methods' results). Prefer {@link
   * #utf8()}, {@link #longs()} or {@link #protobuf} where they fit: they are smaller and faster.
   * Serialized forms of a {@code HashMap} or {@code HashSet} are not deterministic, so do not use
   * this codec for keys that contain them.
   */
  public static <T extends java.io.Serializable> Codec<T> serializable(
      Class<T> type, String... allowed) {
    requireNonNull(type, "type");
    for (String pattern : allowed) {
      requireNonNull(pattern, "allowed patterns must not be null");
      if (pattern.isBlank()
          || pattern.contains(";")
          || pattern.startsWith("!")
          || pattern.contains("=")) {
        throw new IllegalArgumentException(
            "allowed pattern '"
                + pattern
                + "' must be a class name"
                + " or a package pattern such as com.example.* or com.example.**");
      }
      if (pattern.equals("*") || pattern.equals("**") || pattern.equals(".**")) {
        throw new IllegalArgumentException(
            "allowed pattern '"
                + pattern
                + "' would allow every"
                + " class, which makes deserialization unsafe; name your packages instead");
      }
    }
    return new SerializableCodec<>(type, java.util.List.of(allowed));
  }

  private enum Utf8Codec implements Codec<String> {
    INSTANCE;

    @Override
    public byte[] encode(String value) {
      return value.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public String decode(byte[] bytes) {
      try {
        CharBuffer chars =
            StandardCharsets.UTF_8
                .newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(bytes));
        return chars.toString();
      } catch (CharacterCodingException e) {
        throw new CodecException("bytes are not valid UTF-8 (" + bytes.length + " bytes)", e);
      }
    }

    @Override
    public String toString() {
      return "Codecs.utf8()";
    }
  }

  /**
   * Decodes {@code owned}, an array nobody else holds or will write (such as a fresh copy out of a
   * message): like {@code codec.decode(owned)}, but {@link #bytes()} takes the array as it is
   * instead of copying it again.
   */
  @SuppressWarnings("unchecked") // the bytes codec is a Codec<byte[]>, so T is byte[]
  static <T> T decodeOwned(Codec<T> codec, byte[] owned) {
    return codec == BytesCodec.INSTANCE ? (T) owned : codec.decode(owned);
  }

  private enum BytesCodec implements Codec<byte[]> {
    INSTANCE;

    @Override
    public byte[] encode(byte[] value) {
      return value.clone();
    }

    @Override
    public byte[] decode(byte[] bytes) {
      return bytes.clone();
    }

    @Override
    public String toString() {
      return "Codecs.bytes()";
    }
  }

  private enum LongCodec implements Codec<Long> {
    INSTANCE;

    @Override
    public byte[] encode(Long value) {
      return ByteBuffer.allocate(Long.BYTES).putLong(value).array();
    }

    @Override
    public Long decode(byte[] bytes) {
      if (bytes.length != Long.BYTES) {
        throw new CodecException(
            "a long is encoded in exactly 8 bytes, got "
                + bytes.length
                + "; was this cache written with a different value codec?");
      }
      return ByteBuffer.wrap(bytes).getLong();
    }

    @Override
    public String toString() {
      return "Codecs.longs()";
    }
  }

  private static final class ProtobufCodec<M extends MessageLite> implements Codec<M> {
    private final Parser<M> parser;

    ProtobufCodec(Parser<M> parser) {
      this.parser = parser;
    }

    @Override
    public byte[] encode(M value) {
      return value.toByteArray();
    }

    @Override
    public M decode(byte[] bytes) {
      try {
        return parser.parseFrom(bytes);
      } catch (InvalidProtocolBufferException e) {
        throw new CodecException("bytes are not a valid protobuf message: " + e.getMessage(), e);
      }
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof ProtobufCodec<?> other && other.parser.equals(parser);
    }

    @Override
    public int hashCode() {
      return parser.hashCode();
    }

    @Override
    public String toString() {
      return "Codecs.protobuf(" + parser + ")";
    }
  }
}
