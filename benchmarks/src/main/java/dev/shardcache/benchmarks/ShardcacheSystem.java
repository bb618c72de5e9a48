package dev.shardcache.benchmarks;

import dev.shardcache.CacheConfig;
import dev.shardcache.Codec;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * Shardcache with three members on 127.0.0.1: the driver JVM's node and two {@link MemberMain}
 * JVMs. Every member defines the same cache ({@link #cacheConfig}): UTF-8 keys, {@code byte[]}
 * values ({@link Codecs#bytes()}: the bytes as they are, no serialization framework), a loader
 * that only fills it, no near cache, replication factor {@link Settings#shardcacheReplication()}
 * (default 2: each key on two members, like a Hazelcast map with one backup), each shard bounded
 * to twice the key count. Each member keeps one gRPC channel (one HTTP/2 connection) to each peer, shared by all of
 * its caller threads.
 *
 * <p>A key is local to the driver when the driver is one of its holders under the ring: a get of
 * it is then answered from the driver's shard without a call. The remote-only cells use the other
 * keys.
 */
final class ShardcacheSystem implements CacheSystem {
  static final String CACHE = "bench";
  private static final int PRELOAD_THREADS = 2;
  private static final int PRELOAD_BATCH = 500;
  private static final int PRELOAD_ATTEMPTS = 10;
  private static final long JOIN_TIMEOUT_MILLIS = 120_000;

  private final int replication;
  private final List<MemberJvm> members;
  private final ShardcacheNode node;
  private final DistributedCache<String, byte[]> cache;
  private final List<String> addresses = new ArrayList<>();
  private final RingWatch watch;
  private final long[] degradedSeen; // per member JVM, at the last problem() call
  private long driverDegradedSeen;
  private final long[] loadsSeen; // per member JVM, then the driver's
  private boolean[] local = new boolean[0];

  /** The loader calls of this JVM's member. */
  static final AtomicLong LOADS = new AtomicLong();

  /**
   * The one cache definition of every member, the driver's included. Its loader computes a key's
   * workload value ({@link Workload#value}); it fills the cache before measuring (read-through, the
   * way Shardcache is filled) and is never called while measuring: every key is present, and any
   * load counts as a problem of the cell ({@link #problem}).
   */
  static CacheConfig<String, byte[]> cacheConfig(int replication, long maximumSize, int valueBytes) {
    return CacheConfig.builder(Codecs.utf8(), Codecs.bytes())
        .maximumSize(maximumSize)
        .replicationFactor(replication)
        .loader(
            key -> {
              LOADS.incrementAndGet();
              return Workload.value(Workload.index(key), valueBytes);
            })
        .build();
  }

  private ShardcacheSystem(
      int replication, List<MemberJvm> members, ShardcacheNode node, DistributedCache<String, byte[]> cache) {
    this.replication = replication;
    this.members = members;
    this.node = node;
    this.cache = cache;
    this.watch = new RingWatch(node);
    this.degradedSeen = new long[members.size()];
    this.loadsSeen = new long[members.size() + 1];
  }

  /** Starts the two member JVMs and the driver's node, and makes them one cluster. */
  static ShardcacheSystem start(Settings settings, Path logs, int run) throws Exception {
    int replication = settings.shardcacheReplication();
    long maximumSize = 2L * settings.keys();
    List<MemberJvm> members = new ArrayList<>();
    ShardcacheNode node = null;
    DistributedCache<String, byte[]> cache;
    try {
      for (int i = 1; i <= 2; i++) { // both boot while the driver's node starts
        members.add(
            MemberJvm.start(
                "shardcache-member-" + i,
                List.of("shardcache", Integer.toString(replication), Long.toString(maximumSize),
                    Integer.toString(settings.valueBytes())),
                logs.resolve("run" + run + "-shardcache-member-" + i + ".log")));
      }
      node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
      cache = node.cache(CACHE, cacheConfig(replication, maximumSize, settings.valueBytes()));
      node.start();
    } catch (Exception | Error e) {
      if (node != null) {
        node.close();
      }
      for (MemberJvm member : members) {
        member.close();
      }
      throw e;
    }
    ShardcacheSystem system = new ShardcacheSystem(replication, members, node, cache);
    try {
      system.join();
      return system;
    } catch (Exception | Error e) {
      system.close();
      throw e;
    }
  }

  /** Gives every member the full member list and waits until every ring has all three. */
  private void join() throws InterruptedException {
    addresses.add(node.address());
    for (MemberJvm member : members) {
      addresses.add(member.awaitReady());
    }
    String all = String.join(",", addresses);
    for (MemberJvm member : members) {
      member.send("PEERS " + all);
    }
    node.setPeers(addresses);
    // A peer enters a ring once it has answered a heartbeat.
    String expected = String.join(",", addresses.stream().sorted().toList());
    long deadline = System.currentTimeMillis() + JOIN_TIMEOUT_MILLIS;
    while (true) {
      List<String> views = new ArrayList<>();
      views.add(ringOf(node));
      for (MemberJvm member : members) {
        views.add(member.send("RING"));
      }
      if (views.stream().allMatch(expected::equals)) {
        break;
      }
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException("the rings did not all reach " + expected + " within "
            + JOIN_TIMEOUT_MILLIS / 1000 + " s; they are " + views);
      }
      Thread.sleep(100);
    }
    watch.expect(addresses.size());
  }

  @Override
  public SystemKind kind() {
    return SystemKind.SHARDCACHE;
  }

  @Override
  public String setup() {
    return String.format(
        Locale.ROOT,
        "3 members (driver + 2 JVMs) %s; replicationFactor %d; Codecs.utf8() keys, Codecs.bytes()"
            + " values (raw bytes); no near cache; one gRPC/HTTP2 channel per peer, shared by all threads",
        addresses,
        replication);
  }

  /**
   * Reads every key through the driver with getAll, 500 keys at a time: each key is loaded once,
   * on a holder, and sent to its other holder (the way a read-through Shardcache is filled; 100,000
   * single puts took minutes on a loaded 2-core machine). Then waits until nothing is
   * left to replicate and every ring is whole, and checks that the shards hold every key
   * {@code replication} times.
   */
  @Override
  public void preload(Workload workload) throws Exception {
    String[] keys = workload.keys;
    long start = System.nanoTime();
    AtomicLong retries = new AtomicLong();
    int batches = (keys.length + PRELOAD_BATCH - 1) / PRELOAD_BATCH;
    Parallel.run(
        PRELOAD_THREADS,
        t -> {
          for (int b = t; b < batches; b += PRELOAD_THREADS) {
            List<String> batch =
                List.of(keys).subList(b * PRELOAD_BATCH, Math.min(keys.length, (b + 1) * PRELOAD_BATCH));
            for (int attempt = 1; ; attempt++) {
              try {
                int found = cache.getAll(batch).size();
                if (found != batch.size()) {
                  throw new IllegalStateException("getAll of " + batch.size() + " keys gave " + found);
                }
                break;
              } catch (RuntimeException e) {
                // All members share the host 127.0.0.1, and a member admits at most
                // maxConcurrentCallsPerPeer (256) calls per host: the replication of a burst of
                // loads can fill that for a moment (RESOURCE_EXHAUSTED). Wait, and ask again.
                if (attempt == PRELOAD_ATTEMPTS) {
                  throw e;
                }
                retries.incrementAndGet();
                Thread.sleep(250L * attempt);
              }
            }
          }
        });
    long loaded = System.nanoTime();
    settle();
    System.out.printf(Locale.ROOT, "   shardcache: loaded in %.1f s (%d getAll batches retried),"
        + " replicas settled %.1f s later%n",
        (loaded - start) / 1e9, retries.get(), (System.nanoTime() - loaded) / 1e9);
    long held = cache.localSize();
    for (MemberJvm member : members) {
      held += Long.parseLong(member.send("SIZE"));
    }
    if (held != (long) replication * keys.length) {
      throw new IllegalStateException("after preloading the shards hold " + held + " entries, not "
          + replication + " x " + keys.length);
    }
    problem(); // loads and ring changes so far do not count against the first cell

    // The driver's own view of where each key lives; checked against ownerOf on a sample.
    Codec<String> keyCodec = Codecs.utf8();
    String self = node.address();
    local = new boolean[keys.length];
    for (int i = 0; i < keys.length; i++) {
      List<String> holders = node.ring().ownersOf(keyCodec.encode(keys[i]), replication);
      local[i] = holders.contains(self);
      if (i < 1000 && !holders.get(0).equals(cache.ownerOf(keys[i]))) {
        throw new IllegalStateException("ring and ownerOf disagree on " + keys[i]);
      }
    }
  }

  /** Waits until every member's ring is whole and no member has writes left to replicate. */
  private void settle() throws InterruptedException {
    String expected = String.join(",", addresses.stream().sorted().toList());
    long deadline = System.currentTimeMillis() + JOIN_TIMEOUT_MILLIS;
    while (true) {
      List<String> state = new ArrayList<>();
      state.add(ringOf(node) + " backlog " + node.replicationBacklog());
      for (MemberJvm member : members) {
        state.add(member.send("RING") + " backlog " + member.send("BACKLOG"));
      }
      if (state.stream().allMatch((expected + " backlog 0")::equals)) {
        return;
      }
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException("the cluster did not settle within " + JOIN_TIMEOUT_MILLIS / 1000
            + " s: " + state);
      }
      Thread.sleep(100);
    }
  }

  private static String ringOf(ShardcacheNode node) {
    return String.join(",", node.ring().nodes().stream().sorted().toList());
  }

  @Override
  public boolean[] localCopies() {
    return local;
  }

  @Override
  public byte @Nullable [] get(String key) {
    return cache.get(key);
  }

  @Override
  public void put(String key, byte[] value) {
    cache.put(key, value);
  }

  @Override
  public int getAll(Workload.Batch batch) {
    return cache.getAll(batch.list).size();
  }

  /**
   * Since the previous call: whether a member's ring lost a member or its failure detector
   * suspected a peer (checked every 100 ms in each member by a {@link RingWatch}), a member loaded
   * a key (it was missing), or a member JVM ended.
   */
  @Override
  public @Nullable String problem() {
    List<String> problems = new ArrayList<>();
    long loads = LOADS.get() - loadsSeen[members.size()];
    loadsSeen[members.size()] += loads;
    long driver = watch.degraded();
    if (driver > driverDegradedSeen) {
      problems.add("the driver's ring was degraded " + (driver - driverDegradedSeen) + "x100 ms");
      driverDegradedSeen = driver;
    }
    for (int i = 0; i < members.size(); i++) {
      MemberJvm member = members.get(i);
      if (!member.isAlive()) {
        problems.add(member.describe() + " ended");
        continue;
      }
      long memberLoads = Long.parseLong(member.send("LOADS"));
      loads += memberLoads - loadsSeen[i];
      loadsSeen[i] = memberLoads;
      long degraded = Long.parseLong(member.send("DEGRADED"));
      if (degraded > degradedSeen[i]) {
        problems.add("member " + (i + 1) + "'s ring was degraded " + (degraded - degradedSeen[i]) + "x100 ms");
        degradedSeen[i] = degraded;
      }
    }
    if (loads > 0) {
      problems.add(loads + " key(s) loaded: they were missing");
    }
    return problems.isEmpty() ? null : String.join("; ", problems);
  }

  @Override
  public void close() {
    watch.close();
    try {
      node.close();
    } finally {
      for (MemberJvm member : members) {
        member.close();
      }
    }
  }
}
