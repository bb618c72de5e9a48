package dev.shardcache.objects;

import dev.shardcache.CodecException;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Set;

/**
 * The byte layout of a {@link StableKey}, version 1: a version byte, then one <em>item</em>. Every
 * item starts with a one-byte tag saying what follows, and every item knows its own length, so a
 * sequence of items can be split in exactly one way. That is what makes the encoding injective: two
 * keys have the same bytes only if they have the same tags and the same payloads all the way down.
 *
 * <pre>
 * key   := 0x01 item
 * item  := 'N'                                   null
 *        | 'Z' b | 'B' b | 'S' b2 | 'C' b2        boolean, byte, short, char
 *        | 'I' b4 | 'J' b8 | 'F' b4 | 'D' b8      int, long, float bits, double bits (big-endian)
 *        | 's' text                              a string, UTF-8
 *        | 'u' len b2*len                        a string with lone surrogates, UTF-16BE
 *        | 'i' len bytes                         BigInteger, two's complement
 *        | 'd' b4 len bytes                      BigDecimal: scale, then unscaled value
 *        | 'U' b16                               UUID
 *        | 'W' b8                                java.util.Date, epoch millis
 *        | 'E' text text                         enum: declaring class, constant name
 *        | 'T' text text                         java.time value: class, ISO text
 *        | 'P' len item*len                      method parameters (Spring's SimpleKey)
 *        | 'L' len item*len                      list
 *        | 'A' len item*len                      array of references
 *        | 'a' tag len b*len                     array of primitives of the given tag
 *        | 'Q' len item*len                      set, items sorted by their bytes
 *        | 'M' len (item item)*len               map, entries sorted by the key's bytes
 *        | 'R' text len item*len                 record: class, components in order
 *        | 'X' text len item*len                 registered composite: its name, its parts
 * text  := len UTF-8 bytes
 * len   := unsigned LEB128 varint
 * </pre>
 *
 * <p>The reader below only checks structure and renders text for diagnostics; it never loads or
 * instantiates a class named in the bytes.
 */
final class StableKeyFormat {
  static final byte VERSION = 1;

  static final byte NULL = 'N';
  static final byte BOOLEAN = 'Z';
  static final byte BYTE = 'B';
  static final byte SHORT = 'S';
  static final byte CHAR = 'C';
  static final byte INT = 'I';
  static final byte LONG = 'J';
  static final byte FLOAT = 'F';
  static final byte DOUBLE = 'D';
  static final byte STRING = 's';
  static final byte STRING_UTF16 = 'u';
  static final byte BIG_INTEGER = 'i';
  static final byte BIG_DECIMAL = 'd';
  static final byte UUID = 'U';
  static final byte DATE = 'W';
  static final byte ENUM = 'E';
  static final byte TIME = 'T';
  static final byte PARAMETERS = 'P';
  static final byte LIST = 'L';
  static final byte ARRAY = 'A';
  static final byte PRIMITIVE_ARRAY = 'a';
  static final byte SET = 'Q';
  static final byte MAP = 'M';
  static final byte RECORD = 'R';
  static final byte COMPOSITE = 'X';

  /** The java.time classes encoded by their ISO text, which is unique for each value. */
  static final Set<String> TIME_CLASSES =
      Set.of(
          "java.time.Instant",
          "java.time.LocalDate",
          "java.time.LocalTime",
          "java.time.LocalDateTime",
          "java.time.OffsetDateTime",
          "java.time.OffsetTime",
          "java.time.ZonedDateTime",
          "java.time.Duration",
          "java.time.Period",
          "java.time.Year",
          "java.time.YearMonth",
          "java.time.MonthDay",
          "java.time.ZoneOffset",
          "java.time.ZoneId");

  /** Deepest nesting accepted, in both directions; a key deeper than this is a mistake. */
  static final int MAX_DEPTH = 32;

  private StableKeyFormat() {}

  /** Appends the parts of an item. Not thread-safe; one per encoding. */
  static final class Writer {
    final ByteArrayOutputStream out = new ByteArrayOutputStream(64);

    void tag(byte tag) {
      out.write(tag);
    }

    void fixed(long value, int bytes) {
      for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
        out.write((int) (value >>> shift));
      }
    }

    void length(int length) {
      int v = length;
      while ((v & ~0x7F) != 0) {
        out.write((v & 0x7F) | 0x80);
        v >>>= 7;
      }
      out.write(v);
    }

