package dev.shardcache;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/** Thread pools with a bound on threads and on waiting work, for the node's loads. */
final class BoundedPools {
  private BoundedPools() {}

  /**
   * A pool of at most {@code threads} daemon threads (idle ones end after 30 s) with at most {@code
   * queued} tasks waiting; past that it rejects, and the caller reports the limit ({@link
   * OverloadedException}).
   */
  static ThreadPoolExecutor create(String nameFormat, int threads, int queued) {
    ThreadPoolExecutor pool =
        new ThreadPoolExecutor(
            threads,
            threads,
            30,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(queued),
            new ThreadFactoryBuilder().setNameFormat(nameFormat).setDaemon(true).build());
    pool.allowCoreThreadTimeOut(true);
    return pool;
  }
}
