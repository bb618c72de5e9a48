package dev.shardcache.testing;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.common.util.concurrent.ListenableFuture;
import dev.shardcache.ShardcacheNode;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The proxy against a plain echo server (bytes, half-close, cut, black hole, stall, heal, close)
 * and against a real node's gRPC health service (a call through the proxy works, fails fast with
 * UNAVAILABLE once cut, works again once healed, and waits out a stall).
 */
class TcpProxyTest {
  private static final Duration FAST = Duration.ofSeconds(1);

  /** Echoes every byte back on each connection, and closes its side at end of stream. */
  static final class EchoServer implements AutoCloseable {
    final ServerSocket server;
    final List<Socket> accepted = new ArrayList<>();

    EchoServer() throws IOException {
      server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      Thread acceptor = new Thread(this::acceptLoop, "echo-acceptor");
      acceptor.setDaemon(true);
      acceptor.start();
    }

    int port() {
      return server.getLocalPort();
    }

    private void acceptLoop() {
      while (!server.isClosed()) {
        try {
          Socket socket = server.accept();
          synchronized (accepted) {
            accepted.add(socket);
          }
          Thread echo = new Thread(() -> echo(socket), "echo");
          echo.setDaemon(true);
          echo.start();
        } catch (IOException e) {
          return;
        }
      }
    }

    private static void echo(Socket socket) {
      try (socket) {
        socket.getInputStream().transferTo(socket.getOutputStream());
      } catch (IOException e) {
        // the test reset it
      }
    }

    @Override
    public void close() throws IOException {
      server.close();
      synchronized (accepted) {
        for (Socket socket : accepted) {
          socket.close();
        }
      }
    }
  }

  private EchoServer echo;
  private TcpProxy proxy;

  @BeforeEach
  void startEchoAndProxy() throws IOException {
    echo = new EchoServer();
    proxy = TcpProxy.start(echo.port());
  }

  @AfterEach
  void stop() throws IOException {
    proxy.close();
    echo.close();
  }

