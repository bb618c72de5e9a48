package dev.shardcache.objects;

import static java.util.Objects.requireNonNull;

import java.lang.reflect.InaccessibleObjectException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.RecordComponent;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * Turns the keys that annotated methods produce (method arguments, Spring's {@code SimpleKey},
 * values picked by an expression) into {@link StableKey}s: bytes that are equal on every node
 * exactly when the keys are {@code equal}, so that every node agrees on each key's owner.
 *
 * <h2>The rule</h2>
 *
 * A key is encoded by its <em>value</em>, never by its identity, hash code or serialized form:
 *
 * <ul>
 *   <li>{@code null}, strings, booleans, characters, the boxed integers and floating-point numbers
 *       (by their bits, as {@code Double.equals} compares them), {@link BigInteger}, {@link
 *       BigDecimal} (value and scale, as its {@code equals} does), {@link UUID}, {@link Date},
 *       enums (class and constant name) and the {@code java.time} values (class and ISO text);
 *   <li>lists (any {@link List}, in order), sets (any {@link Set}) and maps (any {@link Map}). Sets
 *       and maps are written in the order of their elements' encodings, not their iteration order,
 *       so a {@code HashSet} and a {@code TreeSet} of the same strings, or two {@code HashMap}s
 *       filled in different orders, give the same bytes;
 *   <li>arrays, element by element (as {@code Arrays.deepEquals}); records, component by component
 *       (as a record's generated {@code equals});
 *   <li>types registered on a {@link Builder}: as a named list of parts, or as a parameter list.
 * </ul>
 *
 * Any other type is refused with an {@link IllegalArgumentException} naming it, rather than encoded
 * in some way that might differ between two equal keys (Java serialization of a {@code HashMap},
 * {@code toString()}, identity). Different types never share bytes: the integer {@code 1} and the
 * long {@code 1L} are different keys, as they are in a Java map.
 *
 * <p>The rule holds as long as the key's {@code equals} is the one described: a record that
 * overrides {@code equals}, or a {@code TreeSet} with a case-insensitive comparator, can be equal
 * to a key with other bytes. Do not use such keys.
 *
 * <p>The layout is versioned and pinned by tests, like the ring's hash: changing it would move
 * every key during a rolling upgrade.
 *
 * <p>Instances are immutable and thread-safe; {@link #encode} does not block.
 */
public final class StableKeyEncoder {

  private static final StableKeyEncoder STANDARD = new Builder().build();

  private final List<Rule<?>> rules;

  private StableKeyEncoder(List<Rule<?>> rules) {
    this.rules = List.copyOf(rules);
  }

  /** Returns the encoder of the standard types only. */
  public static StableKeyEncoder standard() {
    return STANDARD;
  }

  /** Returns a builder that adds types to the standard ones. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Returns the stable key of {@code key}.
   *
   * @throws IllegalArgumentException if {@code key} is or contains a value of a type this encoder
   *     cannot encode by value, or is nested more than 32 levels deep
   */
  public StableKey encode(@Nullable Object key) {
    StableKeyFormat.Writer out = new StableKeyFormat.Writer();
    out.tag(StableKeyFormat.VERSION);
    write(out, key, 0);
    return StableKey.ofValidBytes(out.toByteArray());
  }

  /**
   * Returns the key of a method call with {@code arguments}, shaped as Spring's {@code
   * SimpleKeyGenerator} shapes it: no arguments and several arguments are a parameter list; a
   * single argument that is not an array is the key itself. A Spring cache and a plain-Java proxy
   * therefore compute the same key for the same arguments.
   *
   * @throws IllegalArgumentException as {@link #encode}
   */
  public StableKey encodeArguments(@Nullable Object... arguments) {
    requireNonNull(arguments, "arguments");
    if (arguments.length == 1 && (arguments[0] == null || !arguments[0].getClass().isArray())) {
      return encode(arguments[0]);
    }
    StableKeyFormat.Writer out = new StableKeyFormat.Writer();
    out.tag(StableKeyFormat.VERSION);
    writeParameters(out, arguments, 0);
    return StableKey.ofValidBytes(out.toByteArray());
  }

  private void writeParameters(StableKeyFormat.Writer out, @Nullable Object[] params, int depth) {
    out.tag(StableKeyFormat.PARAMETERS);
    out.length(params.length);
    for (Object param : params) {
      write(out, param, depth + 1);
    }
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private void write(StableKeyFormat.Writer out, @Nullable Object key, int depth) {
    if (depth > StableKeyFormat.MAX_DEPTH) {
      throw new IllegalArgumentException(
          "cache key is nested more than "
              + StableKeyFormat.MAX_DEPTH
              + " levels deep (is it cyclic?)");
    }
    if (key == null) {
      out.tag(StableKeyFormat.NULL);
      return;
    }
    for (Rule<?> rule : rules) {
      if (rule.type.isInstance(key)) {
        Rule raw = rule;
        raw.write(this, out, key, depth);
        return;
      }
    }
    if (key instanceof String s) {
      out.string(s);
    } else if (key instanceof Integer i) {
      out.tag(StableKeyFormat.INT);
      out.fixed(i, 4);
    } else if (key instanceof Long l) {
      out.tag(StableKeyFormat.LONG);
      out.fixed(l, 8);
    } else if (key instanceof Boolean b) {
      out.tag(StableKeyFormat.BOOLEAN);
      out.fixed(b ? 1 : 0, 1);
    } else if (key instanceof Character c) {
      out.tag(StableKeyFormat.CHAR);
      out.fixed(c, 2);
    } else if (key instanceof Short s) {
      out.tag(StableKeyFormat.SHORT);
      out.fixed(s, 2);
    } else if (key instanceof Byte b) {
      out.tag(StableKeyFormat.BYTE);
      out.fixed(b, 1);
    } else if (key instanceof Double d) {
      out.tag(StableKeyFormat.DOUBLE);
      out.fixed(Double.doubleToLongBits(d), 8);
    } else if (key instanceof Float f) {
      out.tag(StableKeyFormat.FLOAT);
      out.fixed(Float.floatToIntBits(f), 4);
    } else if (key instanceof BigInteger bi && key.getClass() == BigInteger.class) {
      out.tag(StableKeyFormat.BIG_INTEGER);
      out.bytes(bi.toByteArray());
    } else if (key instanceof BigDecimal bd && key.getClass() == BigDecimal.class) {
      out.tag(StableKeyFormat.BIG_DECIMAL);
      out.fixed(bd.scale(), 4);
      out.bytes(bd.unscaledValue().toByteArray());
    } else if (key instanceof UUID u) {
      out.tag(StableKeyFormat.UUID);
      out.fixed(u.getMostSignificantBits(), 8);
      out.fixed(u.getLeastSignificantBits(), 8);
    } else if (key instanceof Date date && key.getClass() == Date.class) {
      out.tag(StableKeyFormat.DATE);
      // An application's Date key is encoded as it is: its millisecond instant is all it holds.
      @SuppressWarnings("JavaUtilDate")
      long millis = date.getTime();
      out.fixed(millis, 8);
    } else if (key instanceof Enum<?> e) {
      out.tag(StableKeyFormat.ENUM);
      out.text(e.getDeclaringClass().getName());
      out.text(e.name());
    } else if (timeClassOf(key) != null) {
      out.tag(StableKeyFormat.TIME);
      out.text(requireNonNull(timeClassOf(key)));
      out.text(key instanceof ZoneId z ? z.getId() : key.toString());
    } else if (key instanceof List<?> list) {
      writeAll(out, StableKeyFormat.LIST, list, depth);
    } else if (key instanceof Set<?> set) {
      writeSorted(out, set, depth);
    } else if (key instanceof Map<?, ?> map) {
      writeMap(out, map, depth);
    } else if (key instanceof Object[] array) {
      writeAll(out, StableKeyFormat.ARRAY, Arrays.asList(array), depth);
    } else if (key.getClass().isArray()) {
      writePrimitiveArray(out, key);
    } else if (key instanceof Record record) {
      writeRecord(out, record, depth);
    } else {
      throw new IllegalArgumentException(
          "cannot use a "
              + key.getClass().getName()
              + " as a cache"
              + " key: keys are encoded by value, and only strings, numbers, booleans, characters,"
              + " enums, UUIDs, dates, java.time values, records, lists, sets, maps and arrays of these"
              + " can be (see StableKeyEncoder). Use a key of such a type (with Spring: key = \"#arg.id\"),"
              + " make the class a record, or register it with StableKeyEncoder.builder().composite(...)");
    }
  }

  private static @Nullable String timeClassOf(Object key) {
    if (key instanceof ZoneOffset) {
      return "java.time.ZoneOffset";
    }
    if (key instanceof ZoneId) {
      return "java.time.ZoneId";
    }
    String name = key.getClass().getName();
    return StableKeyFormat.TIME_CLASSES.contains(name) ? name : null;
  }

  private void writeAll(StableKeyFormat.Writer out, byte tag, Collection<?> items, int depth) {
    out.tag(tag);
    out.length(items.size());
    for (Object item : items) {
      write(out, item, depth + 1);
    }
  }

  private byte[] itemBytes(@Nullable Object item, int depth) {
    StableKeyFormat.Writer nested = new StableKeyFormat.Writer();
    write(nested, item, depth);
    return nested.toByteArray();
  }

  private void writeSorted(StableKeyFormat.Writer out, Set<?> set, int depth) {
    List<byte[]> items = new ArrayList<>(set.size());
    for (Object item : set) {
      items.add(itemBytes(item, depth + 1));
    }
    items.sort(Arrays::compareUnsigned);
    out.tag(StableKeyFormat.SET);
    out.length(items.size());
    items.forEach(out::raw);
  }

  private void writeMap(StableKeyFormat.Writer out, Map<?, ?> map, int depth) {
    List<byte[][]> entries = new ArrayList<>(map.size());
    for (Map.Entry<?, ?> entry : map.entrySet()) {
      entries.add(
          new byte[][] {
            itemBytes(entry.getKey(), depth + 1), itemBytes(entry.getValue(), depth + 1)
          });
    }
    entries.sort((a, b) -> Arrays.compareUnsigned(a[0], b[0]));
    out.tag(StableKeyFormat.MAP);
    out.length(entries.size());
    for (byte[][] entry : entries) {
      out.raw(entry[0]);
      out.raw(entry[1]);
    }
  }

  private static void writePrimitiveArray(StableKeyFormat.Writer out, Object array) {
    out.tag(StableKeyFormat.PRIMITIVE_ARRAY);
    if (array instanceof byte[] a) {
      out.tag(StableKeyFormat.BYTE);
      out.length(a.length);
      out.raw(a);
    } else if (array instanceof int[] a) {
      out.tag(StableKeyFormat.INT);
      out.length(a.length);
      for (int v : a) {
        out.fixed(v, 4);
      }
    } else if (array instanceof long[] a) {
      out.tag(StableKeyFormat.LONG);
      out.length(a.length);
      for (long v : a) {
        out.fixed(v, 8);
      }
    } else if (array instanceof char[] a) {
      out.tag(StableKeyFormat.CHAR);
      out.length(a.length);
      for (char v : a) {
        out.fixed(v, 2);
      }
    } else if (array instanceof short[] a) {
      out.tag(StableKeyFormat.SHORT);
      out.length(a.length);
      for (short v : a) {
        out.fixed(v, 2);
      }
    } else if (array instanceof boolean[] a) {
      out.tag(StableKeyFormat.BOOLEAN);
      out.length(a.length);
      for (boolean v : a) {
        out.fixed(v ? 1 : 0, 1);
      }
    } else if (array instanceof float[] a) {
      out.tag(StableKeyFormat.FLOAT);
      out.length(a.length);
      for (float v : a) {
        out.fixed(Float.floatToIntBits(v), 4);
      }
    } else {
      double[] a = (double[]) array;
      out.tag(StableKeyFormat.DOUBLE);
      out.length(a.length);
      for (double v : a) {
        out.fixed(Double.doubleToLongBits(v), 8);
      }
    }
  }

  private static final ClassValue<Method[]> RECORD_ACCESSORS =
      new ClassValue<>() {
        @Override
        protected Method[] computeValue(Class<?> type) {
          RecordComponent[] components = type.getRecordComponents();
          Method[] accessors = new Method[components.length];
          for (int i = 0; i < components.length; i++) {
            Method accessor = components[i].getAccessor();
            try {
              accessor.setAccessible(true);
            } catch (InaccessibleObjectException | SecurityException e) {
              throw new IllegalArgumentException(
                  "cannot read the components of record "
                      + type.getName()
                      + " to use it as a cache key: "
                      + e.getMessage(),
                  e);
            }
            accessors[i] = accessor;
          }
          return accessors;
        }
      };

  private void writeRecord(StableKeyFormat.Writer out, Record record, int depth) {
    Method[] accessors = RECORD_ACCESSORS.get(record.getClass());
    out.tag(StableKeyFormat.RECORD);
    out.text(record.getClass().getName());
    out.length(accessors.length);
    for (Method accessor : accessors) {
      Object component;
      try {
        component = accessor.invoke(record);
      } catch (IllegalAccessException | InvocationTargetException e) {
        throw new IllegalArgumentException("cannot read " + accessor + " of a cache key: " + e, e);
      }
      write(out, component, depth + 1);
    }
  }

  @Override
  public String toString() {
    List<String> added = new ArrayList<>();
    for (Rule<?> rule : rules) {
      added.add(rule.type.getName());
    }
    return "StableKeyEncoder" + (added.isEmpty() ? "{standard}" : "{standard + " + added + "}");
  }

  /** How one registered type is written. */
  private abstract static class Rule<T> {
    final Class<T> type;

    Rule(Class<T> type) {
      this.type = type;
    }

    abstract void write(StableKeyEncoder encoder, StableKeyFormat.Writer out, T key, int depth);
  }

  /**
   * Builds a {@link StableKeyEncoder} that knows more types than the standard ones. Registered
   * types are tried in registration order, before the standard rules. Not thread-safe.
   */
  public static final class Builder {
    private final Map<Class<?>, Rule<?>> rules = new LinkedHashMap<>();

    private Builder() {}

    /**
     * Encodes keys of {@code type} (and its subtypes) as a composite named {@code name} made of
     * {@code parts}, each encoded by the rules of this encoder. Two keys of the type must be {@code
     * equal} exactly when their parts are. The name, not the class, identifies the composite, so it
     * must be the same on every node.
     *
     * @throws IllegalStateException if {@code type} was already registered
     * @throws IllegalArgumentException if {@code name} is blank
     */
    public <T> Builder composite(
        Class<T> type, String name, Function<? super T, ? extends List<?>> parts) {
      requireNonNull(type, "type");
      requireNonNull(name, "name");
      requireNonNull(parts, "parts");
      if (name.isBlank()) {
        throw new IllegalArgumentException("composite name must not be blank");
      }
      return add(
          new Rule<T>(type) {
            @Override
            void write(StableKeyEncoder encoder, StableKeyFormat.Writer out, T key, int depth) {
              List<?> values = requireNonNull(parts.apply(key), "parts of a " + type.getName());
              out.tag(StableKeyFormat.COMPOSITE);
              out.text(name);
              out.length(values.size());
              for (Object value : values) {
                encoder.write(out, value, depth + 1);
              }
            }
          });
    }

    /**
     * Encodes keys of {@code type} as the parameter list {@code parameters} returns, exactly as
     * {@link StableKeyEncoder#encodeArguments} encodes several arguments. Meant for the key types
     * of caching frameworks that stand for "these method arguments", such as Spring's {@code
     * SimpleKey}.
     *
     * @throws IllegalStateException if {@code type} was already registered
     */
    public <T> Builder parameterList(
        Class<T> type, Function<? super T, @Nullable Object[]> parameters) {
      requireNonNull(type, "type");
      requireNonNull(parameters, "parameters");
      return add(
          new Rule<T>(type) {
            @Override
            void write(StableKeyEncoder encoder, StableKeyFormat.Writer out, T key, int depth) {
              encoder.writeParameters(
                  out, requireNonNull(parameters.apply(key), "parameters"), depth);
            }
          });
    }

    private Builder add(Rule<?> rule) {
      if (rules.containsKey(rule.type)) {
        throw new IllegalStateException(rule.type.getName() + " was already registered");
      }
      rules.put(rule.type, rule);
      return this;
    }

    /** Returns the encoder. */
    public StableKeyEncoder build() {
      return new StableKeyEncoder(new ArrayList<>(rules.values()));
    }
  }
}
