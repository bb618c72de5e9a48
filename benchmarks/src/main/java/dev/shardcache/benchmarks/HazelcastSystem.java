package dev.shardcache.benchmarks;

import com.hazelcast.config.Config;
import com.hazelcast.config.InMemoryFormat;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.partition.MigrationListener;
import com.hazelcast.partition.MigrationState;
import com.hazelcast.partition.ReplicaMigrationEvent;
import com.hazelcast.map.IMap;
import com.hazelcast.partition.PartitionService;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Hazelcast 5.7 embedded with three members on 127.0.0.1: the driver JVM's member and two
 * {@link MemberMain} JVMs, all set up by {@link #memberConfig}: TCP-IP join with the three
 * addresses listed, multicast and auto-detection off, bound to 127.0.0.1 only, phone-home off, a
 * cluster name of this run's own. The map has one synchronous backup, reads only from the
 * partition owner (Hazelcast's default), and keeps entries in BINARY form (the default): String
 * keys and {@code byte[]} values go through Hazelcast's built-in serializers for those types.
 * Writes use {@code IMap.set}, which does not send the old value back (put would); getAll is
 * {@code IMap.getAll}. Each member keeps one connection to each other member, shared by all
 * threads.
 *
 * <p>A key is local to the driver when the driver owns the key's partition; the remote-only cells
 * use the other keys. (The driver also holds backups of some of those, but a get does not read
 * a backup.)
 */
final class HazelcastSystem implements CacheSystem {
  static final String MAP = "bench";
  private static final int PRELOAD_BATCH = 1000;
  private static final int PRELOAD_THREADS = 4;
  private static final long JOIN_TIMEOUT_MILLIS = 120_000;
  /** Held, so that the level set on it sticks. */
  private static final Logger HAZELCAST_LOGS = Logger.getLogger("com.hazelcast");

  private final List<MemberJvm> members;
  private final HazelcastInstance instance;
  private final IMap<String, byte[]> map;
  private final List<String> addresses;
  private final AtomicLong membershipChanges = new AtomicLong();
  private final AtomicLong migrations = new AtomicLong();
  private long membershipChangesSeen;
  private long migrationsSeen;
  private boolean[] local = new boolean[0];

  /** The one configuration of every member, the driver's included. */
  static Config memberConfig(String clusterName, int port, List<String> members) {
    System.setProperty("hazelcast.phone.home.enabled", "false");
    Config config = new Config();
    config.setClusterName(clusterName);
    config.setProperty("hazelcast.phone.home.enabled", "false");
    config.setProperty("hazelcast.logging.type", "jdk");
    config.setProperty("hazelcast.socket.bind.any", "false");
    config.setProperty("hazelcast.prefer.ipv4.stack", "true");
    config.setProperty("hazelcast.shutdownhook.enabled", "false"); // the benchmark stops its members
    // Every member is listed: no need to wait 5 s for others before joining (it only slows start).
    config.setProperty("hazelcast.wait.seconds.before.join", "1");
    config.getJetConfig().setEnabled(false);
    NetworkConfig network = config.getNetworkConfig();
    network.setPort(port).setPortAutoIncrement(false);
    network.getInterfaces().setEnabled(true).addInterface("127.0.0.1");
    JoinConfig join = network.getJoin();
    join.getMulticastConfig().setEnabled(false);
    join.getAutoDetectionConfig().setEnabled(false);
    join.getTcpIpConfig().setEnabled(true).setMembers(members);
    config.addMapConfig(
        new MapConfig(MAP)
            .setBackupCount(1)
            .setAsyncBackupCount(0)
            .setReadBackupData(false)
            .setInMemoryFormat(InMemoryFormat.BINARY));
    return config;
  }

  private HazelcastSystem(List<MemberJvm> members, HazelcastInstance instance, List<String> addresses) {
    this.members = members;
    this.instance = instance;
    this.addresses = addresses;
    this.map = instance.getMap(MAP);
  }

  /** Starts the two member JVMs and the driver's member, and waits until the three are one cluster. */
  static HazelcastSystem start(Settings settings, Path logs, int run) throws Exception {
    HAZELCAST_LOGS.setLevel(null); // the driver's level (warnings), after a previous run's close
    String clusterName =
        "side-by-side-" + ProcessHandle.current().pid() + "-" + run + "-" + System.nanoTime();
    List<Integer> ports = freePorts(3);
    List<String> addresses = ports.stream().map(p -> "127.0.0.1:" + p).toList();
    String memberList = String.join(",", addresses);
    List<MemberJvm> members = new ArrayList<>();
    HazelcastInstance instance = null;
    try {
      for (int i = 1; i <= 2; i++) {
        members.add(
            MemberJvm.start(
                "hazelcast-member-" + i,
                List.of("hazelcast", clusterName, Integer.toString(ports.get(i)), memberList),
                logs.resolve("run" + run + "-hazelcast-member-" + i + ".log")));
      }
      instance = Hazelcast.newHazelcastInstance(memberConfig(clusterName, ports.get(0), addresses));
      for (MemberJvm member : members) {
        member.awaitReady();
      }
      long deadline = System.currentTimeMillis() + JOIN_TIMEOUT_MILLIS;
      while (instance.getCluster().getMembers().size() < 3) {
        if (System.currentTimeMillis() > deadline) {
          throw new IllegalStateException("Hazelcast members did not join within "
              + JOIN_TIMEOUT_MILLIS / 1000 + " s: " + instance.getCluster().getMembers());
        }
        Thread.sleep(100);
      }
      return new HazelcastSystem(members, instance, addresses);
    } catch (Exception | Error e) {
      if (instance != null) {
        instance.getLifecycleService().terminate();
      }
      for (MemberJvm member : members) {
        member.close();
      }
      throw e;
    }
  }

  /** Ports free on 127.0.0.1 a moment ago (closed again, for the members to bind). */
  static List<Integer> freePorts(int count) throws IOException {
    List<ServerSocket> sockets = new ArrayList<>();
    try {
      for (int i = 0; i < count; i++) {
        sockets.add(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
      }
      return sockets.stream().map(ServerSocket::getLocalPort).toList();
    } finally {
      for (ServerSocket socket : sockets) {
        socket.close();
      }
    }
  }

  @Override
  public SystemKind kind() {
    return SystemKind.HAZELCAST;
  }

  @Override
  public String setup() {
    return String.format(
        Locale.ROOT,
        "3 members (driver + 2 JVMs) %s, TCP-IP join on 127.0.0.1; IMap backup-count 1 (sync),"
            + " read-backup-data off, BINARY format, built-in String/byte[] serializers;"
            + " set() for writes; one connection per member pair, shared by all threads",
        addresses);
  }

  @Override
  public void preload(Workload workload) throws Exception {
    String[] keys = workload.keys;
    int batches = (keys.length + PRELOAD_BATCH - 1) / PRELOAD_BATCH;
    Parallel.run(
        PRELOAD_THREADS,
        t -> {
          for (int b = t; b < batches; b += PRELOAD_THREADS) {
            Map<String, byte[]> batch = new HashMap<>();
            for (int i = b * PRELOAD_BATCH; i < Math.min(keys.length, (b + 1) * PRELOAD_BATCH); i++) {
              batch.put(keys[i], workload.values[i]);
            }
            map.putAll(batch);
          }
        });
    awaitClusterSafe();
    if (map.size() != keys.length) {
      throw new IllegalStateException("the map holds " + map.size() + " entries, not " + keys.length);
    }
    PartitionService partitions = instance.getPartitionService();
    local = new boolean[keys.length];
    for (int i = 0; i < keys.length; i++) {
      local[i] = partitions.getPartition(keys[i]).getOwner().localMember();
    }
    // From now on the partition table must not change: count anything that would change it.
    instance.getCluster().addMembershipListener(new MembershipListener() {
      @Override
      public void memberAdded(MembershipEvent event) {
        membershipChanges.incrementAndGet();
      }

      @Override
      public void memberRemoved(MembershipEvent event) {
        membershipChanges.incrementAndGet();
      }
    });
    partitions.addMigrationListener(new MigrationListener() {
      @Override
      public void migrationStarted(MigrationState state) {
        migrations.incrementAndGet();
      }

      @Override
      public void migrationFinished(MigrationState state) {}

      @Override
      public void replicaMigrationCompleted(ReplicaMigrationEvent event) {}

      @Override
      public void replicaMigrationFailed(ReplicaMigrationEvent event) {}
    });
  }

  private void awaitClusterSafe() throws InterruptedException {
    long deadline = System.currentTimeMillis() + JOIN_TIMEOUT_MILLIS;
    while (!instance.getPartitionService().isClusterSafe()) {
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException("Hazelcast partitions still migrating after "
            + JOIN_TIMEOUT_MILLIS / 1000 + " s");
      }
      Thread.sleep(100);
    }
  }

  @Override
  public boolean[] localCopies() {
    return local;
  }

  @Override
  public byte @Nullable [] get(String key) {
    return map.get(key);
  }

  @Override
  public void put(String key, byte[] value) {
    map.set(key, value);
  }

  @Override
  public int getAll(Workload.Batch batch) {
    return map.getAll(batch.set).size();
  }

  /**
   * Since the previous call: a member joined or left, or partitions migrated (listeners on the
   * driver's member); and now: fewer than 3 members, a member JVM ended, or the cluster not safe
   * (migrations running or backups behind).
   */
  @Override
  public @Nullable String problem() {
    List<String> problems = new ArrayList<>();
    long changes = membershipChanges.get();
    if (changes > membershipChangesSeen) {
      problems.add((changes - membershipChangesSeen) + " membership change(s)");
      membershipChangesSeen = changes;
    }
    long moved = migrations.get();
    if (moved > migrationsSeen) {
      problems.add((moved - migrationsSeen) + " migration(s) started");
      migrationsSeen = moved;
    }
    int size = instance.getCluster().getMembers().size();
    if (size != 3) {
      problems.add("the cluster has " + size + " members");
    }
    for (MemberJvm member : members) {
      if (!member.isAlive()) {
        problems.add(member.describe() + " ended");
      }
    }
    if (!instance.getPartitionService().isClusterSafe()) {
      problems.add("partitions migrating or backups out of sync");
    }
    return problems.isEmpty() ? null : String.join("; ", problems);
  }

  @Override
  public void close() {
    // Members going away one after the other is expected now: no warnings about it.
    HAZELCAST_LOGS.setLevel(Level.SEVERE);
    try {
      try {
        instance.getCluster().shutdown(); // every member at once, without migrating partitions
      } catch (RuntimeException e) {
        System.err.println("Hazelcast cluster shutdown failed (" + e + "); terminating the driver's member");
        instance.getLifecycleService().terminate();
      }
    } finally {
      for (MemberJvm member : members) {
        member.close();
      }
    }
  }
}
