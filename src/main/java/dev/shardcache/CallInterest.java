package dev.shardcache;

import java.util.ArrayList;
import java.util.List;

/**
 * What one peer request is waiting for, to let go of when the request is cancelled (the caller
 * timed out or went away): the work it started is not kept alive on its behalf. Releases added
 * after the cancellation run at once. Thread-safe.
 */
final class CallInterest {
  /** For callers that never go away (local reads, which wait until their own timeout). */
  static final CallInterest NONE = new CallInterest();

  private final List<Runnable> releases = new ArrayList<>();
  private boolean cancelled; // guarded by this

  /** Runs {@code release} when the request is cancelled, or now if it already was. */
  void onCancel(Runnable release) {
    if (this == NONE) {
      return;
    }
    synchronized (this) {
      if (!cancelled) {
        releases.add(release);
        return;
      }
    }
    release.run();
  }

  /** The request was cancelled: runs every release added so far, and any added later. */
  void cancel() {
    List<Runnable> toRun;
    synchronized (this) {
      if (cancelled) {
        return;
      }
      cancelled = true;
      toRun = new ArrayList<>(releases);
      releases.clear();
    }
    toRun.forEach(Runnable::run);
  }
}
