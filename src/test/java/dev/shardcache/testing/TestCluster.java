package dev.shardcache.testing;

import static com.google.common.base.Preconditions.checkArgument;
import static com.google.common.base.Preconditions.checkState;
import static java.util.Objects.requireNonNull;
import static org.awaitility.Awaitility.await;

import dev.shardcache.CacheConfig;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.UnaryOperator;
import org.jspecify.annotations.Nullable;

/**
 * Real {@link ShardcacheNode}s in this JVM, on 127.0.0.1, made one cluster: the harness for
 * multi-node tests that run in one process (the multi-process tests have {@code
 * dev.shardcache.process.ProcessCluster}). It uses the public API only; the tests of {@code
 * dev.shardcache} reach node internals through their package-private {@code TestClusters}.
 *
 * <pre>{@code
 * try (TestCluster cluster = TestCluster.builder()
 *     .size(3)
 *     .nodeSettings(node -> node.heartbeatInterval(Duration.ofMillis(100)))
 *     .cache("kv", CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).replicationFactor(2).build())
 *     .behindProxy(2)
 *     .build()) {
 *   cluster.cache(0).put("k", "v");
 *   cluster.proxy(2).cut();   // nobody reaches node 2 any more
 *   cluster.restart(1);       // node 1 comes back empty, at the same address
 * }
 * }</pre>
 *
 * <h2>What it builds</h2>
 *
 * <ul>
 *   <li>Node {@code i} listens on 127.0.0.1 and a free port. The harness sets the listen address
 *       (and, behind a proxy, the advertised port) on the node's builder, then the test's
 *       {@linkplain Builder#nodeSettings node settings} add the rest. A node's builder takes each
 *       setting once, so the settings must not set the listen or advertised address.
 *   <li>The {@linkplain Builder#cache caches} of the builder, of {@code String} keys and values,
 *       are defined on every node before it starts, so no peer ever reaches a node that lacks one;
 *       {@link #cache(int)} is the first of them. Tests that need other caches (or define them
 *       through Spring or a {@code CachingProxy}) build the nodes with {@linkplain Builder#started
 *       started(false)} and define them on {@link #node(int)}.
 *   <li>A node {@linkplain Builder#behindProxy behind a proxy} listens on a port of its own and
 *       advertises the port of its own {@link TcpProxy}: its ring address is the proxy's, so every
 *       call a peer makes to it goes through the proxy, and {@link #proxy(int)} can cut, stall or
 *       heal it. The cut is one-way: the node's own calls to its peers do not pass its proxy.
 *   <li>By default {@link Builder#build()} starts every node, then gives each the addresses of all
 *       as its members. {@code joined(false)} leaves started nodes knowing no peer (the test
 *       {@linkplain #join joins} whom it wants); {@code started(false)} leaves them built only,
 *       until {@link #startAndJoin()}.
 * </ul>
 *
 * <h2>Client-only nodes</h2>
 *
 * <p>{@link #addClient} starts a {@linkplain ShardcacheNode.Builder#clientOnly() client-only} node
 * whose members are the running nodes. It gets the cluster's node settings and caches as index
 * {@value #CLIENT_INDEX} (a spec that reads the index must allow it), is listed by no node, has no
 * index of its own, and is closed by {@link #close()} before the nodes.
 *
 * <h2>Nodes by index</h2>
 *
 * <p>Nodes keep their index for the life of the cluster: {@link #add()} appends one, a node the
 * test closes (or {@linkplain #stop stops}) stays at its index with its address, and {@link
 * #restart(int)} puts a new, empty node at the same index and address.
 *
 * <h2>Lifecycle</h2>
 *
 * <p>{@link #close()} closes every node it built (started or not, closed by the test or not) and
 * every proxy; it is idempotent. A {@code build()}, {@code add()} or {@code restart()} that fails
 * half-way closes what it had made before throwing, so a test that never got the cluster leaks
 * nothing.
 *
 * <p>Meant for the test's own thread; its reads ({@code node}, {@code cache}, {@code proxy}, {@code
 * addresses}, ...) may also run on other threads, such as an Awaitility condition's.
 */
public final class TestCluster implements AutoCloseable {
  private static final String HOST = "127.0.0.1";
  private static final Duration REBIND_TIMEOUT = Duration.ofSeconds(10);

  /** What a test sets on node {@code index}'s builder; returns the builder. */
  @FunctionalInterface
  public interface NodeSettings {
    ShardcacheNode.Builder apply(int index, ShardcacheNode.Builder builder);
  }

