package dev.shardcache.annotation;

import com.google.common.primitives.ImmutableIntArray;
import dev.shardcache.CacheLoadException;
import dev.shardcache.objects.StableKey;
import dev.shardcache.objects.StableKeyEncoder;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.UndeclaredThrowableException;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The invocation handler of a caching proxy: runs each annotated method's {@link CacheOperation}
 * around the call to the target, and calls other methods straight through.
 *
 * <p>{@code @CacheResult} reads through {@code DistributedCache.get(key, loader)} with the target
 * method as the loader, so concurrent calls with the same key on one node share one call of the
 * method (and, on the key's owner, with callers on every node). A {@code null} result is returned
 * but not cached: the loader signals it with {@link NullResult}, since a loader may not return
 * {@code null}.
 */
final class CachingHandler implements InvocationHandler {
  private final Object target;
  private final Map<Method, CacheOperation> operations;
  private final StableKeyEncoder keys;

  CachingHandler(Object target, Map<Method, CacheOperation> operations, StableKeyEncoder keys) {
    this.target = target;
    this.operations = Map.copyOf(operations);
    this.keys = keys;
  }

  @Override
  public @Nullable Object invoke(Object proxy, Method method, @Nullable Object @Nullable [] args)
      throws Throwable {
    Object[] arguments = args == null ? new Object[0] : args;
    if (method.getDeclaringClass() == Object.class) {
      return objectMethod(proxy, method, arguments);
    }
    CacheOperation operation = operations.get(method);
    if (operation == null) {
      return call(method, arguments);
    }
    if (operation instanceof CacheOperation.Result result) {
      return cacheResult(result, method, arguments);
    }
    if (operation instanceof CacheOperation.Put put) {
      return around(
          method,
          arguments,
          put.afterInvocation(),
          put.cacheFor(),
          () -> {
            StableKey key = key(put.keyParameters(), arguments);
            Object value = arguments[put.valueParameter()];
            if (value == null) {
              put.cache().invalidate(key); // a cache cannot hold null; drop the stale value instead
            } else {
              put.cache().put(key, value);
            }
          });
    }
    if (operation instanceof CacheOperation.Remove remove) {
      return around(
          method,
          arguments,
          remove.afterInvocation(),
          remove.evictFor(),
          () -> remove.cache().invalidate(key(remove.keyParameters(), arguments)));
    }
    CacheOperation.RemoveAll removeAll = (CacheOperation.RemoveAll) operation;
    return around(
        method,
        arguments,
        removeAll.afterInvocation(),
        removeAll.evictFor(),
        () -> removeAll.cache().invalidateAll());
  }

  private @Nullable Object cacheResult(
      CacheOperation.Result result, Method method, Object[] arguments) throws Throwable {
    StableKey key = key(result.keyParameters(), arguments);
    if (result.skipGet()) {
      Object value = call(method, arguments);
      if (value != null) {
        result.cache().put(key, value);
      }
      return value;
    }
    try {
      return result
          .cache()
          .get(
              key,
              k -> {
                Object value;
                try {
                  value = method.invoke(target, arguments);
                } catch (InvocationTargetException e) {
                  // The target exception, never null when Method.invoke throws (getCause() may be
                  // null).
                  throw asException(e.getTargetException());
                }
                if (value == null) {
                  throw new NullResult();
                }
                return value;
              });
    } catch (CacheLoadException e) {
      Throwable cause = e.getCause();
      if (cause instanceof NullResult) {
        return null;
      }
      throw cause != null ? cause : e;
    }
  }

  /** Runs the method with {@code operation} before it, or after it as the exception rule allows. */
  private @Nullable Object around(
      Method method,
      Object[] arguments,
      boolean afterInvocation,
      ExceptionRule onException,
      Runnable operation)
      throws Throwable {
    if (!afterInvocation) {
      operation.run();
      return call(method, arguments);
    }
    Object value;
    try {
      value = call(method, arguments);
    } catch (Throwable t) {
      if (onException.matches(t)) {
        operation.run();
      }
      throw t;
    }
    operation.run();
    return value;
  }

  private StableKey key(ImmutableIntArray parameters, Object[] arguments) {
    Object[] keyArguments = new Object[parameters.length()];
    for (int i = 0; i < parameters.length(); i++) {
      keyArguments[i] = arguments[parameters.get(i)];
    }
    return keys.encodeArguments(keyArguments);
  }

  private @Nullable Object call(Method method, Object[] arguments) throws Throwable {
    try {
      return method.invoke(target, arguments);
    } catch (InvocationTargetException e) {
      throw e.getTargetException();
    }
  }

  private @Nullable Object objectMethod(Object proxy, Method method, Object[] arguments)
      throws Throwable {
    return switch (method.getName()) {
      case "equals" -> proxy == arguments[0];
      case "hashCode" -> System.identityHashCode(proxy);
      case "toString" -> "CachingProxy(" + target + ")";
      default -> call(method, arguments);
    };
  }

  private static Exception asException(Throwable t) {
    if (t instanceof Exception e) {
      return e;
    }
    if (t instanceof Error e) {
      throw e;
    }
    return new UndeclaredThrowableException(t);
  }

  /**
   * Thrown by a result loader whose method returned {@code null}: return it, cache nothing. One is
   * made per null result rather than kept in a static field; it records no stack trace, so that is
   * cheap.
   */
  private static final class NullResult extends RuntimeException {
    private static final long serialVersionUID = 1L;

    NullResult() {
      super("the method returned null", null, false, false);
    }
  }
}
