package dev.shardcache.process;

import com.google.common.base.Splitter;
import dev.shardcache.CacheConfig;
import dev.shardcache.Codecs;
import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;

/**
 * One cluster member in a JVM of its own, driven by line commands on stdin (see {@link
 * ProcessCluster}). It starts a node on 127.0.0.1 (a free port) with the cache "users" of UTF-8
 * strings, whose loader answers {@code "v(" + key + ")@" + <this node's address>} and counts its
 * calls, prints {@code READY <address>}, then answers each command with exactly one line:
 *
 * <pre>
 * PEERS a,b,c   -> OK                      (the members; may include this node)
 * GET k         -> VALUE v | ERROR message
 * GETEACH k1 k2 -> VALUES r1 TAB r2 ...    (one GET per key, in order; each result is =v or !error;
 *                                          for keys without spaces and values without tabs)
 * PUT k v       -> OK | ERROR message      (v is the rest of the line)
 * INVALIDATE k  -> OK | ERROR message
 * PRESENT k     -> VALUE v | ABSENT | ERROR message
 * OWNER k       -> the owner's address
 * LOADS         -> the number of loader calls on this node
 * SIZE          -> the size of this node's shard
 * RING          -> the members of this node's ring (the live ones), sorted, comma-separated
 * BACKLOG       -> the replicated writes this node has queued and not yet delivered
 * EXIT          -> OK, then closes the node and exits with status 0
 * </pre>
 *
 * <p>Its settings come from system properties, so a child started without any behaves as before
 * (see {@link Options}): {@value Options#REPLICATION_FACTOR} (the cache's replication factor,
 * default 1) and {@value Options#HEARTBEAT_MILLIS} (the node's heartbeat interval in milliseconds,
 * default the library's).
 *
 * <p>It also closes the node and exits when stdin reaches its end or its parent process ends, so a
 * test JVM that crashes leaves no member behind. Only the protocol goes to stdout; everything else
 * (logs included) goes to stderr.
 */
public final class NodeProcess {

  static final String CACHE = "users";
  static final String READY = "READY ";

  private NodeProcess() {}

  /**
   * How a member is set up: the replication factor of its cache and its heartbeat interval. The
   * parent passes them to the child JVM as system properties ({@link #jvmArguments()}); the child
   * reads them back with {@link #fromSystemProperties()}. {@link #DEFAULTS} passes none, so the
   * child runs exactly as it did before options existed.
   *
   * @param replicationFactor the replication factor of the cache (1: each key on its owner only)
   * @param heartbeatInterval the node's heartbeat interval, or null for the library's default
   */
  record Options(int replicationFactor, @Nullable Duration heartbeatInterval) {
    static final String REPLICATION_FACTOR = "shardcache.process.replicationFactor";
    static final String HEARTBEAT_MILLIS = "shardcache.process.heartbeatMillis";

    /** Replication factor 1 and the library's heartbeat interval. */
    static final Options DEFAULTS = new Options(1, null);

    Options {
      if (replicationFactor < 1) {
        throw new IllegalArgumentException(
            "replicationFactor must be positive, got " + replicationFactor);
      }
    }

    /** The {@code -D} arguments that make a child JVM read these options back. */
    List<String> jvmArguments() {
      List<String> arguments = new ArrayList<>();
      if (replicationFactor != 1) {
        arguments.add("-D" + REPLICATION_FACTOR + "=" + replicationFactor);
      }
      if (heartbeatInterval != null) {
        arguments.add("-D" + HEARTBEAT_MILLIS + "=" + heartbeatInterval.toMillis());
      }
      return arguments;
    }

    /** The options this JVM was started with. */
    static Options fromSystemProperties() {
      int factor = Integer.parseInt(System.getProperty(REPLICATION_FACTOR, "1"));
      String heartbeat = System.getProperty(HEARTBEAT_MILLIS);
      return new Options(
          factor, heartbeat == null ? null : Duration.ofMillis(Long.parseLong(heartbeat)));
    }
  }