  /**
   * The configuration of one cache on node {@code index}, asked for each node the harness builds,
   * restarted nodes included. The node is built but not started: its {@code address()} is known
   * only once it runs, so read it lazily (a loader runs only on a running node).
   */
  @FunctionalInterface
  public interface CacheSpec {
    CacheConfig<String, String> config(int index, ShardcacheNode node);
  }

  /** One index: the node there now, its proxy, and how it was made (for a restart). */
  private record Slot(
      ShardcacheNode node,
      @Nullable TcpProxy proxy,
      int listenPort,
      UnaryOperator<ShardcacheNode.Builder> extraSettings,
      Map<String, DistributedCache<String, String>> caches) {}

  /** The index node settings and cache specs are given for a client-only node. */
  public static final int CLIENT_INDEX = -1;

  /** A client-only node the harness started, and its instances of the cluster's caches. */
  public record Client(ShardcacheNode node, Map<String, DistributedCache<String, String>> caches) {
    /** The client's instance of the first cache given to the builder. */
    public DistributedCache<String, String> cache() {
      checkState(!caches.isEmpty(), "the cluster defines no cache");
      return caches.values().iterator().next();
    }

    /** The client's instance of the cache {@code name} given to the builder. */
    public DistributedCache<String, String> cache(String name) {
      DistributedCache<String, String> cache = caches.get(name);
      checkArgument(cache != null, "the cluster defines no cache '%s'", name);
      return cache;
    }
  }

  private final List<Slot> slots = new CopyOnWriteArrayList<>();
  private final List<ShardcacheNode> clients = new CopyOnWriteArrayList<>();
  private final NodeSettings settings;
  private final Map<String, CacheSpec> cacheSpecs;
  private volatile boolean startNewNodes;

  private TestCluster(NodeSettings settings, Map<String, CacheSpec> cacheSpecs, boolean started) {
    this.settings = settings;
    this.cacheSpecs = Collections.unmodifiableMap(new LinkedHashMap<>(cacheSpecs));
    this.startNewNodes = started;
  }

