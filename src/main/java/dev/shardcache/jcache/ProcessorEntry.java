package dev.shardcache.jcache;

import static java.util.Objects.requireNonNull;

import java.util.function.Function;
import javax.cache.processor.MutableEntry;
import org.jspecify.annotations.Nullable;

/**
 * The entry an {@link javax.cache.processor.EntryProcessor} works on: a snapshot of the entry read
 * before the processor runs, and a record of what the processor did to it. Only the net effect is
 * applied afterwards, as one compare-and-set on the owner:
 *
 * <ul>
 *   <li>{@code setValue} on an entry that existed is an UPDATE, on one that did not a CREATE;
 *   <li>{@code remove} after a CREATE or a LOAD cancels it (NONE); otherwise it is a REMOVE, even
 *       of an absent entry (a writer still hears of it);
 *   <li>{@code getValue} of an absent entry with read-through loads it (LOAD, stored like a
 *       read-through); of a present one, with nothing else done, it is an ACCESS (the access expiry
 *       applies).
 * </ul>
 *
 * Used by one thread, for one run of one processor; not thread-safe.
 */
final class ProcessorEntry<K, V> implements MutableEntry<K, V> {
  enum Operation {
    NONE,
    ACCESS,
    LOAD,
    CREATE,
    UPDATE,
    REMOVE
  }

  private final K key;
  private final @Nullable V original;
  private final @Nullable Function<K, @Nullable V> loader;
  private @Nullable V value;
  private Operation operation = Operation.NONE;

  /**
   * @param original the value before the processor ran, or {@code null} if absent
   * @param loader loads the key for {@code getValue} of an absent entry, or {@code null} without
   *     read-through
   */
  ProcessorEntry(K key, @Nullable V original, @Nullable Function<K, @Nullable V> loader) {
    this.key = key;
    this.original = original;
    this.value = original;
    this.loader = loader;
  }

  @Override
  public K getKey() {
    return key;
  }

  @Override
  public @Nullable V getValue() {
    if (value == null && operation == Operation.NONE && loader != null) {
      value = loader.apply(key);
      if (value != null) {
        operation = Operation.LOAD;
      }
    } else if (value != null && operation == Operation.NONE) {
      operation = Operation.ACCESS;
    }
    return value;
  }

  @Override
  public boolean exists() {
    return value != null;
  }

  @Override
  public void remove() {
    value = null;
    operation =
        (operation == Operation.CREATE || operation == Operation.LOAD)
            ? Operation.NONE
            : Operation.REMOVE;
  }

  @Override
  public void setValue(V newValue) {
    requireNonNull(newValue, "an entry processor cannot set a null value; use remove()");
    value = newValue;
    operation = original == null ? Operation.CREATE : Operation.UPDATE;
  }

  /** What the processor did, net. */
  Operation operation() {
    return operation;
  }

  /** The value the entry has after the processor, or {@code null} if it has none. */
  @Nullable V value() {
    return value;
  }

  @Override
  public <T> T unwrap(Class<T> clazz) {
    if (clazz.isInstance(this)) {
      return clazz.cast(this);
    }
    throw new IllegalArgumentException("a mutable entry cannot be unwrapped to " + clazz.getName());
  }
}