  public static void main(String[] args) throws Exception {
    // The protocol owns stdout; anything a library prints must not be taken for an answer.
    PrintStream protocol =
        new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    System.setOut(System.err);

    // If the parent dies without closing our stdin (it always should), go anyway. Nothing waits
    // for the future: its action ends this process.
    ProcessHandle.current()
        .parent()
        .ifPresent(
            parent -> {
              CompletableFuture<Void> unused =
                  parent
                      .onExit()
                      .thenRun(
                          () -> {
                            System.err.println("parent process ended; exiting");
                            Runtime.getRuntime().halt(3);
                          });
            });

    AtomicLong loads = new AtomicLong();
    AtomicReference<String> self = new AtomicReference<>("unstarted");
    Options options = Options.fromSystemProperties();
    ShardcacheNode.Builder builder = ShardcacheNode.builder().listen("127.0.0.1", 0);
    if (options.heartbeatInterval() != null) {
      builder.heartbeatInterval(options.heartbeatInterval());
    }
    ShardcacheNode node = builder.build();
    int status = 0;
    try {
      // Defined before start(), so a peer never finds this node without the cache.
      CacheConfig.Builder<String, String> config =
          CacheConfig.builder(Codecs.utf8(), Codecs.utf8())
              .loader(
                  key -> {
                    loads.incrementAndGet();
                    return "v(" + key + ")@" + self.get();
                  })
              // The process tests check which node loaded each answer (a survivor's fallback
              // load, say); a reader's hot-key copy (kept 1 s) would answer some reads instead.
              // Hot keys are tested in HotKeysClusterTest.
              .hotKeys(false);
      if (options.replicationFactor() != 1) {
        config.replicationFactor(options.replicationFactor());
      }
      DistributedCache<String, String> cache = node.cache(CACHE, config.build());
      node.start();
      self.set(node.address());
      protocol.println(READY + node.address());

      BufferedReader in =
          new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      String line;
      while ((line = in.readLine()) != null) {
        if (line.isBlank()) {
          continue;
        }
        if (line.trim().equals("EXIT")) {
          protocol.println("OK");
          break;
        }
        String answer;
        try {
          answer = execute(line.trim(), node, cache, loads);
        } catch (RuntimeException e) {
          answer = "ERROR " + oneLine(e);
        }
        protocol.println(answer);
      }
    } catch (Throwable t) {
      System.err.println("node process failed");
      t.printStackTrace();
      status = 1;
    } finally {
      node.close();
    }
    System.err.println("node process exiting with status " + status);
    System.err.flush();
    protocol.flush();
    // gRPC and the loader pool may leave threads behind; they must not keep this JVM alive.
    System.exit(status);
  }

  private static String execute(
      String line, ShardcacheNode node, DistributedCache<String, String> cache, AtomicLong loads) {
    String[] parts = line.split(" ", 3);
    String command = parts[0];
    switch (command) {
      case "PEERS" -> {
        List<String> peers =
            parts.length < 2
                ? List.of()
                : Arrays.stream(parts[1].split(","))
                    .map(String::trim)
                    .filter(s -> !s.isEmpty())
                    .toList();
        node.setPeers(peers);
        return "OK";
      }
      case "GET" -> {
        String value = cache.get(argument(parts, 1, line));
        return value == null ? "ABSENT" : "VALUE " + value;
      }
      case "GETEACH" -> {
        String list = line.substring(command.length()).trim();
        if (list.isEmpty()) {
          throw new IllegalArgumentException("missing keys in '" + line + "'");
        }
        List<String> keys = Splitter.on(' ').omitEmptyStrings().splitToList(list);
        StringBuilder answer = new StringBuilder("VALUES ");
        for (int k = 0; k < keys.size(); k++) {
          if (k > 0) {
            answer.append('\t');
          }
          try {
            String value = cache.get(keys.get(k));
            answer.append(value == null ? "!absent" : "=" + value);
          } catch (RuntimeException e) {
            answer.append('!').append(oneLine(e).replace('\t', ' '));
          }
        }
        return answer.toString();
      }
      case "PUT" -> {
        cache.put(argument(parts, 1, line), argument(parts, 2, line));
        return "OK";
      }
      case "INVALIDATE" -> {
        cache.invalidate(argument(parts, 1, line));
        return "OK";
      }
      case "PRESENT" -> {
        String value = cache.getIfPresent(argument(parts, 1, line));
        return value == null ? "ABSENT" : "VALUE " + value;
      }
      case "OWNER" -> {
        return cache.ownerOf(argument(parts, 1, line));
      }
      case "LOADS" -> {
        return Long.toString(loads.get());
      }
      case "SIZE" -> {
        return Long.toString(cache.localSize());
      }
      case "RING" -> {
        return String.join(",", node.ring().nodes().stream().sorted().toList());
      }
      case "BACKLOG" -> {
        return Long.toString(node.replicationBacklog());
      }
      default -> {
        return "ERROR unknown command: " + line;
      }
    }
  }

  private static String argument(String[] parts, int index, String line) {
    if (parts.length <= index) {
      throw new IllegalArgumentException("missing argument " + index + " in '" + line + "'");
    }
    return parts[index];
  }

  private static String oneLine(Throwable t) {
    String message = t.getClass().getSimpleName() + ": " + t.getMessage();
    return message.replace('\r', ' ').replace('\n', ' ');
  }
}
