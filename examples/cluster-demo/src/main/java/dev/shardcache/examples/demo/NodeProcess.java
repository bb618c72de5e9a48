package dev.shardcache.examples.demo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The launcher's handle on one {@link DemoNode} child JVM: starts it, sends it commands and reads
 * the answers (each with a timeout, so a stuck child cannot hang the demo), and kills it.
 *
 * <p>A daemon thread copies the child's stdout lines into a queue; the child's stderr (the
 * library's log) goes to a file. {@link #request} is synchronized: one command at a time per node,
 * while different nodes may be driven from different threads. {@link #close} does not wait for a
 * request in progress.
 */
final class NodeProcess implements AutoCloseable {

  private static final String EOF = "\u0000EOF";

  private final String name;
  private final Process process;
  private final Path logFile;
  private final Writer stdin; // guarded by stdinLock
  private final Object stdinLock = new Object();
  private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
  private volatile String address;

  private NodeProcess(String name, Process process, Path logFile) {
    this.name = name;
    this.process = process;
    this.logFile = logFile;
    this.stdin = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    Thread reader = new Thread(this::pumpStdout, name + "-stdout");
    reader.setDaemon(true);
    reader.start();
  }

  /**
   * Starts {@code java -Xmx256m -cp <classpath> DemoNode} with stderr to {@code logFile}. Returns
   * at once; call {@link #awaitReady}.
   */
  static NodeProcess start(String name, String classpath, Path logFile) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder builder =
        new ProcessBuilder(List.of(java, "-Xmx256m", "-cp", classpath, DemoNode.class.getName()))
            .redirectError(logFile.toFile())
            .redirectOutput(ProcessBuilder.Redirect.PIPE)
            .redirectInput(ProcessBuilder.Redirect.PIPE);
    return new NodeProcess(name, builder.start(), logFile);
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
      // The process died or was killed; EOF below tells the waiting caller.
    } finally {
      lines.add(EOF);
    }
  }

  /** Waits for the child's {@code READY host:port} line and returns the address. */
  String awaitReady(Duration timeout) throws IOException, InterruptedException {
    String line = next(timeout, "READY");
    if (!line.startsWith("READY ")) {
      throw new IOException(name + " sent '" + line + "' instead of READY; see " + logFile);
    }
    address = line.substring("READY ".length()).trim();
    return address;
  }

  /**
   * Sends one command and returns the child's one-line answer.
   *
   * @throws IOException if the child died, answered ERROR, or did not answer within the timeout
   */
  synchronized String request(String command, Duration timeout)
      throws IOException, InterruptedException {
    if (!process.isAlive()) {
      throw new IOException(
          name + " is not running (exit " + process.exitValue() + "); see " + logFile);
    }
    send(command);
    String answer = next(timeout, command);
    if (answer.startsWith("ERROR")) {
      throw new IOException(name + " answered '" + command + "' with: " + answer);
    }
    return answer;
  }

  /** Sends a command and returns its answer with the expected first word removed. */
  String request(String command, String expectedWord, Duration timeout)
      throws IOException, InterruptedException {
    String answer = request(command, timeout);
    if (!answer.equals(expectedWord) && !answer.startsWith(expectedWord + " ")) {
      throw new IOException(
          name + " answered '" + command + "' with '" + answer + "', expected " + expectedWord);
    }
    return answer.substring(expectedWord.length()).trim();
  }

  private void send(String command) throws IOException {
    synchronized (stdinLock) {
      stdin.write(command);
      stdin.write('\n');
      stdin.flush();
    }
  }

  private String next(Duration timeout, String waitingFor)
      throws IOException, InterruptedException {
    String line = lines.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
    if (line == null) {
      throw new IOException(
          name
              + " did not answer '"
              + waitingFor
              + "' within "
              + timeout.toMillis()
              + " ms; see "
              + logFile);
    }
    if (line.equals(EOF)) {
      lines.add(EOF); // keep reporting EOF to later callers
      throw new IOException(
          name + " exited while we waited for '" + waitingFor + "'; see " + logFile);
    }
    return line;
  }

  /** Kills the child at once, like {@code kill -9}, and waits for it to be gone. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(10, TimeUnit.SECONDS);
  }

  /** Whether the child is still running. */
  boolean isAlive() {
    return process.isAlive();
  }

  String name() {
    return name;
  }

  /** The child's "host:port" on the ring; null before {@link #awaitReady}. */
  String address() {
    return address;
  }

  Path logFile() {
    return logFile;
  }

  /** The OS process id, to show which process was killed. */
  long pid() {
    return process.pid();
  }

  /**
   * Stops the child: asks it to EXIT and waits briefly, then kills it if it is still running. Safe
   * to call more than once and from a shutdown hook (it never throws).
   */
  @Override
  public void close() {
    if (process.isAlive()) {
      try {
        send("EXIT");
        process.waitFor(3, TimeUnit.SECONDS);
      } catch (IOException e) {
        // Its stdin is already closed; kill it below.
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    destroyNow();
  }

  /** Kills the child without waiting; for the shutdown hook. Never throws. */
  void destroyNow() {
    if (process.isAlive()) {
      process.destroyForcibly();
    }
  }

  @Override
  public String toString() {
    return name + (address == null ? "" : " (" + address + ", pid " + process.pid() + ")");
  }
}
