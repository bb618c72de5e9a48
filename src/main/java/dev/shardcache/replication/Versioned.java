package dev.shardcache.replication;

import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A copy of one key's state on a replica: a value, or a tombstone saying the key was deleted, and
 * the {@link Version} of the write that produced it. Immutable, and thread-safe if the value is
 * (values are meant to be immutable, such as encoded bytes that nobody modifies).
 *
 * <h2>Merge: last writer wins</h2>
 *
 * {@link #merge(Versioned, Versioned)} keeps the copy with the higher version. Versions are totally
 * ordered, so merge is the maximum under a total order and is
 *
 * <ul>
 *   <li><b>commutative:</b> {@code merge(a, b)} equals {@code merge(b, a)};
 *   <li><b>associative:</b> {@code merge(merge(a, b), c)} equals {@code merge(a, merge(b, c))};
 *   <li><b>idempotent:</b> {@code merge(a, a)} is {@code a}.
 * </ul>
 *
 * Together these mean a replica ends in the same state whatever order the writes reach it in, and
 * however many times each arrives (replication, hints, read repair, anti-entropy may all deliver
 * the same write). All three rest on one assumption: two copies with equal versions come from the
 * same write by the same node and so hold equal contents (see {@link Version}). When the versions
 * are equal, merge returns its first argument.
 *
 * <h2>Tombstones</h2>
 *
 * A delete writes a tombstone, {@link #tombstone(Version)}, with a new version, instead of removing
 * the key. A tombstone merges like any copy: it beats every older value, so an older write that
 * arrives after the delete (a late replication message, a delivered hint) cannot undo it; and it
 * loses to every newer value, so a write after the delete brings the key back as it should.
 *
 * <p><b>Bounded lifetime, and its consequence.</b> A store cannot keep tombstones forever, so it
 * drops them after a configured lifetime. Once a tombstone is gone, nothing remembers the delete: a
 * write <em>older</em> than the tombstone that arrives <em>after</em> the tombstone expired is
 * stored and resurrects the key. This is bounded: it takes a write that stayed in flight (in a
 * queue, a hint, or behind a partition) for longer than the tombstone lifetime. Configure the
 * lifetime above the longest such delay.
 *
 * <p>{@link #equals} compares the value (with {@link Object#equals}) and the version.
 *
 * @param <V> the value type, such as the encoded bytes of a cache value
 */
public final class Versioned<V> {

  private final @Nullable V value;
  private final Version version;

  private Versioned(@Nullable V value, Version version) {
    this.value = value;
    this.version = Objects.requireNonNull(version, "version");
  }

  /**
   * Returns a copy holding a value.
   *
   * @param value the value; use {@link #tombstone(Version)} for a delete
   * @param version the version of the write
   * @return the copy
   * @param <V> the value type
   * @throws NullPointerException if an argument is null
   */
  public static <V> Versioned<V> of(V value, Version version) {
    return new Versioned<>(Objects.requireNonNull(value, "value"), version);
  }

  /**
   * Returns a tombstone: the key was deleted by the write with {@code version}.
   *
   * @param version the version of the delete
   * @return the tombstone
   * @param <V> the value type
   * @throws NullPointerException if {@code version} is null
   */
  public static <V> Versioned<V> tombstone(Version version) {
    return new Versioned<>(null, version);
  }

  /**
   * Merges two copies of the same key: returns the one with the higher version, or {@code a} if the
   * versions are equal. Commutative, associative and idempotent (see the class comment); a
   * tombstone wins over every older copy and loses to every newer one.
   *
   * @param a a copy
   * @param b another copy of the same key
   * @return {@code a} or {@code b}, never a new object
   * @param <V> the value type
   * @throws NullPointerException if an argument is null
   */
  public static <V> Versioned<V> merge(Versioned<V> a, Versioned<V> b) {
    return b.version.isNewerThan(a.version) ? b : a;
  }

  /** The value, or {@code null} if this is a tombstone. */
  public @Nullable V value() {
    return value;
  }

  /** The version of the write that produced this copy. */
  public Version version() {
    return version;
  }

  /** Whether this copy records a delete rather than a value. */
  public boolean isTombstone() {
    return value == null;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof Versioned<?> other
        && version.equals(other.version)
        && Objects.equals(value, other.value);
  }

  @Override
  public int hashCode() {
    return 31 * version.hashCode() + Objects.hashCode(value);
  }

  @Override
  public String toString() {
    return (value == null ? "Tombstone" : "Versioned[" + value + "]") + "@" + version;
  }
}
