package dev.shardcache.benchmarks;

import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * A member JVM of the benchmark: one Shardcache node or one Hazelcast member on 127.0.0.1, set up
 * exactly like the driver's own member ({@link ShardcacheSystem#cacheConfig},
 * {@link HazelcastSystem#memberConfig}). It holds its share of the data and answers its peers; the
 * driver measures, this JVM only serves. Started by {@link MemberJvm}:
 *
 * <pre>
 * MemberMain shardcache REPLICATION MAXIMUM_SIZE VALUE_BYTES
 * MemberMain hazelcast CLUSTER_NAME PORT MEMBER,MEMBER,...
 * </pre>
 *
 * It prints {@code READY host:port}, then answers each command on stdin with one line:
 *
 * <pre>
 * PEERS a,b,c  -> OK          (Shardcache: the members, this one included)
 * RING         -> a,b,c       (Shardcache: the ring's members, sorted)
 * DEGRADED     -> n           (Shardcache: how many of its checks, every 100 ms since PEERS, found
 *                              a member missing from its ring or suspected)
 * SIZE         -> n           (Shardcache: the entries in its shard)
 * BACKLOG      -> n           (Shardcache: writes queued for peers, not yet delivered)
 * LOADS        -> n           (Shardcache: its loader's calls)
 * MEMBERS      -> n           (Hazelcast: the cluster's member count)
 * EXIT         -> OK, then stops the member and exits 0
 * </pre>
 *
 * It also stops when stdin ends or the driver's process ends. Only the protocol goes to stdout.
 */
public final class MemberMain {
  private MemberMain() {}

  public static void main(String[] args) throws Exception {
    PrintStream protocol =
        new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    System.setOut(System.err);
    ProcessHandle.current()
        .parent()
        .ifPresent(
            parent ->
                parent
                    .onExit()
                    .thenRun(
                        () -> {
                          System.err.println("driver ended; exiting");
                          Runtime.getRuntime().halt(3);
                        }));
    int status = 0;
    try {
      switch (args[0]) {
        case "shardcache" -> shardcache(args, protocol);
        case "hazelcast" -> hazelcast(args, protocol);
        default -> throw new IllegalArgumentException("unknown member kind " + args[0]);
      }
    } catch (Throwable t) {
      System.err.println("member failed");
      t.printStackTrace();
      status = 1;
    }
    System.err.println("member exiting with status " + status);
    System.err.flush();
    protocol.flush();
    System.exit(status); // library threads must not keep this JVM alive
  }

  private static void shardcache(String[] args, PrintStream protocol) throws Exception {
    int replication = Integer.parseInt(args[1]);
    long maximumSize = Long.parseLong(args[2]);
    int valueBytes = Integer.parseInt(args[3]);
    try (ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build()) {
      DistributedCache<String, byte[]> cache =
          node.cache(ShardcacheSystem.CACHE, ShardcacheSystem.cacheConfig(replication, maximumSize, valueBytes));
      node.start();
      try (RingWatch watch = new RingWatch(node)) {
        protocol.println(MemberJvm.READY + node.address());
        serve(
            protocol,
            line -> {
              String[] parts = line.split(" ", 2);
              return switch (parts[0]) {
                case "PEERS" -> {
                  List<String> peers = Arrays.stream(parts[1].split(",")).map(String::trim).toList();
                  node.setPeers(peers);
                  watch.expect(peers.size());
                  yield "OK";
                }
                case "RING" -> String.join(",", node.ring().nodes().stream().sorted().toList());
                case "DEGRADED" -> Long.toString(watch.degraded());
                case "SIZE" -> Long.toString(cache.localSize());
                case "BACKLOG" -> Long.toString(node.replicationBacklog());
                case "LOADS" -> Long.toString(ShardcacheSystem.LOADS.get());
                default -> "ERROR unknown command: " + line;
              };
            });
      }
    }
  }

  private static void hazelcast(String[] args, PrintStream protocol) throws Exception {
    String clusterName = args[1];
    int port = Integer.parseInt(args[2]);
    List<String> members = Arrays.asList(args[3].split(","));
    HazelcastInstance member =
        Hazelcast.newHazelcastInstance(HazelcastSystem.memberConfig(clusterName, port, members));
    try {
      member.getMap(HazelcastSystem.MAP); // created before the driver writes to it
      protocol.println(MemberJvm.READY + "127.0.0.1:" + port);
      serve(
          protocol,
          line ->
              switch (line) {
                case "MEMBERS" -> Integer.toString(member.getCluster().getMembers().size());
                default -> "ERROR unknown command: " + line;
              });
    } finally {
      member.shutdown();
    }
  }

  /** Answers commands until EXIT or the end of stdin. */
  private static void serve(PrintStream protocol, java.util.function.Function<String, String> commands)
      throws java.io.IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      line = line.trim();
      if (line.isEmpty()) {
        continue;
      }
      if (line.equals("EXIT")) {
        protocol.println("OK");
        return;
      }
      String answer;
      try {
        answer = commands.apply(line);
      } catch (RuntimeException e) {
        answer = "ERROR " + (e.getClass().getSimpleName() + ": " + e.getMessage()).replace('\n', ' ');
      }
      protocol.println(answer);
    }
  }
}
