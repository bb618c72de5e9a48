package dev.shardcache;

import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;

/**
 * Raised when a node refuses new work because a bounded pool is full: every load thread busy and
 * the queue of loads waiting for one full. A peer receives it as {@code RESOURCE_EXHAUSTED}; a
 * local caller sees a {@link ShardcacheException} naming the limit. Retry later, or raise the
 * limit.
 */
final class OverloadedException extends ShardcacheException {
  private static final long serialVersionUID = 1L;

  OverloadedException(String message, Throwable cause) {
    super(message, cause);
  }

  static RuntimeException of(Executor executor, RejectedExecutionException rejected) {
    if (executor instanceof ThreadPoolExecutor pool && !pool.isShutdown()) {
      return new OverloadedException(
          "this node is loading "
              + pool.getActiveCount()
              + " keys with "
              + pool.getQueue().size()
              + " more waiting, its limit"
              + " (ShardcacheNode.Builder.maxConcurrentLoads "
              + pool.getMaximumPoolSize()
              + ", and 16 times as many waiting); retry later, or raise maxConcurrentLoads",
          rejected);
    }
    return new IllegalStateException("the node is closing", rejected);
  }
}
