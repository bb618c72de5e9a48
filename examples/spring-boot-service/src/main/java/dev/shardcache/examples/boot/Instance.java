package dev.shardcache.examples.boot;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The launcher's handle on one instance JVM: starts it, sends {@link Console} commands, reads the
 * answers with a timeout (a stuck instance cannot hang the launcher), and stops it. The instance's
 * stderr (Spring's and the library's log) goes to a file. Not thread-safe; the launcher drives
 * instances from one thread.
 */
final class Instance implements AutoCloseable {
  private static final String EOF = "\u0000EOF";

  final String name;
  private final Process process;
  private final Path log;
  private final Writer stdin;
  private final BlockingQueue<String> answers = new LinkedBlockingQueue<>();

  private Instance(String name, Process process, Path log) {
    this.name = name;
    this.process = process;
    this.log = log;
    this.stdin = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    Thread pump = new Thread(this::pump, name + "-stdout");
    pump.setDaemon(true);
    pump.start();
  }

  static Instance start(String name, int port, String peers, Path logDir) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Path log = logDir.resolve(name + ".log");
    Process process =
        new ProcessBuilder(
                List.of(
                    java,
                    "-Xmx256m",
                    "-cp",
                    System.getProperty("java.class.path"),
                    BookServiceApplication.class.getName(),
                    "--console",
                    "--instance.name=" + name,
                    "--shardcache.port=" + port,
                    "--shardcache.peers=" + peers))
            .redirectError(log.toFile())
            .start();
    return new Instance(name, process, log);
  }

  private void pump() {
    try (BufferedReader out =
        new BufferedReader(
            new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = out.readLine()) != null) {
        if (line.startsWith("@")) {
          answers.add(line.substring(1));
        }
      }
    } catch (IOException e) {
      // the instance died; EOF tells the waiting caller
    } finally {
      answers.add(EOF);
    }
  }

  /** Waits for {@code READY host:port} and returns the node's address. */
  String awaitReady(long seconds) throws IOException, InterruptedException {
    String line = next(seconds, "READY");
    if (!line.startsWith("READY ")) {
      throw new IOException(name + " said '" + line + "' instead of READY; see " + log);
    }
    return line.substring("READY ".length());
  }

  /** Sends one command and returns the one-line answer. */
  String ask(String command) throws IOException, InterruptedException {
    stdin.write(command + "\n");
    stdin.flush();
    String answer = next(30, command);
    if (answer.startsWith("ERROR")) {
      throw new IOException(name + " answered '" + command + "' with " + answer + "; see " + log);
    }
    return answer;
  }

  private String next(long seconds, String waitingFor) throws IOException, InterruptedException {
    String line = answers.poll(seconds, TimeUnit.SECONDS);
    if (line == null) {
      throw new IOException(
          name + " did not answer " + waitingFor + " within " + seconds + " s; see " + log);
    }
    if (line.equals(EOF)) {
      throw new IOException(name + " exited; see " + log);
    }
    return line;
  }

  /** Asks the instance to close its context, then makes sure the JVM is gone. */
  @Override
  public void close() {
    try {
      if (process.isAlive()) {
        stdin.write("EXIT\n");
        stdin.flush();
        process.waitFor(15, TimeUnit.SECONDS);
      }
    } catch (IOException | InterruptedException e) {
      // fall through to the forcible stop
    } finally {
      process.destroyForcibly();
    }
  }

  boolean isAlive() {
    return process.isAlive();
  }
}