  private Socket connect() throws IOException {
    Socket socket = new Socket();
    socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), proxy.port()), 2_000);
    socket.setSoTimeout(5_000);
    return socket;
  }

  private static String roundTrip(Socket socket, String text) throws IOException {
    socket.getOutputStream().write(text.getBytes(UTF_8));
    byte[] answer = socket.getInputStream().readNBytes(text.getBytes(UTF_8).length);
    return new String(answer, UTF_8);
  }

  /** Reads until the connection ends; true if it ended (EOF or reset) within the socket timeout. */
  private static boolean endsSoon(Socket socket) throws IOException {
    try {
      InputStream in = socket.getInputStream();
      while (in.read() >= 0) {
        // drain
      }
      return true;
    } catch (SocketTimeoutException e) {
      return false;
    } catch (SocketException e) {
      return true; // reset
    }
  }

  @Test
  void forwardsBytesBothWaysOnManyConnections() throws Exception {
    List<Socket> sockets = new ArrayList<>();
    try {
      for (int i = 0; i < 10; i++) {
        sockets.add(connect());
      }
      for (int round = 0; round < 3; round++) {
        for (int i = 0; i < sockets.size(); i++) {
          assertThat(roundTrip(sockets.get(i), "hello " + i + "/" + round))
              .isEqualTo("hello " + i + "/" + round);
        }
      }
      byte[] big = new byte[1 << 20]; // larger than any buffer on the way
      new java.util.Random(7).nextBytes(big);
      Socket socket = sockets.get(0);
      Thread writer =
          new Thread(
              () -> {
                try {
                  socket.getOutputStream().write(big);
                } catch (IOException e) {
                  throw new RuntimeException(e);
                }
              });
      writer.start();
      assertThat(socket.getInputStream().readNBytes(big.length)).isEqualTo(big);
      writer.join();
      assertThat(proxy.openConnections()).isEqualTo(10);
    } finally {
      for (Socket socket : sockets) {
        socket.close();
      }
    }
  }

  @Test
  void passesAHalfCloseOnAndForgetsTheConnectionOnceBothSidesAreDone() throws Exception {
    try (Socket socket = connect()) {
      socket.getOutputStream().write("bye".getBytes(UTF_8));
      socket.shutdownOutput(); // the echo server sees EOF, answers, and closes its side
      assertThat(new String(socket.getInputStream().readAllBytes(), UTF_8)).isEqualTo("bye");
    }
    await().atMost(FAST).until(() -> proxy.openConnections() == 0);
  }

  @Test
  void cutResetsOpenConnectionsAndResetsNewOnesUntilHealed() throws Exception {
    try (Socket open = connect()) {
      assertThat(roundTrip(open, "before")).isEqualTo("before");
      long started = System.nanoTime();
      proxy.cut();
      assertThat(endsSoon(open)).isTrue();
      assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(FAST);
    }
    assertThat(proxy.openConnections()).isZero();

    // a new connection is accepted by the kernel, then reset by the proxy: it never echoes. The
    // reset may beat connect() itself, or arrive after a first write succeeded.
    long started = System.nanoTime();
    assertThatThrownBy(
            () -> {
              try (Socket during = connect()) {
                for (int i = 0; i < 100; i++) {
                  roundTrip(during, "lost");
                }
              }
            })
        .isInstanceOf(IOException.class);
    assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(FAST);

    proxy.heal();
    try (Socket after = connect()) {
      assertThat(roundTrip(after, "after")).isEqualTo("after");
    }
  }

  @Test
  void aBlackHoleSwallowsBytesSilentlyAndHealResetsOnlyTheConnectionsThatLostSome()
      throws Exception {
    try (Socket quiet = connect();
        Socket talking = connect()) {
      assertThat(roundTrip(quiet, "1")).isEqualTo("1");
      assertThat(roundTrip(talking, "1")).isEqualTo("1");
      proxy.blackHole();

      talking.setSoTimeout(300);
      talking.getOutputStream().write("swallowed".getBytes(UTF_8));
      assertThatThrownBy(() -> talking.getInputStream().read())
          .isInstanceOf(SocketTimeoutException.class); // no answer, and no error either

      try (Socket newcomer = connect()) { // accepted, then nothing
        newcomer.setSoTimeout(300);
        newcomer.getOutputStream().write("anyone?".getBytes(UTF_8));
        assertThatThrownBy(() -> newcomer.getInputStream().read())
            .isInstanceOf(SocketTimeoutException.class);

        proxy.heal();
        newcomer.setSoTimeout(5_000);
        talking.setSoTimeout(5_000);
        assertThat(endsSoon(newcomer)).isTrue();
        assertThat(endsSoon(talking)).isTrue();
      }
      // the quiet connection lost nothing, so it carries on
      assertThat(roundTrip(quiet, "still here")).isEqualTo("still here");
    }
    try (Socket after = connect()) {
      assertThat(roundTrip(after, "after")).isEqualTo("after");
    }
  }

  @Test
  void aStallHoldsBytesBothWaysWithoutClosingAndHealForwardsThemInOrder() throws Exception {
    try (Socket talking = connect();
        Socket quiet = connect()) {
      assertThat(roundTrip(talking, "1")).isEqualTo("1");
      assertThat(roundTrip(quiet, "1")).isEqualTo("1");
      proxy.stall();

      talking.setSoTimeout(300);
      talking.getOutputStream().write("held-".getBytes(UTF_8));
      talking.getOutputStream().write("in-order".getBytes(UTF_8));
      assertThatThrownBy(() -> talking.getInputStream().read())
          .isInstanceOf(SocketTimeoutException.class); // no answer, and no error either

      try (Socket newcomer = connect()) { // accepted, connected, then held
        newcomer.setSoTimeout(300);
        newcomer.getOutputStream().write("anyone?".getBytes(UTF_8));
        assertThatThrownBy(() -> newcomer.getInputStream().read())
            .isInstanceOf(SocketTimeoutException.class);
        assertThat(proxy.openConnections()).isEqualTo(3); // nothing was closed

        proxy.heal();
        newcomer.setSoTimeout(5_000);
        talking.setSoTimeout(5_000);
        assertThat(new String(talking.getInputStream().readNBytes(13), UTF_8))
            .isEqualTo("held-in-order");
        assertThat(new String(newcomer.getInputStream().readNBytes(7), UTF_8)).isEqualTo("anyone?");
        // every connection carries on: nothing was lost, so nothing is reset
        assertThat(roundTrip(newcomer, "again")).isEqualTo("again");
      }
      assertThat(roundTrip(talking, "still here")).isEqualTo("still here");
      assertThat(roundTrip(quiet, "still here")).isEqualTo("still here");
    }
  }

  @Test
  void aStallHoldsAnEndOfStreamUntilHealed() throws Exception {
    try (Socket socket = connect()) {
      assertThat(roundTrip(socket, "1")).isEqualTo("1");
      proxy.stall();
      socket.getOutputStream().write("last".getBytes(UTF_8));
      socket.shutdownOutput(); // the echo server closes its side only once it sees this
      socket.setSoTimeout(300);
      assertThatThrownBy(() -> socket.getInputStream().read())
          .isInstanceOf(SocketTimeoutException.class);

      proxy.heal();
      socket.setSoTimeout(5_000);
      InputStream in = socket.getInputStream();
      assertThat(new String(in.readNBytes(4), UTF_8)).isEqualTo("last");
      assertThat(in.read()).isEqualTo(-1); // then the orderly end, not a reset
    }
  }

  @Test
  void cutEndsAStallAndBlackHoleDropsWhatWasHeld() throws Exception {
    try (Socket cutOff = connect()) {
      assertThat(roundTrip(cutOff, "1")).isEqualTo("1");
      proxy.stall();
      cutOff.getOutputStream().write("never".getBytes(UTF_8));
      proxy.cut();
      assertThat(endsSoon(cutOff)).isTrue();
    }
    proxy.heal();
    try (Socket dropped = connect()) {
      assertThat(roundTrip(dropped, "1")).isEqualTo("1");
      proxy.stall();
      dropped.getOutputStream().write("dropped".getBytes(UTF_8));
      Thread.sleep(100); // let the proxy read and hold the bytes
      proxy.blackHole();
      dropped.setSoTimeout(300);
      assertThatThrownBy(() -> dropped.getInputStream().read())
          .isInstanceOf(SocketTimeoutException.class);
      proxy.heal(); // the connection lost bytes: it is reset, as after any black hole
      dropped.setSoTimeout(5_000);
      assertThat(endsSoon(dropped)).isTrue();
    }
    try (Socket after = connect()) {
      assertThat(roundTrip(after, "after")).isEqualTo("after");
    }
  }

  @Test
  void aDownTargetLooksLikeAResetConnection() throws Exception {
    int deadPort;
    try (ServerSocket reserved = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      deadPort = reserved.getLocalPort();
    }
    try (TcpProxy toNothing = TcpProxy.start(deadPort);
        Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), toNothing.port()));
      socket.setSoTimeout(5_000);
      assertThat(endsSoon(socket)).isTrue();
    }
  }

  @Test
  void closeStopsListeningResetsConnectionsAndEndsEveryThread() throws Exception {
    String threadPrefix = "tcp-proxy-" + proxy.port() + "-";
    try (Socket open = connect()) {
      assertThat(roundTrip(open, "x")).isEqualTo("x");
      assertThat(threadsNamed(threadPrefix)).isEqualTo(3); // acceptor + two copiers
      proxy.close();
      assertThat(endsSoon(open)).isTrue();
    }
    // the pool has terminated; its last thread may take a moment to leave its run method
    await().atMost(FAST).until(() -> threadsNamed(threadPrefix) == 0);
    assertThatThrownBy(() -> connect()).isInstanceOf(ConnectException.class);
    proxy.close(); // idempotent
    assertThat(proxy.acceptedConnections()).isEqualTo(1);
  }

  @Test
  void theTargetPortIsValidated() {
    assertThatThrownBy(() -> TcpProxy.start(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("target port must be in [1, 65535], got 0");
  }

  @Test
  void aGrpcCallThroughTheProxyFailsFastWhenCutAndWorksAgainWhenHealed() throws Exception {
    try (ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build().start();
        TcpProxy nodeProxy = TcpProxy.start(portOf(node))) {
      ManagedChannel channel =
          Grpc.newChannelBuilderForAddress(
                  "127.0.0.1", nodeProxy.port(), InsecureChannelCredentials.create())
              .build();
      try {
        assertThat(health(channel, "")).isEqualTo(ServingStatus.SERVING);
        assertThat(health(channel, ShardcacheNode.PEER_SERVICE)).isEqualTo(ServingStatus.SERVING);

        nodeProxy.cut();
        for (int i = 0; i < 3; i++) { // the open connection is reset, then reconnections are
          long started = System.nanoTime();
          assertThatThrownBy(() -> health(channel, ""))
              .isInstanceOfSatisfying(
                  StatusRuntimeException.class,
                  e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
          assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(FAST);
          channel.resetConnectBackoff(); // make the next call really try to connect again
        }
        assertThat(nodeProxy.acceptedConnections()).isGreaterThan(1); // it did reconnect

        nodeProxy.heal();
        channel.resetConnectBackoff(); // gRPC's own reconnect back-off is up to two minutes
        await()
            .atMost(Duration.ofSeconds(5))
            .pollInterval(Duration.ofMillis(20))
            .ignoreExceptionsInstanceOf(StatusRuntimeException.class)
            .until(() -> health(channel, "") == ServingStatus.SERVING);
        assertThat(health(channel, ShardcacheNode.PEER_SERVICE)).isEqualTo(ServingStatus.SERVING);
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void aGrpcCallIntoABlackHoleRunsIntoItsDeadline() throws Exception {
    try (ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build().start();
        TcpProxy nodeProxy = TcpProxy.start(portOf(node))) {
      ManagedChannel channel =
          Grpc.newChannelBuilderForAddress(
                  "127.0.0.1", nodeProxy.port(), InsecureChannelCredentials.create())
              .build();
      try {
        assertThat(health(channel, "")).isEqualTo(ServingStatus.SERVING);
        nodeProxy.blackHole();
        assertThatThrownBy(
                () ->
                    HealthGrpc.newBlockingStub(channel)
                        .withDeadlineAfter(300, TimeUnit.MILLISECONDS)
                        .check(HealthCheckRequest.newBuilder().setService("").build()))
            .isInstanceOfSatisfying(
                StatusRuntimeException.class,
                e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
        nodeProxy.heal(); // resets the connection that lost bytes; the channel reconnects
        await()
            .atMost(Duration.ofSeconds(5))
            .pollInterval(Duration.ofMillis(20))
            .ignoreExceptionsInstanceOf(StatusRuntimeException.class)
            .until(() -> health(channel, "") == ServingStatus.SERVING);
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void aGrpcCallIntoAStallWaitsAndCompletesOnTheSameConnectionOnceHealed() throws Exception {
    try (ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build().start();
        TcpProxy nodeProxy = TcpProxy.start(portOf(node))) {
      ManagedChannel channel =
          Grpc.newChannelBuilderForAddress(
                  "127.0.0.1", nodeProxy.port(), InsecureChannelCredentials.create())
              .build();
      try {
        assertThat(health(channel, "")).isEqualTo(ServingStatus.SERVING);
        nodeProxy.stall();
        // a call whose deadline passes during the stall fails as in a black hole...
        assertThatThrownBy(
                () ->
                    HealthGrpc.newBlockingStub(channel)
                        .withDeadlineAfter(300, TimeUnit.MILLISECONDS)
                        .check(HealthCheckRequest.newBuilder().setService("").build()))
            .isInstanceOfSatisfying(
                StatusRuntimeException.class,
                e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
        // ...but one with a longer deadline is answered once the stall ends
        ListenableFuture<HealthCheckResponse> waiting =
            HealthGrpc.newFutureStub(channel)
                .withDeadlineAfter(10, TimeUnit.SECONDS)
                .check(HealthCheckRequest.newBuilder().setService("").build());
        Thread.sleep(500);
        assertThat(waiting.isDone()).isFalse();
        nodeProxy.heal();
        assertThat(waiting.get(5, TimeUnit.SECONDS).getStatus()).isEqualTo(ServingStatus.SERVING);
        assertThat(health(channel, "")).isEqualTo(ServingStatus.SERVING);
        assertThat(nodeProxy.acceptedConnections()).isEqualTo(1); // never reconnected
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  private static int portOf(ShardcacheNode node) {
    String address = node.address();
    return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
  }

  private static ServingStatus health(ManagedChannel channel, String service) {
    return HealthGrpc.newBlockingStub(channel)
        .withDeadlineAfter(5, TimeUnit.SECONDS)
        .check(HealthCheckRequest.newBuilder().setService(service).build())
        .getStatus();
  }

  private static long threadsNamed(String prefix) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith(prefix) && t.isAlive())
        .count();
  }
}
