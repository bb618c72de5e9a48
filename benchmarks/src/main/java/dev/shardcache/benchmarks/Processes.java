package dev.shardcache.benchmarks;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Every process the driver started and has not yet seen end: member JVMs and the Redis server. A
 * shutdown hook destroys those still alive (and their children), so Ctrl-C or an uncaught error
 * leaves nothing behind; the member JVMs also exit by themselves when the driver's end closes their
 * stdin, and the Redis server's watchdog shell stops it the same way.
 */
final class Processes {
  private static final Set<Process> alive = ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(Processes::destroyAll, "destroy-children"));
  }

  private Processes() {}

  static Process register(Process process) {
    alive.add(process);
    return process;
  }

  static void unregister(Process process) {
    alive.remove(process);
  }

  /** Destroys every registered process and its descendants, forcibly. */
  static void destroyAll() {
    for (Process process : alive) {
      destroy(process);
    }
  }

  /** Destroys {@code process}'s descendants, then the process, forcibly. */
  static void destroy(Process process) {
    process.descendants().forEach(ProcessHandle::destroyForcibly);
    process.destroyForcibly();
    alive.remove(process);
  }

  /** How many processes the driver started are still running. */
  static long stillRunning() {
    return alive.stream().filter(Process::isAlive).count();
  }
}
