package dev.shardcache.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * A real TCP proxy on 127.0.0.1 in front of one local port, for partition tests: point a peer or a
 * channel at {@link #port()} instead of the target, then {@link #cut()}, {@link #blackHole()},
 * {@link #stall()} and {@link #heal()} the link while the test runs.
 *
 * <pre>{@code
 * try (TcpProxy proxy = TcpProxy.start(node.port)) {
 *   // talk to 127.0.0.1:proxy.port()
 *   proxy.cut();    // every connection is reset; new ones are accepted and reset at once
 *   proxy.heal();   // new connections are forwarded again
 * }
 * }</pre>
 *
 * <h2>The four modes</h2>
 *
 * <ul>
 *   <li><b>Forwarding</b> (the initial mode): each accepted connection gets its own connection to
 *       the target, and bytes are copied both ways as they come. A half-close (end of stream from
 *       one side) is passed on as a half-close; a reset is passed on as a reset.
 *   <li><b>Cut</b>: a refused link, as when the peer's host is down and its kernel answers. Every
 *       open connection is reset on both sides (RST, not an orderly close), and each new connection
 *       is accepted and reset at once. Callers therefore see failures <em>immediately</em>: a gRPC
 *       call fails with {@code UNAVAILABLE} in milliseconds, not at its deadline. The listening
 *       socket stays open, rather than being closed and bound again at {@link #heal()}, so no other
 *       process can take the port in between and the address never changes.
 *   <li><b>Black hole</b>: a silent link, as when packets are dropped on the way. Connections stay
 *       open and new ones are accepted, but every byte sent either way is read and thrown away, so
 *       callers see nothing until their own deadline or keep-alive gives up (gRPC: {@code
 *       DEADLINE_EXCEEDED}). A connection that lost bytes can never be used again (its stream is
 *       corrupt), so {@link #heal()} resets it; connections that carried nothing during the black
 *       hole carry on.
 *   <li><b>Stall</b>: a paused process (a long garbage-collection pause, {@code SIGSTOP}), whose
 *       kernel still accepts connections and buffers what is sent to it. Connections stay open and
 *       new ones are accepted (and connected to the target), but nothing is forwarded either way:
 *       bytes are held, neither delivered nor dropped, and the proxy stops reading, so further
 *       bytes wait in the kernel's buffers as they would for the paused process. Callers see
 *       nothing until their own deadline, like a black hole. {@link #heal()} forwards everything
 *       held, in order, and the connections carry on intact; {@link #cut()} resets them and {@link
 *       #blackHole()} drops what was held.
 * </ul>
 *
 * <h2>Threads</h2>
 *
 * <p>One accepting thread, plus two copying threads per forwarded or stalled connection (one per
 * direction) or one per black-holed connection, all daemon platform threads from one bounded pool
 * named {@code tcp-proxy-<port>-<n>}. At most {@value #MAX_CONNECTIONS} connections are open at
 * once; further ones are reset. {@link #close()} resets every connection, closes the listening
 * socket and waits for every thread to end.
 *
 * <p>Thread-safe: the mode may be changed from any thread at any time. A connection accepted while
 * the mode changes ends up in the new mode (cut wins any race: a connection is never forwarded
 * after {@link #cut()} returns). No method blocks, except {@link #close()} (up to five seconds) and
 * {@link #start} (binding).
 */
public final class TcpProxy implements AutoCloseable {

  /** The most connections open through one proxy at once; more are reset on arrival. */
  public static final int MAX_CONNECTIONS = 32;

  private static final int CONNECT_TIMEOUT_MILLIS = 2_000;

  private enum Mode {
    FORWARDING,
    CUT,
    BLACK_HOLE,
    STALLED
  }

  private final int targetPort;
  private final ServerSocket server;
  private final ThreadPoolExecutor threads;
  private final Set<Link> links = ConcurrentHashMap.newKeySet();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicInteger accepted = new AtomicInteger();

  /** Notified on every change of mode, and on close: stalled copiers wait on it. */
  private final Object modeChanged = new Object();

  private volatile Mode mode = Mode.FORWARDING;

  private TcpProxy(int targetPort, ServerSocket server) {
    this.targetPort = targetPort;
    this.server = server;
    AtomicInteger threadCount = new AtomicInteger();
    String prefix = "tcp-proxy-" + server.getLocalPort() + "-";
    this.threads =
        new ThreadPoolExecutor(
            0,
            1 + 2 * MAX_CONNECTIONS,
            10,
            TimeUnit.SECONDS,
            new SynchronousQueue<>(),
            task -> {
              Thread thread = new Thread(task, prefix + threadCount.incrementAndGet());
              thread.setDaemon(true);
              return thread;
            });
  }

  /**
   * Starts a proxy listening on 127.0.0.1 at a free port, forwarding to 127.0.0.1:{@code
   * targetPort}. The target need not be up yet: connections made while it is down are reset.
   *
   * @throws IOException if no local port can be bound
   * @throws IllegalArgumentException if {@code targetPort} is not in [1, 65535]
   */
  public static TcpProxy start(int targetPort) throws IOException {
    if (targetPort < 1 || targetPort > 65_535) {
      throw new IllegalArgumentException("target port must be in [1, 65535], got " + targetPort);
    }
    ServerSocket server = new ServerSocket();
    server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
    TcpProxy proxy = new TcpProxy(targetPort, server);
    proxy.threads.execute(proxy::acceptLoop);
    return proxy;
  }

  /** The port the proxy listens on, at 127.0.0.1. */
  public int port() {
    return server.getLocalPort();
  }

  /** The port the proxy forwards to, at 127.0.0.1. */
  public int targetPort() {
    return targetPort;
  }

  /** "127.0.0.1:port()", the address to give a peer or a channel. */
  public String address() {
    return "127.0.0.1:" + port();
  }

  /** The connections open through the proxy right now. */
  public int openConnections() {
    return links.size();
  }

  /** How many connections the proxy has accepted since it started, in any mode. */
  public int acceptedConnections() {
    return accepted.get();
  }

  /**
   * Resets every open connection and, until {@link #heal()}, resets each new one as soon as it is
   * accepted. When this returns, no byte is forwarded any more.
   */
  public void cut() {
    setMode(Mode.CUT);
    for (Link link : links) {
      link.reset();
    }
  }

  /**
   * Until {@link #heal()} or {@link #cut()}, drops every byte in both directions on open
   * connections and accepts new ones without forwarding them, without closing anything.
   */
  public void blackHole() {
    setMode(Mode.BLACK_HOLE);
  }

  /**
   * Until {@link #heal()}, {@link #cut()} or {@link #blackHole()}, holds every byte in both
   * directions without forwarding or dropping it, and accepts new connections without forwarding
   * them, closing nothing: the target looks paused. {@link #heal()} then forwards what was held, in
   * order, and every connection carries on.
   */
  public void stall() {
    setMode(Mode.STALLED);
  }

  /**
   * Forwards new connections again, and the bytes held by a {@link #stall()}. Connections that lost
   * bytes in a black hole are reset (their streams are corrupt); the others carry on.
   */
  public void heal() {
    setMode(Mode.FORWARDING);
    for (Link link : links) {
      if (link.lostBytes) {
        link.reset();
      }
    }
  }

  /**
   * Resets every connection, stops listening and waits (up to five seconds) for the proxy's threads
   * to end. Idempotent.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    setMode(Mode.CUT);
    try {
      server.close();
    } catch (IOException ignored) {
      // closing anyway
    }
    for (Link link : links) {
      link.reset();
    }
    threads.shutdown();
    try {
      if (!threads.awaitTermination(5, TimeUnit.SECONDS)) {
        threads.shutdownNow();
      }
    } catch (InterruptedException e) {
      threads.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  private void setMode(Mode next) {
    synchronized (modeChanged) {
      mode = next;
      modeChanged.notifyAll();
    }
  }

  /** Waits while the proxy is stalled; returns the mode it left the stall for. */
  private Mode awaitNotStalled() {
    synchronized (modeChanged) {
      while (mode == Mode.STALLED && !closed.get()) {
        try {
          modeChanged.wait();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return Mode.CUT; // the pool is shutting down
        }
      }
      return closed.get() ? Mode.CUT : mode;
    }
  }

  @Override
  public String toString() {
    return "TcpProxy{"
        + address()
        + " -> 127.0.0.1:"
        + targetPort
        + ", "
        + mode
        + ", "
        + links.size()
        + " open}";
  }

  private void acceptLoop() {
    while (!closed.get()) {
      Socket client;
      try {
        client = server.accept();
      } catch (IOException e) {
        if (closed.get()) {
          return;
        }
        continue; // a failed accept (such as too many open files) is not the end of the proxy
      }
      accepted.incrementAndGet();
      try {
        admit(client);
      } catch (RuntimeException e) {
        resetQuietly(client);
      }
    }
  }

  private void admit(Socket client) {
    Mode now = mode;
    if (now == Mode.CUT || links.size() >= MAX_CONNECTIONS) {
      resetQuietly(client);
      return;
    }
    Link link = new Link(client);
    link.lostBytes = now == Mode.BLACK_HOLE; // accepted in a black hole: never to be forwarded
    links.add(link);
    // cut() and heal() set the mode, then reset the links they see; this adds the link, then
    // reads the mode. Whichever runs second notices the other, so no link slips past a change.
    // (Between forwarding and stalled nothing needs a reset: the copiers read the mode per read.)
    Mode then = mode;
    if (then != now && !(carriesBytes(now) && carriesBytes(then))) {
      link.reset();
      return;
    }
    if (now == Mode.BLACK_HOLE) {
      run(link, () -> copy(link, client, null));
      return;
    }
    Socket upstream = new Socket();
    try {
      upstream.setTcpNoDelay(true);
      client.setTcpNoDelay(true);
      upstream.connect(
          new InetSocketAddress(InetAddress.getLoopbackAddress(), targetPort),
          CONNECT_TIMEOUT_MILLIS);
    } catch (IOException e) {
      resetQuietly(upstream);
      link.reset(); // the target is down: the caller sees what it would see connecting directly
      return;
    }
    link.upstream = upstream;
    if (mode == Mode.CUT) { // cut() may have looked at the link before it had an upstream
      link.reset();
      return;
    }
    run(link, () -> copy(link, client, upstream));
    run(link, () -> copy(link, upstream, client));
  }

  /** Whether connections in this mode are connected to the target (bytes forwarded or held). */
  private static boolean carriesBytes(Mode mode) {
    return mode == Mode.FORWARDING || mode == Mode.STALLED;
  }

  private void run(Link link, Runnable copier) {
    try {
      threads.execute(copier);
    } catch (RejectedExecutionException e) {
      link.reset(); // closing, or out of threads
    }
  }

  /**
   * Copies {@code from} to {@code to} until end of stream (then half-closes {@code to}) or an error
   * (then resets the link). With {@code to} null, or while in a black hole, bytes are dropped;
   * while stalled, they are held until the stall ends.
   */
  private void copy(Link link, Socket from, @Nullable Socket to) {
    byte[] buffer = new byte[16 * 1024];
    try {
      InputStream in = from.getInputStream();
      OutputStream out = to == null ? null : to.getOutputStream();
      while (true) {
        int read = in.read(buffer);
        if (read < 0) {
          break;
        }
        Mode now = mode;
        if (now == Mode.STALLED && out != null && !link.lostBytes) {
          // Hold these bytes, and read no more, until the stall ends: a heal forwards them below.
          now = awaitNotStalled();
        }
        if (out == null || link.lostBytes || now != Mode.FORWARDING) {
          link.lostBytes = true;
          // heal() sets the mode, then resets the links that lost bytes; this marks the link, then
          // reads the mode: a heal racing this drop resets the link one way or the other.
          if (mode == Mode.FORWARDING) {
            link.reset();
            return;
          }
          continue;
        }
        out.write(buffer, 0, read);
      }
      if (to != null && !link.lostBytes && mode == Mode.STALLED) {
        awaitNotStalled(); // an end of stream is held like the bytes before it
      }
      if (to == null || link.lostBytes) {
        link.reset();
      } else {
        to.shutdownOutput();
        link.directionDone();
      }
    } catch (IOException e) {
      link.reset();
    }
  }

  private static void resetQuietly(Socket socket) {
    try {
      if (!socket.isClosed()) {
        socket.setSoLinger(true, 0); // close with RST, not FIN: the other side fails at once
      }
    } catch (IOException ignored) {
      // closing anyway
    }
    try {
      socket.close();
    } catch (IOException ignored) {
      // nothing more to do
    }
  }

  /** One client connection and, when forwarded, its connection to the target. */
  private final class Link {
    private final Socket client;
    private volatile @Nullable Socket upstream;

    /** Set once a byte was dropped (or the link was never forwarded); never cleared. */
    private volatile boolean lostBytes;

    private final AtomicInteger directionsDone = new AtomicInteger();

    Link(Socket client) {
      this.client = client;
    }

    void directionDone() {
      if (directionsDone.incrementAndGet() == 2) { // both sides finished cleanly
        closeQuietly(client);
        Socket target = upstream;
        if (target != null) {
          closeQuietly(target);
        }
        links.remove(this);
      }
    }

    void reset() {
      links.remove(this);
      resetQuietly(client);
      Socket target = upstream;
      if (target != null) {
        resetQuietly(target);
      }
    }

    private void closeQuietly(Socket socket) {
      try {
        socket.close();
      } catch (IOException ignored) {
        // nothing more to do
      }
    }
  }
}
