package dev.shardcache.discovery;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;
import static java.util.Objects.requireNonNull;

import com.google.common.net.HostAndPort;
import com.google.common.net.InetAddresses;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Finds a cluster's members by resolving one DNS name to all its addresses, again and again, and
 * reports the list whenever it changes. Made for a Kubernetes headless service, whose name resolves
 * to the IP of every pod behind it (see {@code docs/kubernetes.md}):
 *
 * <pre>{@code
 * DnsDiscovery discovery = DnsDiscovery.builder()
 *     .name("shardcache.my-ns.svc.cluster.local")
 *     .port(7070)
 *     .onChange(node::setPeers)
 *     .build()
 *     .start();
 * ...
 * discovery.close();   // before node.close()
 * }</pre>
 *
 * <h2>How it works</h2>
 *
 * <p>Every {@linkplain Builder#interval interval} (default 5 s, measured from the end of one
 * resolution to the start of the next) a single daemon thread resolves the name to its A and AAAA
 * addresses, appends the fixed port to each, and sorts the result as strings, without duplicates:
 * {@code ["10.0.0.5:7070", "10.0.0.7:7070", "[fd00::3]:7070"]}. IPv4 addresses are written dotted,
 * IPv6 addresses in brackets in their shortest form (RFC 5952; a scoped link-local address keeps
 * its scope, {@code [fe80::1%2]:7070}, without which it cannot be reached). That is the spelling of
 * a Kubernetes pod IP, so a node whose {@code advertiseHost} is its pod IP finds itself in the list
 * under its own name. The list is handed to the {@linkplain Builder#onChange callback} only when it
 * differs from the last one handed over, and it is always the complete list.
 *
 * <h2>When DNS misbehaves</h2>
 *
 * <p>A lookup that fails (unknown name, resolver timeout, the resolver function throwing) or that
 * answers no address at all changes nothing: the members last reported stay in force, and the next
 * interval tries again. DNS trouble is far more often a hiccup of the resolver than the sudden
 * death of every member, and emptying the ring would turn a resolver hiccup into a cluster-wide
 * miss storm. Each change of condition (failing, empty, resolving again, the callback throwing) is
 * logged once through {@code java.util.logging}, not once per attempt; each change of the members
 * is logged at {@code INFO}. A callback that throws is retried with the same list at the next
 * interval (the list does not count as reported until the callback returns normally).
 *
 * <h2>The JVM caches DNS answers</h2>
 *
 * <p>The default resolver is {@link InetAddress#getAllByName}, which answers from the JVM's own
 * cache while an entry is fresh: by default, in OpenJDK without a security manager, successful
 * lookups are kept for 30 seconds and failed ones for 10 seconds. A membership change is therefore
 * seen up to {@code interval + 30 s} late (plus whatever the DNS server caches: CoreDNS in a
 * default Kubernetes install keeps answers 30 s too). To see changes sooner, lower the JVM's cache
 * time with the security property {@code networkaddress.cache.ttl} (for example a line {@code
 * networkaddress.cache.ttl=5} in a file passed with {@code -Djava.security.properties=<file>}, or
 * {@code Security.setProperty("networkaddress.cache.ttl", "5")} before the first lookup of the
 * JVM), or the older system property {@code -Dsun.net.inetaddr.ttl=5}; {@code
 * networkaddress.cache.negative.ttl} does the same for failures. This class sets nothing: those
 * settings are global to the JVM and belong to the application. Alternatively pass a {@linkplain
 * Builder#resolver resolver} that queries DNS directly.
 *
 * <p>This class is thread-safe. {@link #start()} and {@link #close()} may be called from any
 * thread; lookups and callbacks run on the discovery's own thread, one at a time, so the callback
 * needs no synchronization of its own. A lookup may block that thread for as long as the system
 * resolver takes (seconds, when a DNS server does not answer); nothing else waits on it.
 */
public final class DnsDiscovery implements AutoCloseable {
  private static final Logger logger = Logger.getLogger(DnsDiscovery.class.getName());

  /** Default time between two lookups: 5 seconds. */
  public static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(5);

  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);

  private enum Lifecycle {
    NEW,
    STARTED,
    CLOSED
  }

  /** The condition of the last poll, for logging each change once. */
  private enum Condition {
    UNKNOWN,
    RESOLVING,
    FAILING,
    EMPTY,
    CALLBACK_FAILING
  }

  private final String name;
  private final int port;
  private final Duration interval;
  private final Function<String, List<InetAddress>> resolver;
  private final Consumer<? super List<String>> onChange;

  private final Object lifecycleLock = new Object();
  private Lifecycle lifecycle = Lifecycle.NEW; // guarded by lifecycleLock
  private @Nullable ScheduledExecutorService scheduler; // guarded by lifecycleLock
  private volatile boolean closed;
  private volatile @Nullable Thread pollingThread; // the thread of the poll in progress, if any

  private volatile List<String> members = List.of(); // the list last handed to onChange
  private Condition condition = Condition.UNKNOWN; // guarded by this (the poll lock)

  private DnsDiscovery(
      String name,
      int port,
      Duration interval,
      Function<String, List<InetAddress>> resolver,
      Consumer<? super List<String>> onChange) {
    this.name = name;
    this.port = port;
    this.interval = interval;
    this.resolver = resolver;
    this.onChange = onChange;
  }

  /** Returns a builder; {@code name}, {@code port} and {@code onChange} are required. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Starts resolving, at once and then every interval, on a daemon thread. Returns this. The first
   * list is reported from that thread shortly after, not before this method returns.
   *
   * @throws IllegalStateException if already started or closed
   */
  public DnsDiscovery start() {
    synchronized (lifecycleLock) {
      checkState(
          lifecycle == Lifecycle.NEW,
          "DNS discovery of %s was already %s",
          name,
          lifecycle == Lifecycle.STARTED ? "started" : "closed");
      ScheduledExecutorService started =
          Executors.newSingleThreadScheduledExecutor(
              task -> {
                Thread thread = new Thread(task, "shardcache-dns-" + name);
                thread.setDaemon(true);
                return thread;
              });
      // The future is not kept: pollQuietly logs its own failures (so the polling never stops),
      // and close() ends it by shutting the executor down.
      ScheduledFuture<?> unused =
          started.scheduleWithFixedDelay(
              this::pollQuietly, 0, interval.toNanos(), TimeUnit.NANOSECONDS);
      scheduler = started;
      lifecycle = Lifecycle.STARTED;
    }
    logger.log(
        Level.FINE, "DNS discovery of {0} started, every {1}", new Object[] {name, interval});
    return this;
  }

  /**
   * Stops resolving. After this returns the callback is not called again: a lookup in progress is
   * waited for (up to five seconds, unless called from the callback itself) and its result is
   * dropped. Idempotent; never throws. Closing a discovery that was never started just marks it
   * closed.
   */
  @Override
  public void close() {
    ScheduledExecutorService running;
    synchronized (lifecycleLock) {
      if (lifecycle == Lifecycle.CLOSED) {
        return;
      }
      lifecycle = Lifecycle.CLOSED;
      closed = true;
      running = scheduler;
    }
    if (running == null) {
      return;
    }
    running.shutdown(); // cancels the periodic task; a poll in progress finishes
    if (Thread.currentThread() == pollingThread) {
      return; // called from the callback: waiting for ourselves would only time out
    }
    try {
      if (!running.awaitTermination(CLOSE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        running.shutdownNow(); // a lookup hangs in the resolver; its result will be dropped
      }
    } catch (InterruptedException e) {
      running.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Returns the members last handed to the callback, sorted; empty until the first report.
   * Non-blocking.
   */
  public List<String> members() {
    return members;
  }

  /** Returns the DNS name resolved. */
  public String name() {
    return name;
  }

  /** Whether {@link #start()} was called and {@link #close()} was not. */
  public boolean isRunning() {
    synchronized (lifecycleLock) {
      return lifecycle == Lifecycle.STARTED;
    }
  }

  /** The periodic task: a task that throws would be silently unscheduled, so nothing escapes. */
  private void pollQuietly() {
    try {
      poll();
    } catch (RuntimeException e) {
      logger.log(Level.SEVERE, "DNS discovery of " + name + " hit a bug; it goes on polling", e);
    }
  }

  /** Resolves once and reports a changed list. Runs on the discovery thread (or a test's). */
  synchronized void poll() {
    pollingThread = Thread.currentThread();
    try {
      pollOnce();
    } finally {
      pollingThread = null;
    }
  }

  private void pollOnce() {
    List<InetAddress> answer;
    try {
      answer = resolver.apply(name);
    } catch (RuntimeException e) {
      Throwable cause =
          e instanceof UncheckedIOException && e.getCause() != null ? e.getCause() : e;
      enter(Condition.FAILING, null, "cannot resolve " + name + " (" + cause + ")");
      return;
    }
    if (answer == null || answer.isEmpty()) {
      enter(Condition.EMPTY, null, name + " resolved to no address");
      return;
    }
    TreeSet<String> sorted = new TreeSet<>();
    for (InetAddress address : answer) {
      if (address == null) {
        enter(Condition.FAILING, null, "the resolver answered a null address for " + name);
        return;
      }
      sorted.add(HostAndPort.fromParts(InetAddresses.toAddrString(address), port).toString());
    }
    List<String> found = List.copyOf(sorted);
    if (closed) {
      return;
    }
    if (found.equals(members)) {
      enter(Condition.RESOLVING, null, null);
      return;
    }
    try {
      onChange.accept(found);
    } catch (RuntimeException e) {
      enter(
          Condition.CALLBACK_FAILING,
          e,
          "the callback rejected the members "
              + found
              + " of "
              + name
              + "; retrying every "
              + interval);
      return;
    }
    members = found;
    enter(Condition.RESOLVING, null, null);
    logger.log(
        Level.INFO,
        "DNS discovery: {0} now resolves to {1} members {2}",
        new Object[] {name, found.size(), found});
  }

  /** Moves to {@code next}, logging only if it differs from the current condition. */
  private void enter(Condition next, @Nullable Throwable thrown, @Nullable String problem) {
    Condition previous = condition;
    condition = next;
    if (next == previous) {
      return;
    }
    if (problem != null) {
      List<String> kept = members;
      String message =
          "DNS discovery: "
              + problem
              + "; "
              + (kept.isEmpty() ? "no members known yet" : "keeping the last members " + kept);
      logger.log(Level.WARNING, message, thrown);
    } else if (previous == Condition.CALLBACK_FAILING) {
      logger.log(Level.INFO, "DNS discovery: the callback accepts the members of {0} again", name);
    } else if (previous != Condition.UNKNOWN) {
      logger.log(Level.INFO, "DNS discovery: {0} resolves again", name);
    }
  }

  @Override
  public String toString() {
    return "DnsDiscovery{" + name + ", port " + port + ", every " + interval + ", " + members + "}";
  }

  /** The default resolver: the JVM's, with its cache (see the class documentation). */
  static List<InetAddress> systemResolver(String name) {
    try {
      return List.of(InetAddress.getAllByName(name));
    } catch (UnknownHostException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Builds a {@link DnsDiscovery}. {@link #name}, {@link #port} and {@link #onChange} are required;
   * each setting may be set once, and setting it again throws {@link IllegalStateException} naming
   * the value already set. Bad values throw {@link IllegalArgumentException} at once. Not
   * thread-safe.
   */
  public static final class Builder {
    private @Nullable String name;
    private int port = -1;
    private @Nullable Duration interval;
    private @Nullable Function<String, List<InetAddress>> resolver;
    private @Nullable Consumer<? super List<String>> onChange;

    private Builder() {}

    /**
     * Sets the DNS name to resolve, without a port, such as {@code
     * shardcache.my-ns.svc.cluster.local}. Required.
     *
     * @throws IllegalArgumentException if blank, or if it carries a port
     */
    public Builder name(String name) {
      requireNonNull(name, "name");
      checkState(this.name == null, "name was already set to %s", this.name);
      String trimmed = name.trim();
      checkArgument(
          !trimmed.isEmpty(),
          "name must not be blank; give the DNS name of the members, such as"
              + " shardcache.my-ns.svc.cluster.local");
      boolean hasPort;
      try {
        hasPort = HostAndPort.fromString(trimmed).hasPort();
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "name '" + name + "' is not a DNS name: " + e.getMessage(), e);
      }
      checkArgument(
          !hasPort && trimmed.chars().noneMatch(Character::isWhitespace),
          "name '%s' must be a DNS name alone, such as shardcache.my-ns.svc.cluster.local; set the"
              + " members' port with port(...)",
          name);
      this.name = trimmed;
      return this;
    }

    /**
     * Sets the port every member listens on; the same on all members. Required.
     *
     * @throws IllegalArgumentException if not in [1, 65535]
     */
    public Builder port(int port) {
      checkState(this.port == -1, "port was already set to %s", this.port);
      checkArgument(port >= 1 && port <= 65_535, "port must be in [1, 65535], got %s", port);
      this.port = port;
      return this;
    }

    /**
     * Sets the time between the end of one lookup and the start of the next (default 5 s). The
     * JVM's DNS cache (30 s by default) may make a shorter interval pointless; see the class
     * documentation.
     *
     * @throws IllegalArgumentException if not positive or over a day
     */
    public Builder interval(Duration interval) {
      requireNonNull(interval, "interval");
      checkState(this.interval == null, "interval was already set to %s", this.interval);
      checkArgument(
          !interval.isNegative()
              && !interval.isZero()
              && interval.compareTo(Duration.ofDays(1)) <= 0,
          "interval must be positive and at most a day, got %s",
          interval);
      this.interval = interval;
      return this;
    }

    /**
     * Replaces the resolver (default: {@link InetAddress#getAllByName}, through the JVM's DNS
     * cache). It receives the name and returns its addresses; to report a failure it throws (an
     * {@link UncheckedIOException} wrapping an {@link UnknownHostException} is the convention), and
     * an empty answer counts as a failure too. It runs on the discovery's thread.
     */
    public Builder resolver(Function<String, List<InetAddress>> resolver) {
      requireNonNull(resolver, "resolver");
      checkState(this.resolver == null, "resolver was already set to %s", this.resolver);
      this.resolver = resolver;
      return this;
    }

    /**
     * Sets what receives each changed list of members, sorted "host:port" strings, typically {@code
     * node::setPeers}. Required. It runs on the discovery's thread; if it throws, the same list is
     * offered again at the next interval.
     */
    public Builder onChange(Consumer<? super List<String>> onChange) {
      requireNonNull(onChange, "onChange");
      checkState(this.onChange == null, "onChange was already set to %s", this.onChange);
      this.onChange = onChange;
      return this;
    }

    /**
     * Returns the discovery, not yet started.
     *
     * @throws IllegalStateException if {@code name}, {@code port} or {@code onChange} was not set
     */
    public DnsDiscovery build() {
      checkState(
          name != null,
          "name(...) is required: the DNS name of the members, such as"
              + " shardcache.my-ns.svc.cluster.local");
      checkState(port != -1, "port(...) is required: the port every member listens on");
      checkState(
          onChange != null,
          "onChange(...) is required: what receives the members, such as node::setPeers");
      return new DnsDiscovery(
          name,
          port,
          interval == null ? DEFAULT_INTERVAL : interval,
          resolver == null ? DnsDiscovery::systemResolver : resolver,
          onChange);
    }
  }
}
