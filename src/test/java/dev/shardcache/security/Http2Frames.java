package dev.shardcache.security;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;

/**
 * Just enough HTTP/2 (RFC 9113) to write a gRPC call byte by byte, or to write it wrong: the client
 * preface, frames whose declared length may lie, and HPACK header blocks made only of literal
 * fields (no indexing, no Huffman coding), so that any name, value or size can be sent whatever a
 * real client would allow.
 */
final class Http2Frames {

  static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(US_ASCII);
  static final int DATA = 0x0;
  static final int HEADERS = 0x1;
  static final int RST_STREAM = 0x3;
  static final int SETTINGS = 0x4;
  static final int WINDOW_UPDATE = 0x8;
  static final int END_STREAM = 0x1;
  static final int END_HEADERS = 0x4;

  /** An empty SETTINGS frame: a client that accepts every default. */
  static final byte[] EMPTY_SETTINGS = frame(SETTINGS, 0, 0, new byte[0]);

  private Http2Frames() {}

  /** A frame whose header declares {@code declaredLength} bytes, followed by {@code payload}. */
  static byte[] frame(int declaredLength, int type, int flags, int stream, byte[] payload) {
    ByteBuffer buffer = ByteBuffer.allocate(9 + payload.length);
    buffer
        .put((byte) (declaredLength >>> 16))
        .put((byte) (declaredLength >>> 8))
        .put((byte) declaredLength);
    buffer.put((byte) type).put((byte) flags).putInt(stream).put(payload);
    return buffer.array();
  }

  /** A frame whose header tells the truth about its length. */
  static byte[] frame(int type, int flags, int stream, byte[] payload) {
    return frame(payload.length, type, flags, stream, payload);
  }

  /** The 5-byte gRPC message prefix (compressed flag, declared length) and the message. */
  static byte[] grpcMessage(byte compressed, int declaredLength, byte[] message) {
    return ByteBuffer.allocate(5 + message.length)
        .put(compressed)
        .putInt(declaredLength)
        .put(message)
        .array();
  }

  /** The request headers of a gRPC call to {@code method} ("package.Service/Method"). */
  static void grpcRequestHeaders(ByteArrayOutputStream block, String method) {
    literal(block, ":method", "POST");
    literal(block, ":scheme", "http");
    literal(block, ":path", "/" + method);
    literal(block, ":authority", "127.0.0.1");
    literal(block, "content-type", "application/grpc");
    literal(block, "te", "trailers");
  }

  /** Appends an HPACK "literal header field without indexing, new name", without Huffman coding. */
  static void literal(ByteArrayOutputStream block, String name, String value) {
    block.write(0x00);
    string(block, name.getBytes(UTF_8));
    string(block, value.getBytes(UTF_8));
  }

  private static void string(ByteArrayOutputStream block, byte[] bytes) {
    // A 7-bit prefix integer (RFC 7541 5.1), Huffman bit clear.
    int length = bytes.length;
    if (length < 127) {
      block.write(length);
    } else {
      block.write(127);
      length -= 127;
      while (length >= 128) {
        block.write((length & 0x7f) | 0x80);
        length >>>= 7;
      }
      block.write(length);
    }
    block.writeBytes(bytes);
  }

  /**
   * A whole connection's bytes for one unary gRPC call on stream 1: preface, settings, the headers
   * (split into a HEADERS frame and CONTINUATION frames of 4 KiB each) and one DATA frame with the
   * message, ending the stream.
   */
  static byte[] unaryCall(byte[] headerBlock, byte[] message) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(PREFACE);
    out.writeBytes(EMPTY_SETTINGS);
    int maxFrame = 4 * 1024;
    for (int from = 0; from < headerBlock.length || from == 0; from += maxFrame) {
      int to = Math.min(headerBlock.length, from + maxFrame);
      byte[] fragment = java.util.Arrays.copyOfRange(headerBlock, from, to);
      boolean last = to == headerBlock.length;
      int type = from == 0 ? HEADERS : 0x9; // CONTINUATION
      out.writeBytes(frame(type, last ? END_HEADERS : 0, 1, fragment));
      if (last) {
        break;
      }
    }
    out.writeBytes(frame(DATA, END_STREAM, 1, grpcMessage((byte) 0, message.length, message)));
    return out.toByteArray();
  }
}
