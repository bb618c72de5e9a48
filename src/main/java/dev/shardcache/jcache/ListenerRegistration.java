package dev.shardcache.jcache;

import java.io.Closeable;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.cache.configuration.CacheEntryListenerConfiguration;
import javax.cache.configuration.Factory;
import javax.cache.event.CacheEntryCreatedListener;
import javax.cache.event.CacheEntryEventFilter;
import javax.cache.event.CacheEntryExpiredListener;
import javax.cache.event.CacheEntryListener;
import javax.cache.event.CacheEntryListenerException;
import javax.cache.event.CacheEntryRemovedListener;
import javax.cache.event.CacheEntryUpdatedListener;
import org.jspecify.annotations.Nullable;

/**
 * One registered {@link CacheEntryListener} of a cache on this node: the listener and filter made
 * from their factories, and the delivery of events to them.
 *
 * <p>A synchronous listener is called on the thread of the operation, before the operation returns;
 * what it throws reaches the caller (runtime exceptions wrapped in {@link
 * CacheEntryListenerException}, errors as they are). An asynchronous listener is called on the
 * manager's executor, one event at a time and in the order the events happened on this node; what
 * it throws is logged. Thread-safe.
 */
final class ListenerRegistration<K, V> {
  private static final Logger logger = Logger.getLogger(ListenerRegistration.class.getName());

  private final CacheEntryListenerConfiguration<K, V> configuration;
  private final CacheEntryListener<? super K, ? super V> listener;
  private final @Nullable CacheEntryEventFilter<? super K, ? super V> filter;
  private final Executor executor;
  private final ConcurrentLinkedQueue<EntryEvent<K, V>> pending = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean draining = new AtomicBoolean();

  ListenerRegistration(CacheEntryListenerConfiguration<K, V> configuration, Executor executor) {
    this.configuration = configuration;
    this.executor = executor;
    this.listener = configuration.getCacheEntryListenerFactory().create();
    Factory<CacheEntryEventFilter<? super K, ? super V>> filterFactory =
        configuration.getCacheEntryEventFilterFactory();
    this.filter = filterFactory == null ? null : filterFactory.create();
  }

  CacheEntryListenerConfiguration<K, V> configuration() {
    return configuration;
  }

  /** Whether this listener wants events of the given event's type and its filter accepts it. */
  private boolean wants(EntryEvent<K, V> event) {
    boolean listens =
        switch (event.getEventType()) {
          case CREATED -> listener instanceof CacheEntryCreatedListener;
          case UPDATED -> listener instanceof CacheEntryUpdatedListener;
          case REMOVED -> listener instanceof CacheEntryRemovedListener;
          case EXPIRED -> listener instanceof CacheEntryExpiredListener;
        };
    return listens && (filter == null || filter.evaluate(event));
  }

  /**
   * Delivers {@code event}: now if synchronous, else queued for the executor.
   *
   * @throws CacheEntryListenerException if a synchronous listener or the filter threw
   */
  void deliver(EntryEvent<K, V> event) {
    if (configuration.isSynchronous()) {
      try {
        if (wants(event)) {
          call(event);
        }
      } catch (CacheEntryListenerException e) {
        throw e;
      } catch (RuntimeException e) {
        throw new CacheEntryListenerException("listener " + listener + " failed on " + event, e);
      }
      return;
    }
    pending.add(event);
    // One task at a time per registration: a burst of events costs one thread, not one each.
    if (draining.compareAndSet(false, true)) {
      executor.execute(this::drain);
    }
  }

  /**
   * Delivers the pending events; the one task of this registration until it finds none left. An
   * event queued while it ends is seen either by it (the re-check) or by the task its sender
   * starts.
   */
  private void drain() {
    do {
      try {
        EntryEvent<K, V> event;
        while ((event = pending.poll()) != null) {
          try {
            if (wants(event)) {
              call(event);
            }
          } catch (RuntimeException e) {
            logger.log(
                Level.WARNING, "asynchronous listener " + listener + " failed on " + event, e);
          }
        }
      } finally {
        draining.set(false);
      }
    } while (!pending.isEmpty() && draining.compareAndSet(false, true));
  }

  @SuppressWarnings("unchecked")
  private void call(EntryEvent<K, V> event) {
    List<javax.cache.event.CacheEntryEvent<? extends K, ? extends V>> events = List.of(event);
    switch (event.getEventType()) {
      case CREATED -> ((CacheEntryCreatedListener<K, V>) listener).onCreated(events);
      case UPDATED -> ((CacheEntryUpdatedListener<K, V>) listener).onUpdated(events);
      case REMOVED -> ((CacheEntryRemovedListener<K, V>) listener).onRemoved(events);
      case EXPIRED -> ((CacheEntryExpiredListener<K, V>) listener).onExpired(events);
    }
  }

  /** Closes the listener and filter if they are {@link Closeable}. */
  void close() {
    closeQuietly(listener);
    closeQuietly(filter);
  }

  static void closeQuietly(@Nullable Object resource) {
    if (resource instanceof AutoCloseable closeable) {
      try {
        closeable.close();
      } catch (IOException | RuntimeException e) {
        logger.log(Level.WARNING, "closing " + resource + " failed", e);
      } catch (Exception e) {
        logger.log(Level.WARNING, "closing " + resource + " failed", e);
      }
    }
  }
}
