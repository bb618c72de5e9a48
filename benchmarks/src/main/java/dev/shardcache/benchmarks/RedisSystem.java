package dev.shardcache.benchmarks;

import io.lettuce.core.KeyValue;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * A real Redis server, started by the benchmark on a free port of 127.0.0.1 with persistence off
 * ({@code --save "" --appendonly no}) and stopped at the end, reached through Lettuce's synchronous
 * API with String keys and {@code byte[]} values ({@code RedisCodec.of(StringCodec.UTF8,
 * ByteArrayCodec.INSTANCE)}: the bytes as they are).
 *
 * <p>All caller threads share <em>one</em> Lettuce connection. That is Lettuce's own idiom (its
 * connections are thread-safe and multiplex concurrent commands, so a pool is for blocking
 * commands and transactions), and it matches the other systems, which also share one connection
 * per peer among all threads. With 16 threads the commands of different threads travel pipelined
 * on that connection.
 *
 * <p>Redis holds one copy of each key (no replica), in one server process: every get is a network
 * call, and the remote-only cells use every key.
 *
 * <p>The server runs under a small shell that waits on its stdin: when the driver closes that
 * pipe, at the end or because the driver died, the shell stops the server.
 */
final class RedisSystem implements CacheSystem {
  private static final int PRELOAD_BATCH = 1000;
  private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
  private static final String WATCHDOG =
      "server=\"$1\"; shift; \"$server\" \"$@\" & pid=$!; cat > /dev/null; kill $pid 2>/dev/null; wait $pid";

  static final String INSTALL_HINT =
      "redis-server is not installed, so Redis is skipped. Install it with\n"
          + "    sudo apt-get update && sudo apt-get install -y redis-server   (Debian, Ubuntu)\n"
          + "    brew install redis                                            (macOS)\n"
          + "or name the executable with --redis-server PATH.";

  private final Process server;
  private final int port;
  private final String version;
  private final RedisClient client;
  private final StatefulRedisConnection<String, byte[]> connection;
  private final RedisCommands<String, byte[]> commands;
  private boolean[] local = new boolean[0];

  private RedisSystem(Process server, int port, RedisClient client, StatefulRedisConnection<String, byte[]> connection) {
    this.server = server;
    this.port = port;
    this.client = client;
    this.connection = connection;
    this.commands = connection.sync();
    this.version = infoField(commands, "redis_version");
  }

  /** The redis-server to run: {@code --redis-server}, else the first on the PATH; null if none. */
  static @Nullable Path findServer(Settings settings) {
    if (settings.redisServer() != null) {
      Path path = Path.of(settings.redisServer());
      if (!Files.isExecutable(path)) {
        throw new IllegalArgumentException("--redis-server " + path + " is not an executable file");
      }
      return path;
    }
    List<String> directories = new ArrayList<>();
    String pathVariable = System.getenv("PATH");
    if (pathVariable != null) {
      directories.addAll(List.of(pathVariable.split(File.pathSeparator)));
    }
    directories.addAll(List.of("/usr/bin", "/usr/sbin", "/usr/local/bin", "/opt/homebrew/bin"));
    for (String directory : directories) {
      Path candidate = Path.of(directory, "redis-server");
      if (!directory.isEmpty() && Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    return null;
  }

  static RedisSystem start(Path executable, Path logs, int run) throws Exception {
    int port = HazelcastSystem.freePorts(1).get(0);
    Files.createDirectories(logs);
    List<String> command =
        new ArrayList<>(
            List.of(
                "sh", "-c", WATCHDOG, "redis-watchdog", executable.toString(),
                "--port", Integer.toString(port),
                "--bind", "127.0.0.1",
                "--protected-mode", "yes",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--dir", logs.toAbsolutePath().toString(),
                "--logfile", ""));
    Path log = logs.resolve("run" + run + "-redis.log");
    Process server =
        Processes.register(
            new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.to(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.PIPE)
                .start());
    RedisClient client = null;
    try {
      client =
          RedisClient.create(
              RedisURI.builder().withHost("127.0.0.1").withPort(port).withTimeout(Duration.ofSeconds(30)).build());
      long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
      while (true) {
        try {
          StatefulRedisConnection<String, byte[]> connection =
              client.connect(RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE));
          connection.sync().ping();
          return new RedisSystem(server, port, client, connection);
        } catch (RuntimeException e) {
          if (!server.isAlive()) {
            throw new IllegalStateException("redis-server ended at start (exit " + server.exitValue()
                + "); see " + log, e);
          }
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException("redis-server did not answer within "
                + START_TIMEOUT.toSeconds() + " s; see " + log, e);
          }
          Thread.sleep(100);
        }
      }
    } catch (Exception | Error e) {
      if (client != null) {
        client.shutdown();
      }
      stop(server);
      throw e;
    }
  }

  @Override
  public SystemKind kind() {
    return SystemKind.REDIS;
  }

  @Override
  public String setup() {
    return String.format(
        Locale.ROOT,
        "redis-server %s on 127.0.0.1:%d, --save \"\" --appendonly no, no replica (one copy);"
            + " Lettuce 7.7 sync API, String keys, byte[] values (ByteArrayCodec); ONE connection"
            + " shared by all threads (Lettuce's idiom); getAll = MGET",
        version,
        port);
  }

  @Override
  public void preload(Workload workload) {
    String[] keys = workload.keys;
    Map<String, byte[]> batch = new HashMap<>();
    for (int i = 0; i < keys.length; i++) {
      batch.put(keys[i], workload.values[i]);
      if (batch.size() == PRELOAD_BATCH || i == keys.length - 1) {
        commands.mset(batch);
        batch.clear();
      }
    }
    long size = commands.dbsize();
    if (size != keys.length) {
      throw new IllegalStateException("Redis holds " + size + " keys, not " + keys.length);
    }
    local = new boolean[keys.length]; // nothing is local
  }

  @Override
  public boolean[] localCopies() {
    return local;
  }

  @Override
  public byte @Nullable [] get(String key) {
    return commands.get(key);
  }

  @Override
  public void put(String key, byte[] value) {
    commands.set(key, value);
  }

  @Override
  public int getAll(Workload.Batch batch) {
    int found = 0;
    for (KeyValue<String, byte[]> entry : commands.mget(batch.array)) {
      if (entry.hasValue()) {
        found++;
      }
    }
    return found;
  }

  @Override
  public @Nullable String problem() {
    return server.isAlive() ? null : "redis-server ended (exit " + server.exitValue() + ")";
  }

  @Override
  public void close() {
    try {
      connection.close();
      client.shutdown();
    } finally {
      stop(server);
    }
  }

  /** Closes the watchdog's stdin (it stops the server), waits, then destroys whatever is left. */
  private static void stop(Process server) {
    try {
      server.getOutputStream().close();
      if (!server.waitFor(15, TimeUnit.SECONDS)) {
        System.err.println("redis-server did not stop within 15 s; destroying it");
      }
    } catch (IOException ignored) {
      // the watchdog is gone already; destroy below
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      Processes.destroy(server);
    }
  }

  private static String infoField(RedisCommands<String, byte[]> commands, String field) {
    for (String line : commands.info("server").split("\r?\n")) {
      if (line.startsWith(field + ":")) {
        return line.substring(field.length() + 1).trim();
      }
    }
    return "?";
  }
}
