package dev.shardcache.jcache;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import javax.cache.CacheException;

/**
 * The threads a JCache manager runs its caches' {@code loadAll} calls on: at most {@code threads}
 * ({@value ManagerSettings#LOAD_ALL_THREADS}) at once, {@value #WAITING_PER_THREAD} times as many
 * waiting, and past that a refusal naming the property. JSR-107's {@code loadAll} returns at once
 * and reports through its {@code CompletionListener}, so each call would otherwise take a thread of
 * its own: a burst of them could make threads without bound.
 *
 * <p>Idle threads end after 30 s. Thread-safe.
 */
final class LoadAllPool {
  /** The default {@value ManagerSettings#LOAD_ALL_THREADS}. */
  static final int DEFAULT_THREADS = 8;

  /** The {@code loadAll} calls that may wait for a thread, per thread. */
  static final int WAITING_PER_THREAD = 16;

  private final int threads;
  private final ThreadPoolExecutor pool;

  LoadAllPool(int threads) {
    this.threads = threads;
    this.pool =
        new ThreadPoolExecutor(
            threads,
            threads,
            30,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(threads * WAITING_PER_THREAD),
            new ThreadFactoryBuilder()
                .setNameFormat("shardcache-jcache-loadAll-%d")
                .setDaemon(true)
                .build());
    pool.allowCoreThreadTimeOut(true);
  }

  /**
   * Runs {@code loadAll} on a thread of the pool, or queues it.
   *
   * @throws CacheException if every thread is busy and the queue full (the message names the
   *     property), or the manager is closed
   */
  void execute(Runnable loadAll) {
    try {
      pool.execute(loadAll);
    } catch (RejectedExecutionException rejected) {
      if (pool.isShutdown()) {
        throw new CacheException("the CacheManager is closed", rejected);
      }
      throw new CacheException(
          "loadAll refused: this CacheManager runs "
              + threads
              + " loadAll calls at once with "
              + threads * WAITING_PER_THREAD
              + " more waiting, its limit ("
              + ManagerSettings.LOAD_ALL_THREADS
              + "="
              + threads
              + "); retry when some have completed, or raise "
              + ManagerSettings.LOAD_ALL_THREADS,
          rejected);
    }
  }

  void shutdown() {
    pool.shutdown();
  }
}
