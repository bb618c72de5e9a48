package dev.shardcache.ring;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * The 64-bit hash that places keys and virtual nodes on the {@link HashRing}.
 *
 * <p>The hash is the first 64 bits ({@code h1}) of MurmurHash3 x64_128 with seed 0, read as a
 * little-endian {@code long}. It is therefore the same value as Guava's {@code
 * Hashing.murmur3_128().hashBytes(bytes).asLong()}, which the tests check, but this class neither
 * depends on Guava nor allocates: a call reads the input array in place and works only on
 * primitives, so it can run on the request path of every cache operation.
 *
 * <p><b>Stability.</b> The value of this function is part of the wire contract between nodes: all
 * nodes of a cluster, in every version that may run side by side during a rolling upgrade, must
 * compute the same hash for the same bytes, or they disagree about which member owns a key. The
 * tests pin a few outputs to literal constants; never change the algorithm, the seed, or the choice
 * of 64 bits.
 *
 * <p>All methods are static, pure and thread-safe. Arguments must not be {@code null}. The caller
 * must not modify the array while a call reads it.
 */
public final class KeyHash {

  private static final long C1 = 0x87c37b91114253d5L;
  private static final long C2 = 0x4cf5ad432745937fL;

  /** Reads 8 bytes as a little-endian long: one load on the JIT, no allocation. */
  private static final VarHandle LONG_LE =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  private KeyHash() {}

  /**
   * Returns the 64-bit ring hash of all of {@code bytes}.
   *
   * @param bytes the key bytes, typically a key codec's output; not modified
   * @return the first 64 bits of MurmurHash3 x64_128 (seed 0) of {@code bytes}
   * @throws NullPointerException if {@code bytes} is null
   */
  public static long hash(byte[] bytes) {
    return hash(bytes, 0, bytes.length);
  }

  /**
   * Returns the 64-bit ring hash of {@code len} bytes of {@code bytes} starting at {@code off}: the
   * same value as {@link #hash(byte[])} of a copy of that range.
   *
   * @param bytes the array holding the key; not modified
   * @param off the index of the first byte hashed
   * @param len the number of bytes hashed
   * @return the first 64 bits of MurmurHash3 x64_128 (seed 0) of the range
   * @throws NullPointerException if {@code bytes} is null
   * @throws IndexOutOfBoundsException if the range is not within {@code bytes}
   */
  public static long hash(byte[] bytes, int off, int len) {
    Objects.checkFromIndexSize(off, len, bytes.length);
    long h1 = 0L; // seed 0
    long h2 = 0L;
    final int end = off + len;
    final int blocksEnd = off + (len & ~15);

    int i = off;
    for (; i < blocksEnd; i += 16) {
      long k1 = (long) LONG_LE.get(bytes, i);
      long k2 = (long) LONG_LE.get(bytes, i + 8);

      h1 ^= mixK1(k1);
      h1 = Long.rotateLeft(h1, 27);
      h1 += h2;
      h1 = h1 * 5 + 0x52dce729;

      h2 ^= mixK2(k2);
      h2 = Long.rotateLeft(h2, 31);
      h2 += h1;
      h2 = h2 * 5 + 0x38495ab5;
    }

    // Tail: the last (len & 15) bytes, little-endian, bytes as unsigned.
    int rem = end - i;
    if (rem > 0) {
      long k1 = 0L;
      long k2 = 0L;
      if (rem > 8) {
        for (int j = rem - 1; j >= 8; j--) {
          k2 |= (bytes[i + j] & 0xFFL) << ((j - 8) << 3);
        }
        h2 ^= mixK2(k2);
      }
      int lowBytes = Math.min(rem, 8);
      for (int j = lowBytes - 1; j >= 0; j--) {
        k1 |= (bytes[i + j] & 0xFFL) << (j << 3);
      }
      h1 ^= mixK1(k1);
    }

    // Finalization. MurmurHash3 mixes the length in as a 64-bit value.
    h1 ^= len;
    h2 ^= len;
    h1 += h2;
    h2 += h1;
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 += h2;
    // h2 += h1 would complete the 128-bit result; only h1 is returned.
    return h1;
  }

  private static long mixK1(long k1) {
    k1 *= C1;
    k1 = Long.rotateLeft(k1, 31);
    k1 *= C2;
    return k1;
  }

  private static long mixK2(long k2) {
    k2 *= C2;
    k2 = Long.rotateLeft(k2, 33);
    k2 *= C1;
    return k2;
  }

  private static long fmix64(long k) {
    k ^= k >>> 33;
    k *= 0xff51afd7ed558ccdL;
    k ^= k >>> 33;
    k *= 0xc4ceb9fe1a85ec53L;
    k ^= k >>> 33;
    return k;
  }
}
