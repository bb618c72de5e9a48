package dev.shardcache.spring;

import dev.shardcache.objects.StableKeyEncoder;
import java.lang.reflect.Field;
import org.jspecify.annotations.Nullable;
import org.springframework.cache.interceptor.SimpleKey;

/**
 * Spring's key types, taught to the {@link StableKeyEncoder}.
 *
 * <p>{@link SimpleKey} (the key of a method with zero or several arguments under Spring's default
 * {@code SimpleKeyGenerator}) compares its arguments with {@code Arrays.deepEquals}, but does not
 * expose them, and its {@code toString()} is ambiguous ({@code SimpleKey("a, b")} and {@code
 * SimpleKey("a", "b")} print alike). The arguments are read from its {@code params} field, which
 * has held them since Spring 4.0; if a future Spring renames it, creating a cache manager fails at
 * once with a message saying so, rather than keys being encoded wrongly.
 */
final class SpringKeys {
  private static final @Nullable Field PARAMS = paramsField();

  private SpringKeys() {}

  private static @Nullable Field paramsField() {
    try {
      Field field = SimpleKey.class.getDeclaredField("params");
      field.setAccessible(true);
      return field.getType() == Object[].class ? field : null;
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }

  /** Returns a builder of an encoder that knows Spring's key types besides the standard ones. */
  static StableKeyEncoder.Builder encoderBuilder() {
    Field params = PARAMS;
    if (params == null) {
      throw new IllegalStateException(
          "this version of Spring's SimpleKey has no readable 'params'"
              + " field, so its arguments cannot be encoded by value; configure a KeyGenerator that"
              + " returns keys of standard types (such as a List of the arguments)");
    }
    return StableKeyEncoder.builder().parameterList(SimpleKey.class, key -> params(params, key));
  }

  private static @Nullable Object[] params(Field params, SimpleKey key) {
    try {
      return (Object[]) params.get(key);
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("cannot read the arguments of " + key, e);
    }
  }
}
