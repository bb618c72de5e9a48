package dev.shardcache.spring.boot;

import static java.util.Objects.requireNonNull;

import dev.shardcache.ShardcacheNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.springframework.context.SmartLifecycle;

/**
 * Starts a {@link ShardcacheNode} when the application context starts, and closes it when the
 * context stops or closes.
 *
 * <p>Its phase is below that of Spring Boot's web server, so the node serves (and its caches are
 * usable) before the application takes requests, and it closes only after the web server has
 * stopped taking them. Lifecycle beans start after every singleton exists, so the caches that
 * {@code AnnotatedCacheRegistrar} defines exist before peers can call. A closed node cannot be
 * restarted: a context that is stopped and started again needs a new node.
 *
 * <p>Thread-safe; {@link #start} blocks until the port is bound, {@link #stop} until calls in
 * progress have drained (at most about five seconds).
 */
public final class ShardcacheNodeLifecycle implements SmartLifecycle {
  /**
   * Started before and stopped after the web server (whose phase is {@code DEFAULT_PHASE - 1024}).
   */
  public static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 4096;

  private final ShardcacheNode node;

  public ShardcacheNodeLifecycle(ShardcacheNode node) {
    this.node = requireNonNull(node, "node");
  }

  @Override
  public void start() {
    if (node.isRunning()) {
      return;
    }
    try {
      node.start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start the Shardcache node: " + e.getMessage(), e);
    }
  }

  @Override
  public void stop() {
    node.close();
  }

  @Override
  public boolean isRunning() {
    return node.isRunning();
  }

  @Override
  public int getPhase() {
    return PHASE;
  }
}