  /** Returns a builder of a cluster; by default of no nodes, started and joined. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * A port on 127.0.0.1 that was free a moment ago (bound, then closed): nothing listens there,
   * though another process could take it before it is used.
   */
  public static int freePort() {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  // ---------------------------------------------------------------- the nodes

  /** The node at index {@code i} now (after a restart, the new one). */
  public ShardcacheNode node(int i) {
    return slot(i).node();
  }

  /** The nodes in index order, running or not. */
  public List<ShardcacheNode> nodes() {
    List<ShardcacheNode> nodes = new ArrayList<>();
    for (Slot slot : slots) {
      nodes.add(slot.node());
    }
    return List.copyOf(nodes);
  }

  public int size() {
    return slots.size();
  }

  /**
   * Node {@code i}'s instance of the first cache given to the builder.
   *
   * @throws IllegalStateException if the builder was given no cache
   */
  public DistributedCache<String, String> cache(int i) {
    checkState(
        !cacheSpecs.isEmpty(),
        "the cluster defines no cache; give the builder one with"
            + " cache(name, config), or use node(i).cache(name, config)");
    return cache(cacheSpecs.keySet().iterator().next(), i);
  }

  /**
   * Node {@code i}'s instance of the cache {@code name} given to the builder.
   *
   * @throws IllegalArgumentException if the builder was given no cache of that name
   */
  public DistributedCache<String, String> cache(String name, int i) {
    DistributedCache<String, String> cache = slot(i).caches().get(name);
    checkArgument(
        cache != null, "the cluster defines no cache '%s', only %s", name, cacheSpecs.keySet());
    return cache;
  }

  /**
   * The proxy in front of node {@code i}.
   *
   * @throws IllegalArgumentException if node {@code i} is not behind a proxy
   */
  public TcpProxy proxy(int i) {
    TcpProxy proxy = slot(i).proxy();
    checkArgument(proxy != null, "node %s is not behind a proxy", i);
    return proxy;
  }

  /**
   * The port node {@code i} itself listens on. For a node behind a proxy, a call to it bypasses the
   * proxy (and a cut); otherwise it is the port of its address.
   *
   * @throws IllegalStateException if the node is not behind a proxy and was never started
   */
  public int listenPort(int i) {
    Slot slot = slot(i);
    return slot.proxy() != null ? slot.listenPort() : port(slot.node().address());
  }

  /**
   * The ring addresses of all nodes, running or stopped, in index order.
   *
   * @throws IllegalStateException if a node was never started (it has no address yet)
   */
  public List<String> addresses() {
    List<String> addresses = new ArrayList<>();
    for (Slot slot : slots) {
      addresses.add(slot.node().address());
    }
    return addresses;
  }

  /** The ring addresses of the running nodes, in index order. */
  public List<String> runningAddresses() {
    List<String> addresses = new ArrayList<>();
    for (Slot slot : slots) {
      if (slot.node().isRunning()) {
        addresses.add(slot.node().address());
      }
    }
    return addresses;
  }

  /**
   * The index of the node whose ring address is {@code address}: the running one if there is one,
   * else a stopped one.
   *
   * @throws IllegalArgumentException if no node has that address
   */
  public int indexOf(String address) {
    for (int i = 0; i < slots.size(); i++) {
      ShardcacheNode node = node(i);
      if (node.isRunning() && node.address().equals(address)) {
        return i;
      }
    }
    for (int i = 0; i < slots.size(); i++) {
      if (address.equals(addressOrNull(node(i)))) {
        return i;
      }
    }
    throw new IllegalArgumentException("no node has address " + address);
  }

  /**
   * Returns the first of "prefix0", "prefix1", ... that node {@code i} owns in its {@linkplain
   * #cache(int) first cache}, under its own ring.
   */
  public String keyOwnedBy(int i, String prefix) {
    String owner = node(i).address();
    DistributedCache<String, String> cache = cache(i);
    for (int n = 0; ; n++) {
      String key = prefix + n;
      if (cache.ownerOf(key).equals(owner)) {
        return key;
      }
    }
  }

  // ---------------------------------------------------------------- client-only nodes

  /** As {@link #addClient(UnaryOperator)} with no extra settings. */
  public Client addClient() {
    return addClient(builder -> builder);
  }

  /**
   * Starts a client-only node whose peers are the running nodes' addresses (none of which lists
   * it), with the cluster's node settings (index {@value #CLIENT_INDEX}), then {@code
   * extraSettings}, and the cluster's caches; see the class comment. If it fails to start, it is
   * closed before this throws.
   *
   * @throws IllegalStateException if no node is running
   */
  public Client addClient(UnaryOperator<ShardcacheNode.Builder> extraSettings) {
    requireNonNull(extraSettings, "extraSettings");
    List<String> members = runningAddresses();
    checkState(!members.isEmpty(), "a client-only node needs a running node to call");
    ShardcacheNode.Builder builder = ShardcacheNode.builder().clientOnly();
    builder = requireNonNull(settings.apply(CLIENT_INDEX, builder), "nodeSettings returned null");
    builder = requireNonNull(extraSettings.apply(builder), "extra settings returned null");
    ShardcacheNode client = builder.peers(members).build();
    clients.add(client);
    try {
      Map<String, DistributedCache<String, String>> caches = defineCaches(CLIENT_INDEX, client);
      start(client);
      return new Client(client, caches);
    } catch (RuntimeException | Error e) {
      client.close();
      throw e;
    }
  }

  // ---------------------------------------------------------------- changing the cluster

  /**
   * Adds a node with the cluster's settings and caches as the last index, started unless the
   * cluster was built with {@code started(false)} and not started since. It knows no peer, and no
   * peer knows it, until the test joins it ({@link #joinAll()}, {@link #join}, setPeers).
   *
   * @return the new node's index
   */
  public int add() {
    return add(builder -> builder);
  }

  /**
   * As {@link #add()}, with {@code extraSettings} applied to the new node's builder after the
   * cluster's settings (also when the node is restarted): a node with its own certificate, say.
   */
  public int add(UnaryOperator<ShardcacheNode.Builder> extraSettings) {
    return add(false, extraSettings);
  }

  private int add(boolean behindProxy, UnaryOperator<ShardcacheNode.Builder> extraSettings) {
    requireNonNull(extraSettings, "extraSettings");
    int index = slots.size();
    slots.add(newSlot(index, behindProxy, extraSettings, startNewNodes));
    return index;
  }

  /**
   * Starts every node that is not running, then {@linkplain #joinAll() joins} the running ones. For
   * a cluster built with {@code started(false)}; nodes added afterwards are started by {@link
   * #add()}.
   *
   * @throws IllegalStateException if a node that is not running was closed (a closed node cannot be
   *     started again: {@linkplain #restart restart} it)
   */
  public TestCluster startAndJoin() {
    for (Slot slot : slots) {
      if (!slot.node().isRunning()) {
        start(slot.node());
      }
    }
    startNewNodes = true;
    joinAll();
    return this;
  }

  /** Gives every running node the addresses of the running nodes as its members. */
  public void joinAll() {
    setPeers(runningAddresses());
  }

  /** Gives each of the nodes at {@code indexes} the addresses of those nodes as its members. */
  public void join(int... indexes) {
    List<String> members = new ArrayList<>();
    for (int i : indexes) {
      members.add(node(i).address());
    }
    for (int i : indexes) {
      node(i).setPeers(members);
    }
  }

  /** Gives every running node {@code members} as its members. */
  public void setPeers(Collection<String> members) {
    List<String> copy = List.copyOf(members);
    for (Slot slot : slots) {
      if (slot.node().isRunning()) {
        slot.node().setPeers(copy);
      }
    }
  }

  /**
   * Stops node {@code i} as a crash would, as far as its data goes: its shards, hints and clock are
   * gone. It keeps its index and address; its proxy, if any, stays up, so peers calling it are
   * refused. Idempotent.
   */
  public void stop(int i) {
    node(i).close();
  }

  /**
   * Replaces node {@code i} (stopping it first if it runs) by a new, empty node with the same
   * settings on the same listen port and, if it has one, behind the same proxy, so its ring address
   * is unchanged; binding is retried for up to 10 s while the old server's port is released. The
   * caches are defined before the new node serves, so no peer's hinted write is refused for want of
   * a cache. Then every running node, the new one included, is given the addresses of all nodes as
   * its members: stopped nodes stay members, and the failure detectors keep them out of the rings.
   *
   * @throws IllegalStateException if node {@code i} was never started, or the new node could not
   *     take the old address
   */
  public void restart(int i) {
    Slot old = slot(i);
    String address = old.node().address();
    int listenPort = listenPort(i);
    old.node().close();
    long deadline = System.nanoTime() + REBIND_TIMEOUT.toNanos();
    while (true) {
      ShardcacheNode fresh = newNode(i, listenPort, old.proxy(), old.extraSettings());
      try {
        Map<String, DistributedCache<String, String>> caches = defineCaches(i, fresh);
        fresh.start();
        checkState(
            fresh.address().equals(address),
            "restarted node %s is %s, not %s",
            i,
            fresh.address(),
            address);
        slots.set(i, new Slot(fresh, old.proxy(), old.listenPort(), old.extraSettings(), caches));
        break;
      } catch (IOException e) { // the old server's port may take a moment to be free again
        fresh.close();
        if (System.nanoTime() - deadline > 0) {
          throw new UncheckedIOException(
              "node " + i + " could not listen again on port " + listenPort, e);
        }
        sleep(50);
      } catch (RuntimeException | Error e) {
        fresh.close();
        throw e;
      }
    }
    setPeers(addresses());
  }

  // ---------------------------------------------------------------- waiting

  /** Waits (up to 30 s) until no running node has undelivered replication, hints included. */
  public void awaitQuiescence() {
    await()
        .atMost(Duration.ofSeconds(30))
        .until(
            () -> {
              for (Slot slot : slots) {
                if (slot.node().isRunning() && slot.node().replicationBacklog() > 0) {
                  return false;
                }
              }
              return true;
            });
  }

  /**
   * Waits (up to 20 s) until every running node reaches each of its peers, suspects none and has
   * delivered all its replication, hints included.
   */
  public void awaitSettled() {
    await()
        .atMost(Duration.ofSeconds(20))
        .pollInterval(Duration.ofMillis(20))
        .until(
            () -> {
              for (Slot slot : slots) {
                ShardcacheNode node = slot.node();
                if (node.isRunning()
                    && (!node.reachablePeers().equals(node.peers())
                        || !node.suspectedPeers().isEmpty()
                        || node.replicationBacklog() > 0)) {
                  return false;
                }
              }
              return true;
            });
  }

  /** Closes every client, node and proxy this cluster made. Idempotent. */
  @Override
  public void close() {
    RuntimeException failure = null;
    for (ShardcacheNode client : clients) {
      failure = closeCollecting(client, failure);
    }
    for (Slot slot : slots) {
      failure = closeCollecting(slot.node(), failure);
    }
    for (Slot slot : slots) {
      failure = closeCollecting(slot.proxy(), failure);
    }
    if (failure != null) {
      throw failure;
    }
  }

  @Override
  public String toString() {
    return "TestCluster" + nodes();
  }

  // ---------------------------------------------------------------- making nodes

  private Slot slot(int i) {
    checkArgument(i >= 0 && i < slots.size(), "no node %s in a cluster of %s", i, slots.size());
    return slots.get(i);
  }

  /** How many ports a node behind a proxy tries before its start fails; see {@link #newSlot}. */
  private static final int BIND_ATTEMPTS = 5;

  /**
   * Builds node {@code index} (behind a new proxy if asked), defines the caches, maybe starts it.
   *
   * <p>A node behind a proxy listens on a port picked free a moment before it binds it; another
   * socket of the machine (an outgoing connection's ephemeral port) can take it in between. Such a
   * start is tried again, with a new port and a new proxy, up to {@value #BIND_ATTEMPTS} times.
   */
  private Slot newSlot(
      int index,
      boolean behindProxy,
      UnaryOperator<ShardcacheNode.Builder> extraSettings,
      boolean start) {
    for (int attempt = 1; ; attempt++) {
      try {
        return newSlotOnce(index, behindProxy, extraSettings, start);
      } catch (UncheckedIOException e) {
        if (!behindProxy || attempt == BIND_ATTEMPTS || !isBindFailure(e)) {
          throw e;
        }
      }
    }
  }

  private static boolean isBindFailure(UncheckedIOException e) {
    String message = e.getCause().getMessage();
    return message != null && message.startsWith("cannot listen on");
  }

  private Slot newSlotOnce(
      int index,
      boolean behindProxy,
      UnaryOperator<ShardcacheNode.Builder> extraSettings,
      boolean start) {
    TcpProxy proxy = null;
    ShardcacheNode node = null;
    try {
      int listenPort = 0;
      if (behindProxy) {
        listenPort = freePort();
        proxy = TcpProxy.start(listenPort);
      }
      node = newNode(index, listenPort, proxy, extraSettings);
      Map<String, DistributedCache<String, String>> caches = defineCaches(index, node);
      if (start) {
        start(node);
      }
      return new Slot(node, proxy, listenPort, extraSettings, caches);
    } catch (IOException e) {
      throw closeAfter(new UncheckedIOException(e), node, proxy);
    } catch (RuntimeException e) {
      throw closeAfter(e, node, proxy);
    } catch (Error e) {
      throw closeAfter(e, node, proxy);
    }
  }

  /** Closes what a failed step had made; returns its failure, with any of closing's suppressed. */
  private static <T extends Throwable> T closeAfter(
      T failure, @Nullable ShardcacheNode node, @Nullable TcpProxy proxy) {
    RuntimeException closing = closeCollecting(proxy, closeCollecting(node, null));
    if (closing != null) {
      failure.addSuppressed(closing);
    }
    return failure;
  }

  private ShardcacheNode newNode(
      int index,
      int listenPort,
      @Nullable TcpProxy proxy,
      UnaryOperator<ShardcacheNode.Builder> extraSettings) {
    ShardcacheNode.Builder builder = ShardcacheNode.builder().listen(HOST, listenPort);
    if (proxy != null) {
      builder.advertisePort(proxy.port());
    }
    builder = requireNonNull(settings.apply(index, builder), "nodeSettings returned null");
    builder = requireNonNull(extraSettings.apply(builder), "extra settings returned null");
    return builder.build();
  }

  private Map<String, DistributedCache<String, String>> defineCaches(
      int index, ShardcacheNode node) {
    Map<String, DistributedCache<String, String>> caches = new LinkedHashMap<>();
    cacheSpecs.forEach(
        (name, spec) ->
            caches.put(
                name,
                node.cache(
                    name,
                    requireNonNull(
                        spec.config(index, node),
                        () -> "the spec of cache " + name + " returned null for node " + index))));
    return Collections.unmodifiableMap(caches);
  }

  private static void start(ShardcacheNode node) {
    try {
      node.start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The port of a "host:port" address. */
  private static int port(String address) {
    return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
  }

  /** The node's address, or null if it was never started (a node has none until then). */
  private static @Nullable String addressOrNull(ShardcacheNode node) {
    try {
      return node.address();
    } catch (IllegalStateException neverStarted) {
      return null;
    }
  }

  private static @Nullable RuntimeException closeCollecting(
      @Nullable AutoCloseable closeable, @Nullable RuntimeException failure) {
    if (closeable == null) {
      return failure;
    }
    try {
      closeable.close();
      return failure;
    } catch (Exception e) {
      RuntimeException thrown =
          e instanceof RuntimeException runtime
              ? runtime
              : new IllegalStateException("could not close " + closeable, e);
      if (failure == null) {
        return thrown;
      }
      failure.addSuppressed(thrown);
      return failure;
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  // ---------------------------------------------------------------- the builder

  /**
   * Builds a {@link TestCluster}. Each setting may be set once (each cache name defined once);
   * setting it again throws {@link IllegalStateException} naming the value already set. Not
   * thread-safe.
   */
  public static final class Builder {
    private int size = -1;
    private @Nullable NodeSettings settings;
    private final Map<String, CacheSpec> caches = new LinkedHashMap<>();
    private int @Nullable [] behindProxy;
    private @Nullable Boolean started;
    private @Nullable Boolean joined;

    private Builder() {}

    /**
     * How many nodes {@link #build()} makes (default 0: the test {@linkplain #add() adds} them).
     */
    public Builder size(int size) {
      checkState(this.size == -1, "size was already set to %s", this.size);
      checkArgument(size >= 0, "size must not be negative, got %s", size);
      this.size = size;
      return this;
    }

    /** Settings every node's builder gets (default: none); see the class comment. */
    public Builder nodeSettings(UnaryOperator<ShardcacheNode.Builder> settings) {
      requireNonNull(settings, "settings");
      return nodeSettings((index, builder) -> settings.apply(builder));
    }

    /** Settings of each node's builder by index, for nodes that differ (default: none). */
    public Builder nodeSettings(NodeSettings settings) {
      requireNonNull(settings, "settings");
      checkState(this.settings == null, "nodeSettings were already set");
      this.settings = settings;
      return this;
    }

    /** Defines the cache {@code name} with {@code config} on every node. */
    public Builder cache(String name, CacheConfig<String, String> config) {
      requireNonNull(config, "config");
      return cache(name, (index, node) -> config);
    }

    /**
     * Defines the cache {@code name} on every node, each with the configuration {@code spec} makes.
     */
    public Builder cache(String name, CacheSpec spec) {
      requireNonNull(name, "name");
      requireNonNull(spec, "spec");
      checkState(!caches.containsKey(name), "cache '%s' was already defined", name);
      caches.put(name, spec);
      return this;
    }

    /**
     * Puts the nodes at {@code indexes} behind a proxy each (default: none); see the class comment.
     */
    public Builder behindProxy(int... indexes) {
      requireNonNull(indexes, "indexes");
      checkState(
          behindProxy == null, "behindProxy was already set to %s", Arrays.toString(behindProxy));
      behindProxy = indexes.clone();
      return this;
    }

    /**
     * Whether {@link #build()} starts the nodes (default true). Not started, they are only built,
     * with their caches defined, until {@link TestCluster#startAndJoin()}.
     */
    public Builder started(boolean started) {
      checkState(this.started == null, "started was already set to %s", this.started);
      this.started = started;
      return this;
    }

    /**
     * Whether {@link #build()} gives every node the addresses of all as its members (default: as
     * {@link #started}). Not joined, each knows no peer until the test joins them.
     */
    public Builder joined(boolean joined) {
      checkState(this.joined == null, "joined was already set to %s", this.joined);
      this.joined = joined;
      return this;
    }

    /**
     * Builds the nodes and proxies, and starts and joins the nodes as set; if anything fails,
     * closes what it made before throwing.
     *
     * @throws IllegalArgumentException if an index behind a proxy is not that of a node
     * @throws IllegalStateException if the nodes are to be joined but not started
     */
    public TestCluster build() {
      int count = Math.max(size, 0);
      boolean start = started == null || started;
      boolean join = joined == null ? start : joined;
      checkState(
          start || !join,
          "joined(true) needs started nodes; leave joined unset with"
              + " started(false), and call startAndJoin() once the nodes are ready");
      boolean[] proxied = new boolean[count];
      for (int index : behindProxy == null ? new int[0] : behindProxy) {
        checkArgument(
            index >= 0 && index < count,
            "behindProxy index %s is not a node of a cluster of %s",
            index,
            count);
        proxied[index] = true;
      }
      TestCluster cluster =
          new TestCluster(settings != null ? settings : (index, builder) -> builder, caches, start);
      try {
        for (int i = 0; i < count; i++) {
          cluster.add(proxied[i], builder -> builder);
        }
        if (join) {
          cluster.joinAll();
        }
      } catch (RuntimeException | Error e) {
        try {
          cluster.close();
        } catch (RuntimeException closing) {
          e.addSuppressed(closing);
        }
        throw e;
      }
      return cluster;
    }
  }
}
