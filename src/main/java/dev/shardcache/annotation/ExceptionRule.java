package dev.shardcache.annotation;

import java.util.List;

/**
 * Which exceptions thrown by a method still let its cache operation happen afterwards: the {@code
 * cacheFor}/{@code noCacheFor} pair of {@code @CachePut} and the {@code evictFor}/ {@code
 * noEvictFor} pair of {@code @CacheRemove} and {@code @CacheRemoveAll}, as the JSR-107 reference
 * implementation reads them:
 *
 * <ul>
 *   <li>both empty: no exception does (the default: a failed method changes no cache);
 *   <li>only the exclusions given: every exception but those does;
 *   <li>inclusions given: an exception that is an instance of one of them and of none of the
 *       exclusions does.
 * </ul>
 *
 * Immutable and thread-safe.
 */
record ExceptionRule(
    List<Class<? extends Throwable>> include, List<Class<? extends Throwable>> exclude) {
  static final ExceptionRule NONE = new ExceptionRule(List.of(), List.of());

  ExceptionRule {
    include = List.copyOf(include);
    exclude = List.copyOf(exclude);
  }

  static ExceptionRule of(
      Class<? extends Throwable>[] include, Class<? extends Throwable>[] exclude) {
    return new ExceptionRule(List.of(include), List.of(exclude));
  }

  boolean matches(Throwable thrown) {
    if (include.isEmpty() && exclude.isEmpty()) {
      return false;
    }
    boolean included =
        include.isEmpty() || include.stream().anyMatch(type -> type.isInstance(thrown));
    return included && exclude.stream().noneMatch(type -> type.isInstance(thrown));
  }
}
