package dev.shardcache.annotation;

import com.google.common.primitives.ImmutableIntArray;
import dev.shardcache.DistributedCache;
import dev.shardcache.objects.StableKey;
import java.lang.annotation.Annotation;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Collectors;
import javax.cache.annotation.CacheDefaults;
import javax.cache.annotation.CacheKey;
import javax.cache.annotation.CacheKeyGenerator;
import javax.cache.annotation.CachePut;
import javax.cache.annotation.CacheRemove;
import javax.cache.annotation.CacheRemoveAll;
import javax.cache.annotation.CacheResolverFactory;
import javax.cache.annotation.CacheResult;
import javax.cache.annotation.CacheValue;
import org.jspecify.annotations.Nullable;

/**
 * Reads the JSR-107 annotations of one interface method into a {@link CacheOperation}, checking
 * everything that can be checked before the first call, so that a misplaced annotation fails when
 * the proxy is made rather than on some later call.
 */
final class OperationParser {
  private final Function<String, DistributedCache<StableKey, Object>> caches;

  OperationParser(Function<String, DistributedCache<StableKey, Object>> caches) {
    this.caches = caches;
  }

  /** Returns the operation of {@code method}, or {@code null} if it has no caching annotation. */
  @Nullable CacheOperation parse(Class<?> iface, Method method) {
    CacheResult result = method.getAnnotation(CacheResult.class);
    CachePut put = method.getAnnotation(CachePut.class);
    CacheRemove remove = method.getAnnotation(CacheRemove.class);
    CacheRemoveAll removeAll = method.getAnnotation(CacheRemoveAll.class);
    long count =
        Arrays.stream(new Object[] {result, put, remove, removeAll}).filter(a -> a != null).count();
    if (count == 0) {
      return null;
    }
    if (count > 1) {
      throw invalid(
          method,
          "has more than one of @CacheResult, @CachePut, @CacheRemove and"
              + " @CacheRemoveAll; JSR-107 allows one per method");
    }
    CacheDefaults defaults = defaults(iface, method);
    if (result != null) {
      checkSupported(method, result.cacheKeyGenerator(), result.cacheResolverFactory(), defaults);
      if (!result.exceptionCacheName().isEmpty()) {
        throw invalid(
            method,
            "sets exceptionCacheName; caching exceptions is not supported by"
                + " CachingProxy (remove it, or cache a result value that stands for the failure)");
      }
      if (method.getReturnType() == void.class) {
        throw invalid(method, "is @CacheResult but returns void: there is no result to cache");
      }
      return new CacheOperation.Result(
          cache(method, result.cacheName(), defaults),
          keyParameters(method, false),
          result.skipGet());
    }
    if (put != null) {
      checkSupported(method, put.cacheKeyGenerator(), put.cacheResolverFactory(), defaults);
      return new CacheOperation.Put(
          cache(method, put.cacheName(), defaults),
          keyParameters(method, true),
          valueParameter(method),
          put.afterInvocation(),
          ExceptionRule.of(put.cacheFor(), put.noCacheFor()));
    }
    if (remove != null) {
      checkSupported(method, remove.cacheKeyGenerator(), remove.cacheResolverFactory(), defaults);
      return new CacheOperation.Remove(
          cache(method, remove.cacheName(), defaults),
          keyParameters(method, false),
          remove.afterInvocation(),
          ExceptionRule.of(remove.evictFor(), remove.noEvictFor()));
    }
    checkSupported(method, CacheKeyGenerator.class, removeAll.cacheResolverFactory(), defaults);
    return new CacheOperation.RemoveAll(
        cache(method, removeAll.cacheName(), defaults),
        removeAll.afterInvocation(),
        ExceptionRule.of(removeAll.evictFor(), removeAll.noEvictFor()));
  }

  private static @Nullable CacheDefaults defaults(Class<?> iface, Method method) {
    CacheDefaults declared = method.getDeclaringClass().getAnnotation(CacheDefaults.class);
    return declared != null ? declared : iface.getAnnotation(CacheDefaults.class);
  }

  /**
   * The cache name: the annotation's, else {@code @CacheDefaults}', else the JSR-107 default,
   * {@code package.Type.method(package.ParamType,...)} of the interface that declares the method.
   */
  static String cacheName(Method method, String annotated, @Nullable CacheDefaults defaults) {
    if (!annotated.isEmpty()) {
      return annotated;
    }
    if (defaults != null && !defaults.cacheName().isEmpty()) {
      return defaults.cacheName();
    }
    return method.getDeclaringClass().getName()
        + "."
        + method.getName()
        + Arrays.stream(method.getParameterTypes())
            .map(Class::getName)
            .collect(Collectors.joining(",", "(", ")"));
  }

  private DistributedCache<StableKey, Object> cache(
      Method method, String annotated, @Nullable CacheDefaults defaults) {
    return caches.apply(cacheName(method, annotated, defaults));
  }

  private static void checkSupported(
      Method method,
      Class<? extends CacheKeyGenerator> keyGenerator,
      Class<? extends CacheResolverFactory> resolverFactory,
      @Nullable CacheDefaults defaults) {
    boolean customKeys =
        keyGenerator != CacheKeyGenerator.class
            || (defaults != null && defaults.cacheKeyGenerator() != CacheKeyGenerator.class);
    if (customKeys) {
      throw invalid(
          method,
          "names a cacheKeyGenerator; CachingProxy builds keys itself from the"
              + " @CacheKey arguments (or all arguments), encoded by value");
    }
    boolean customResolver =
        resolverFactory != CacheResolverFactory.class
            || (defaults != null && defaults.cacheResolverFactory() != CacheResolverFactory.class);
    if (customResolver) {
      throw invalid(
          method,
          "names a cacheResolverFactory; CachingProxy resolves caches by name on" + " its node");
    }
  }

  /**
   * The key: the {@code @CacheKey} arguments if any, else every argument (but the
   * {@code @CacheValue} one, for a put).
   */
  private static ImmutableIntArray keyParameters(Method method, boolean skipValue) {
    Annotation[][] annotations = method.getParameterAnnotations();
    List<Integer> marked = new ArrayList<>();
    List<Integer> all = new ArrayList<>();
    for (int i = 0; i < annotations.length; i++) {
      boolean isKey = has(annotations[i], CacheKey.class);
      boolean isValue = has(annotations[i], CacheValue.class);
      if (isKey) {
        marked.add(i);
      }
      if (!(skipValue && isValue)) {
        all.add(i);
      }
    }
    return ImmutableIntArray.copyOf(marked.isEmpty() ? all : marked);
  }

  private static int valueParameter(Method method) {
    Annotation[][] annotations = method.getParameterAnnotations();
    int found = -1;
    for (int i = 0; i < annotations.length; i++) {
      if (has(annotations[i], CacheValue.class)) {
        if (found >= 0) {
          throw invalid(method, "has more than one @CacheValue parameter");
        }
        found = i;
      }
    }
    if (found < 0) {
      throw invalid(method, "is @CachePut but has no @CacheValue parameter: nothing to cache");
    }
    return found;
  }

  private static boolean has(Annotation[] annotations, Class<? extends Annotation> type) {
    for (Annotation annotation : annotations) {
      if (annotation.annotationType() == type) {
        return true;
      }
    }
    return false;
  }

  private static IllegalArgumentException invalid(Method method, String why) {
    return new IllegalArgumentException(
        method.getDeclaringClass().getName() + "." + method.getName() + " " + why);
  }
}
