package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@link HotKeySketch#record} runs on the transport thread that serves a peer's {@code Get}, which
 * must never block: a read that finds the sketch held by another thread is skipped, not waited for.
 */
class HotKeySketchTest {
  @Test
  void aReadThatFindsTheSketchHeldIsSkippedInsteadOfWaitedFor() throws Exception {
    HotKeySketch sketch = new HotKeySketch(16, 1_000, 4);
    sketch.record(7);
    sketch.record(7);
    CountDownLatch held = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    Thread holder =
        new Thread(
            () -> {
              sketch.lock.lock();
              try {
                held.countDown();
                release.await();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              } finally {
                sketch.lock.unlock();
              }
            });
    holder.start();
    try {
      assertThat(held.await(10, TimeUnit.SECONDS)).isTrue();

      // With a waiting lock this call would never return while the holder waits for us.
      assertThat(sketch.record(7)).as("a skipped read answers not hot").isFalse();
    } finally {
      release.countDown();
      holder.join();
    }
    assertThat(sketch.samples()).as("the skipped read was not counted").isEqualTo(2);
    assertThat(sketch.record(7)).as("once free, the key is hot again").isTrue();
  }
}
