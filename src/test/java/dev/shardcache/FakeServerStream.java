package dev.shardcache;

import dev.shardcache.internal.proto.Invalidations;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A gRPC server stream of {@link Invalidations} whose readiness the test sets; it records what was
 * sent and how the stream ended. Not thread-safe: for tests that drive it from one thread.
 */
final class FakeServerStream extends ServerCallStreamObserver<Invalidations> {
  final List<Invalidations> sent = new ArrayList<>();
  boolean ready = true;
  @Nullable StatusRuntimeException error;
  private @Nullable Runnable onReady;
  private @Nullable Runnable onCancel;

  void becomeReady() {
    ready = true;
    if (onReady != null) {
      onReady.run();
    }
  }

  void cancel() {
    if (onCancel != null) {
      onCancel.run();
    }
  }

  @Override
  public boolean isCancelled() {
    return false;
  }

  @Override
  public void setOnCancelHandler(Runnable handler) {
    onCancel = handler;
  }

  @Override
  public void setCompression(String compression) {}

  @Override
  public boolean isReady() {
    return ready;
  }

  @Override
  public void setOnReadyHandler(Runnable handler) {
    onReady = handler;
  }

  @Override
  public void disableAutoInboundFlowControl() {}

  @Override
  public void request(int count) {}

  @Override
  public void setMessageCompression(boolean enable) {}

  @Override
  public void onNext(Invalidations value) {
    sent.add(value);
  }

  @Override
  public void onError(Throwable t) {
    error = (StatusRuntimeException) t;
  }

  @Override
  public void onCompleted() {}
}
