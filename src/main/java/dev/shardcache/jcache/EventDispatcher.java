package dev.shardcache.jcache;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import javax.cache.configuration.CacheEntryListenerConfiguration;
import javax.cache.event.CacheEntryListenerException;

/**
 * The entry listeners of one cache on this node, and the delivery of each event to all of them.
 *
 * <p>Events fire on the node where the operation was invoked, for the changes that operation made:
 * a listener registered on node A hears of writes made through A, not of writes made through B (the
 * core has no change feed to carry them). Thread-safe: registrations may change while events are
 * delivered.
 */
final class EventDispatcher<K, V> {
  private final List<ListenerRegistration<K, V>> registrations = new CopyOnWriteArrayList<>();
  private final Executor executor;

  EventDispatcher(Executor executor) {
    this.executor = executor;
  }

  boolean isEmpty() {
    return registrations.isEmpty();
  }

  void register(CacheEntryListenerConfiguration<K, V> configuration) {
    registrations.add(new ListenerRegistration<>(configuration, executor));
  }

  void deregister(CacheEntryListenerConfiguration<K, V> configuration) {
    for (ListenerRegistration<K, V> registration : registrations) {
      if (registration.configuration().equals(configuration)) {
        registrations.remove(registration);
        registration.close();
        return;
      }
    }
  }

  /**
   * Delivers {@code event} to every listener. Every synchronous listener is called even if an
   * earlier one failed; then the first failure is thrown.
   *
   * @throws CacheEntryListenerException (or an {@link Error}) from a synchronous listener
   */
  void fire(EntryEvent<K, V> event) {
    RuntimeException failure = null;
    Error error = null;
    for (ListenerRegistration<K, V> registration : registrations) {
      try {
        registration.deliver(event);
      } catch (RuntimeException e) {
        failure = failure == null ? e : failure;
      } catch (Error e) {
        error = error == null ? e : error;
      }
    }
    if (error != null) {
      throw error;
    }
    if (failure != null) {
      throw failure;
    }
  }

  void close() {
    for (ListenerRegistration<K, V> registration : registrations) {
      registration.close();
    }
    registrations.clear();
  }
}
