package dev.shardcache.process;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Starts {@link NodeProcess} members, each in a JVM of its own, and makes them one cluster: nothing
 * they share lives in one heap. {@link #send} drives member {@code i} with one command and returns
 * its one-line answer; {@link #kill} ends a member like {@code kill -9}.
 *
 * <p>{@link #close()} stops every JVM this cluster started and waits for them, whether the test
 * passed or not; it throws if a member it asked to exit did not exit cleanly. A shutdown hook
 * destroys the children should the test JVM exit without closing, and each child exits by itself
 * when its stdin ends (this JVM died). Each child's stderr (its log) goes to a file under {@code
 * target/process-cluster/}, named in failure messages.
 */
final class ProcessCluster implements AutoCloseable {

  static final Duration READY_TIMEOUT = Duration.ofSeconds(30);
  static final Duration REPLY_TIMEOUT = Duration.ofSeconds(20);
  static final Duration EXIT_TIMEOUT = Duration.ofSeconds(15);

  private static final AtomicInteger clusters = new AtomicInteger();

  /** Queued after a member's last stdout line; compared by identity, so no line can pass for it. */
  @SuppressWarnings("StringOperationCanBeSimplified")
  private static final String EOF = new String("<end of stdout>");

  private final List<Member> members = new ArrayList<>();
  private final Thread shutdownHook;

  /**
   * Starts {@code size} members, waits until each is ready, and gives all of them the same peers.
   */
  ProcessCluster(int size, String name) {
    this(size, name, NodeProcess.Options.DEFAULTS);
  }

  /**
   * Starts {@code size} members set up with {@code options} (replication factor, heartbeat
   * interval), waits until each is ready, and gives all of them the same peers.
   */
  ProcessCluster(int size, String name, NodeProcess.Options options) {
    shutdownHook = new Thread(this::destroyAll, "process-cluster-shutdown");
    Runtime.getRuntime().addShutdownHook(shutdownHook);
    try {
      Path logs = baseDir().resolve("target").resolve("process-cluster");
      String prefix = name + "-" + ProcessHandle.current().pid() + "-" + clusters.incrementAndGet();
      try {
        Files.createDirectories(logs);
        // Start them all first: the JVMs boot in parallel.
        for (int i = 0; i < size; i++) {
          members.add(Member.start(i, logs.resolve(prefix + "-node" + i + ".log"), options));
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot start member " + members.size(), e);
      }
      for (Member member : members) {
        member.awaitReady();
      }
      setPeers(addresses());
    } catch (RuntimeException | Error e) {
      try {
        close();
      } catch (RuntimeException | Error suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  int size() {
    return members.size();
  }

  /** The address member {@code i} reported when it became ready. */
  String address(int i) {
    return members.get(i).address;
  }

  List<String> addresses() {
    return members.stream().map(m -> m.address).toList();
  }

  /** The index of the member whose address is {@code address}. */
  int indexOf(String address) {
    for (int i = 0; i < members.size(); i++) {
      if (members.get(i).address.equals(address)) {
        return i;
      }
    }
    throw new IllegalArgumentException("no member " + address + " in " + addresses());
  }

  /** Whether member {@code i}'s JVM is running. */
  boolean isAlive(int i) {
    return members.get(i).process.isAlive();
  }

  /** Sends {@code PEERS} with {@code peers} to every live member and checks each answered OK. */
  void setPeers(List<String> peers) {
    String command = "PEERS " + String.join(",", peers);
    for (int i = 0; i < members.size(); i++) {
      if (isAlive(i)) {
        String reply = send(i, command);
        if (!reply.equals("OK")) {
          throw new IllegalStateException(
              members.get(i).describe() + " answered '" + reply + "' to " + command);
        }
      }
    }
  }

  /**
   * Sends one command line to member {@code i} and returns its answer line.
   *
   * @throws IllegalStateException if it does not answer within {@link #REPLY_TIMEOUT} or its stdout
   *     ends; the message holds the end of its log
   */
  String send(int i, String command) {
    return members.get(i).send(command);
  }

  /** Ends member {@code i}'s JVM at once, as {@code kill -9} does, and waits until it is gone. */
  void kill(int i) {
    Member member = members.get(i);
    member.killed = true;
    member.process.destroyForcibly();
    try {
      if (!member.process.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new IllegalStateException(member.describe() + " survived destroyForcibly");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(
          "interrupted waiting for " + member.describe() + " to die", e);
    }
  }

  /**
   * Asks every live member to exit, waits for all of them, and destroys any that do not exit in
   * time. Throws, once every JVM is gone, if a member did not exit with status 0.
   */
  @Override
  public void close() {
    List<String> problems = new ArrayList<>();
    for (Member member : members) {
      member.requestExit();
    }
    for (Member member : members) {
      member.awaitExit(problems);
    }
    try {
      Runtime.getRuntime().removeShutdownHook(shutdownHook);
    } catch (IllegalStateException shuttingDown) {
      // the hook is running or about to; it finds nothing left
    }
    if (!problems.isEmpty()) {
      throw new IllegalStateException("members did not exit cleanly: " + problems);
    }
  }

  private void destroyAll() {
    for (Member member : members) {
      member.process.destroyForcibly();
    }
  }

  private static Path baseDir() {
    String basedir = System.getProperty("basedir");
    return Path.of(basedir != null ? basedir : System.getProperty("user.dir"));
  }

  private static String javaCommand() {
    Optional<String> current = ProcessHandle.current().info().command();
    return current.orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
  }

  /** One child JVM: its process, its stdin, and a queue of its stdout lines. */
  private static final class Member {
    final int index;
    final Process process;
    final Path log;
    final Writer stdin;
    final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    volatile String address = "(not ready)";
    volatile boolean killed;
    volatile boolean exitRequested;

    private Member(int index, Process process, Path log) {
      this.index = index;
      this.process = process;
      this.log = log;
      this.stdin =
          new BufferedWriter(
              new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8));
      Thread reader = new Thread(this::pumpStdout, "node" + index + "-stdout");
      reader.setDaemon(true);
      reader.start();
    }

    static Member start(int index, Path log, NodeProcess.Options options) throws IOException {
      List<String> command = new ArrayList<>();
      command.add(javaCommand());
      command.add("-Xmx128m");
      // Members live for seconds: the C1 compiler and the serial collector boot fastest.
      command.add("-XX:TieredStopAtLevel=1");
      command.add("-XX:+UseSerialGC");
      command.addAll(options.jvmArguments());
      command.add("-cp");
      command.add(System.getProperty("java.class.path"));
      command.add(NodeProcess.class.getName());
      Process process =
          new ProcessBuilder(command)
              .redirectError(ProcessBuilder.Redirect.to(log.toFile()))
              .redirectInput(ProcessBuilder.Redirect.PIPE)
              .redirectOutput(ProcessBuilder.Redirect.PIPE)
              .start();
      return new Member(index, process, log);
    }

    private void pumpStdout() {
      try (BufferedReader out =
          new BufferedReader(
              new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = out.readLine()) != null) {
          lines.add(line);
        }
      } catch (IOException e) {
        // the process was destroyed; EOF below tells the waiting caller
      } finally {
        lines.add(EOF);
      }
    }

    void awaitReady() {
      String line = nextLine(READY_TIMEOUT, "READY");
      if (!line.startsWith(NodeProcess.READY)) {
        throw new IllegalStateException(
            describe() + " printed '" + line + "' instead of READY" + logTail());
      }
      address = line.substring(NodeProcess.READY.length()).trim();
    }

    synchronized String send(String command) {
      if (killed) {
        throw new IllegalStateException(describe() + " was killed; cannot send " + command);
      }
      try {
        stdin.write(command);
        stdin.write('\n');
        stdin.flush();
      } catch (IOException e) {
        throw new IllegalStateException(
            "cannot send '" + command + "' to " + describe() + ": " + e + logTail(), e);
      }
      return nextLine(REPLY_TIMEOUT, "the answer to '" + command + "'");
    }

    private String nextLine(Duration timeout, String what) {
      String line;
      try {
        line = lines.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(
            "interrupted waiting for " + what + " from " + describe(), e);
      }
      if (line == null) {
        throw new IllegalStateException(
            describe()
                + " did not print "
                + what
                + " within "
                + timeout.toSeconds()
                + " s"
                + logTail());
      }
      // EOF is told apart by identity from a printed line with the same text.
      @SuppressWarnings("ReferenceEquality")
      boolean ended = line == EOF;
      if (ended) {
        lines.add(EOF); // later callers see the end too
        throw new IllegalStateException(
            describe()
                + " closed its stdout before printing "
                + what
                + (process.isAlive() ? "" : " (exit status " + process.exitValue() + ")")
                + logTail());
      }
      return line;
    }

    /** Sends EXIT and closes stdin (either one alone makes the member exit). */
    synchronized void requestExit() {
      if (killed || !process.isAlive()) {
        return;
      }
      exitRequested = true;
      try {
        stdin.write("EXIT\n");
        stdin.flush();
      } catch (IOException ignored) {
        // it is exiting already; awaitExit tells
      }
      try {
        stdin.close();
      } catch (IOException ignored) {
        // as above
      }
    }

    void awaitExit(List<String> problems) {
      try {
        if (!process.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
          problems.add(
              describe()
                  + " did not exit within "
                  + EXIT_TIMEOUT.toSeconds()
                  + " s of EXIT; destroyed it");
          process.destroyForcibly();
          process.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } else if (exitRequested && process.exitValue() != 0) {
          problems.add(describe() + " exited with status " + process.exitValue() + logTail());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        process.destroyForcibly();
        problems.add("interrupted waiting for " + describe() + "; destroyed it");
      }
    }

    String describe() {
      return "node" + index + " (pid " + process.pid() + ", " + address + ", log " + log + ")";
    }

    private String logTail() {
      try {
        List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
        List<String> tail = all.subList(Math.max(0, all.size() - 60), all.size());
        return "\n--- stderr of node" + index + " ---\n" + String.join("\n", tail);
      } catch (IOException | RuntimeException e) {
        return "\n(cannot read " + log + ": " + e + ")";
      }
    }
  }
}