    void bytes(byte[] bytes) {
      length(bytes.length);
      out.write(bytes, 0, bytes.length);
    }

    void raw(byte[] bytes) {
      out.write(bytes, 0, bytes.length);
    }

    void text(String s) {
      bytes(s.getBytes(StandardCharsets.UTF_8));
    }

    /** Writes a string item: UTF-8 when the string is well-formed, else UTF-16 (no replacement). */
    void string(String s) {
      try {
        ByteBuffer encoded =
            StandardCharsets.UTF_8
                .newEncoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .encode(CharBuffer.wrap(s));
        byte[] utf8 = new byte[encoded.remaining()];
        encoded.get(utf8);
        tag(STRING);
        bytes(utf8);
      } catch (CharacterCodingException lonelySurrogate) {
        tag(STRING_UTF16);
        length(s.length());
        for (int i = 0; i < s.length(); i++) {
          fixed(s.charAt(i), 2);
        }
      }
    }

    byte[] toByteArray() {
      return out.toByteArray();
    }
  }

  /**
   * Checks that {@code bytes} is exactly one well-formed key and returns a readable rendering of
   * it, cut at {@code maxChars}.
   *
   * @throws CodecException if the bytes are not a key of this format
   */
  static String validate(byte[] bytes, int maxChars) {
    if (bytes.length == 0 || bytes[0] != VERSION) {
      throw new CodecException(
          "not a stable key: expected version byte "
              + VERSION
              + ", got "
              + (bytes.length == 0 ? "no bytes" : "0x" + Integer.toHexString(bytes[0] & 0xFF)));
    }
    Reader reader = new Reader(bytes, maxChars);
    reader.pos = 1;
    reader.item(0);
    if (reader.pos != bytes.length) {
      throw new CodecException(
          "not a stable key: " + (bytes.length - reader.pos) + " bytes after the end of the key");
    }
    return reader.text.toString();
  }

  private static final class Reader {
    final byte[] in;
    final int maxChars;
    final StringBuilder text = new StringBuilder();
    int pos;

    Reader(byte[] in, int maxChars) {
      this.in = in;
      this.maxChars = maxChars;
    }

    private void emit(String s) {
      if (text.length() < maxChars) {
        text.append(s, 0, Math.min(s.length(), maxChars - text.length()));
        if (text.length() == maxChars) {
          text.append("...");
        }
      }
    }

    private CodecException malformed(String why) {
      return new CodecException("not a stable key: " + why + " at byte " + pos);
    }

    private int u8() {
      if (pos >= in.length) {
        throw malformed("truncated");
      }
      return in[pos++] & 0xFF;
    }

    private long fixed(int n) {
      if (in.length - pos < n) {
        throw malformed("truncated");
      }
      long v = 0;
      for (int i = 0; i < n; i++) {
        v = (v << 8) | (in[pos++] & 0xFF);
      }
      return v;
    }

    private int length() {
      int result = 0;
      for (int shift = 0; shift < 35; shift += 7) {
        int b = u8();
        result |= (b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
          // Every counted thing takes at least one byte, so no length exceeds what is left.
          if (result < 0 || result > in.length - pos) {
            throw malformed("length " + result + " out of range");
          }
          return result;
        }
      }
      throw malformed("varint too long");
    }

    private byte[] chunk(int n) {
      if (n < 0 || in.length - pos < n) {
        throw malformed("truncated");
      }
      byte[] b = Arrays.copyOfRange(in, pos, pos + n);
      pos += n;
      return b;
    }

    private String utf8() {
      byte[] b = chunk(length());
      try {
        return StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(ByteBuffer.wrap(b))
            .toString();
      } catch (CharacterCodingException e) {
        throw malformed("text is not UTF-8");
      }
    }

    private static String simpleName(String className) {
      int dot = Math.max(className.lastIndexOf('.'), className.lastIndexOf('$'));
      return className.substring(dot + 1);
    }

    private void items(int count, int depth, String open, String close) {
      emit(open);
      for (int i = 0; i < count; i++) {
        if (i > 0) {
          emit(", ");
        }
        item(depth + 1);
      }
      emit(close);
    }

    /** Checks that the n items in [start, end) are in strictly ascending order of their bytes. */
    private void requireSorted(int[] starts, int end, String what) {
      for (int i = 1; i < starts.length; i++) {
        int nextEnd = i + 1 < starts.length ? starts[i + 1] : end;
        if (Arrays.compareUnsigned(in, starts[i - 1], starts[i], in, starts[i], nextEnd) >= 0) {
          throw malformed(what + " not in canonical order");
        }
      }
    }

    void item(int depth) {
      if (depth > MAX_DEPTH) {
        throw malformed("nested deeper than " + MAX_DEPTH);
      }
      int tag = u8();
      switch (tag) {
        case NULL -> emit("null");
        case BOOLEAN -> {
          int b = u8();
          if (b > 1) {
            throw malformed("boolean byte " + b);
          }
          emit(b == 1 ? "true" : "false");
        }
        case BYTE -> emit("(byte) " + (byte) u8());
        case SHORT -> emit("(short) " + (short) fixed(2));
        case CHAR -> emit("'" + (char) fixed(2) + "'");
        case INT -> emit(Integer.toString((int) fixed(4)));
        case LONG -> emit(fixed(8) + "L");
        case FLOAT -> emit(Float.intBitsToFloat((int) fixed(4)) + "f");
        case DOUBLE -> emit(Double.toString(Double.longBitsToDouble(fixed(8))));
        case STRING -> emit("\"" + utf8() + "\"");
        case STRING_UTF16 -> {
          int n = length();
          StringBuilder s = new StringBuilder(n);
          for (int i = 0; i < n; i++) {
            s.append((char) fixed(2));
          }
          emit("\"" + s + "\"");
        }
        case BIG_INTEGER -> emit(new java.math.BigInteger(nonEmpty(chunk(length()))) + "BI");
        case BIG_DECIMAL -> {
          int scale = (int) fixed(4);
          emit(
              new java.math.BigDecimal(new java.math.BigInteger(nonEmpty(chunk(length()))), scale)
                  + "BD");
        }
        case UUID -> emit(new java.util.UUID(fixed(8), fixed(8)).toString());
        case DATE -> emit("Date(" + fixed(8) + ")");
        case ENUM -> {
          String type = utf8();
          emit(simpleName(type) + "." + utf8());
        }
        case TIME -> {
          String type = utf8();
          if (!TIME_CLASSES.contains(type)) {
            throw malformed("unknown time class " + type);
          }
          emit(utf8());
        }
        case PARAMETERS -> items(length(), depth, "(", ")");
        case LIST -> items(length(), depth, "[", "]");
        case ARRAY -> items(length(), depth, "array[", "]");
        case PRIMITIVE_ARRAY -> {
          int component = u8();
          int width =
              switch (component) {
                case BOOLEAN, BYTE -> 1;
                case SHORT, CHAR -> 2;
                case INT, FLOAT -> 4;
                case LONG, DOUBLE -> 8;
                default -> throw malformed("primitive array of tag " + component);
              };
          int n = length();
          chunk(Math.multiplyExact(n, width));
          emit((char) component + "[" + n + "]");
        }
        case SET -> {
          int n = length();
          int[] starts = new int[n];
          emit("{");
          for (int i = 0; i < n; i++) {
            if (i > 0) {
              emit(", ");
            }
            starts[i] = pos;
            item(depth + 1);
          }
          emit("}");
          requireSorted(starts, pos, "set elements");
        }
        case MAP -> {
          int n = length();
          int[] keyStarts = new int[n];
          int[] keyEnds = new int[n];
          emit("{");
          for (int i = 0; i < n; i++) {
            if (i > 0) {
              emit(", ");
            }
            keyStarts[i] = pos;
            item(depth + 1);
            keyEnds[i] = pos;
            emit("=");
            item(depth + 1);
          }
          emit("}");
          for (int i = 1; i < n; i++) {
            if (Arrays.compareUnsigned(
                    in, keyStarts[i - 1], keyEnds[i - 1], in, keyStarts[i], keyEnds[i])
                >= 0) {
              throw malformed("map keys not in canonical order");
            }
          }
        }
        case RECORD -> {
          String type = utf8();
          items(length(), depth, simpleName(type) + "[", "]");
        }
        case COMPOSITE -> {
          String name = utf8();
          items(length(), depth, name + "(", ")");
        }
        default -> throw malformed("unknown tag 0x" + Integer.toHexString(tag));
      }
    }

    private byte[] nonEmpty(byte[] magnitude) {
      if (magnitude.length == 0) {
        throw malformed("empty big number");
      }
      return magnitude;
    }
  }
}
