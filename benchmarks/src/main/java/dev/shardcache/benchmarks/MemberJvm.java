package dev.shardcache.benchmarks;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The driver's handle on one member JVM ({@link MemberMain}): started with exactly the driver's own
 * JVM flags ({@link #jvmFlags()}) and classpath, driven by one-line commands on its stdin, each
 * answered by one line on its stdout. Its stderr (its log) goes to a file.
 *
 * <p>{@link #close()} asks it to exit (EXIT, then end of stdin), waits, and destroys it if it did
 * not go; it is also registered with {@link Processes}, whose shutdown hook destroys it should the
 * driver die first. A member exits by itself when its stdin ends or the driver's process ends.
 */
final class MemberJvm implements AutoCloseable {
  static final Duration READY_TIMEOUT = Duration.ofSeconds(120);
  static final Duration REPLY_TIMEOUT = Duration.ofSeconds(60);
  static final Duration EXIT_TIMEOUT = Duration.ofSeconds(20);
  static final String READY = "READY ";

  /** Queued after the last stdout line; compared by identity. */
  @SuppressWarnings("StringOperationCanBeSimplified")
  private static final String EOF = new String("<end of stdout>");

  private final String name;
  private final Process process;
  private final Writer stdin;
  private final Path log;
  private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

  private MemberJvm(String name, Process process, Path log) {
    this.name = name;
    this.process = process;
    this.log = log;
    this.stdin = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    Thread reader = new Thread(this::pumpStdout, name + "-stdout");
    reader.setDaemon(true);
    reader.start();
  }

  /** The flags this JVM was started with; every member JVM gets the same. */
  static List<String> jvmFlags() {
    return ManagementFactory.getRuntimeMXBean().getInputArguments();
  }

  /** Starts {@code java <the driver's flags> -cp <the driver's classpath> MemberMain args...}. */
  static MemberJvm start(String name, List<String> args, Path log) throws IOException {
    Files.createDirectories(log.getParent());
    List<String> command = new ArrayList<>();
    command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(jvmFlags());
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(MemberMain.class.getName());
    command.addAll(args);
    Process process =
        Processes.register(
            new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.to(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.PIPE)
                .redirectOutput(ProcessBuilder.Redirect.PIPE)
                .start());
    return new MemberJvm(name, process, log);
  }

  /** Waits for the member's READY line and returns the address it printed. */
  String awaitReady() {
    String line = nextLine(READY_TIMEOUT, "READY");
    if (!line.startsWith(READY)) {
      throw new IllegalStateException(describe() + " printed '" + line + "' instead of READY" + logTail());
    }
    return line.substring(READY.length()).trim();
  }

  /** Sends one command and returns the member's one-line answer; an ERROR answer throws. */
  String send(String command) {
    return send(command, REPLY_TIMEOUT);
  }

  /** {@link #send(String)}, waiting up to {@code timeout} for the answer. */
  synchronized String send(String command, Duration timeout) {
    try {
      stdin.write(command);
      stdin.write('\n');
      stdin.flush();
    } catch (IOException e) {
      throw new IllegalStateException("cannot send '" + command + "' to " + describe() + logTail(), e);
    }
    String answer = nextLine(timeout, "the answer to '" + command + "'");
    if (answer.startsWith("ERROR")) {
      throw new IllegalStateException(describe() + " answered '" + command + "' with " + answer);
    }
    return answer;
  }

  boolean isAlive() {
    return process.isAlive();
  }

  String describe() {
    return name + " (pid " + process.pid() + ", log " + log + ")";
  }

  @Override
  public synchronized void close() {
    try {
      if (process.isAlive()) {
        try {
          stdin.write("EXIT\n");
          stdin.flush();
        } catch (IOException ignored) {
          // it is going already
        }
      }
      try {
        stdin.close();
      } catch (IOException ignored) {
        // as above
      }
      if (!process.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        System.err.println(describe() + " did not exit within " + EXIT_TIMEOUT.toSeconds()
            + " s of EXIT; destroying it");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      Processes.destroy(process); // a no-op for a process that exited
      try {
        process.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void pumpStdout() {
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = out.readLine()) != null) {
        lines.add(line);
      }
    } catch (IOException e) {
      // destroyed; EOF below tells any waiting caller
    } finally {
      lines.add(EOF);
    }
  }

  private String nextLine(Duration timeout, String what) {
    String line;
    try {
      line = lines.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted waiting for " + what + " from " + describe(), e);
    }
    if (line == null) {
      throw new IllegalStateException(describe() + " did not print " + what + " within "
          + timeout.toSeconds() + " s" + logTail());
    }
    if (line == EOF) {
      lines.add(EOF);
      throw new IllegalStateException(describe() + " ended before printing " + what
          + (process.isAlive() ? "" : " (exit status " + process.exitValue() + ")") + logTail());
    }
    return line;
  }

  private String logTail() {
    try {
      List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
      return "\n--- last lines of " + log + " ---\n"
          + String.join("\n", all.subList(Math.max(0, all.size() - 30), all.size()));
    } catch (IOException | RuntimeException e) {
      return " (log " + log + " unreadable: " + e + ")";
    }
  }
}
