package dev.shardcache.examples.boot;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts three instances of {@link BookServiceApplication} as separate JVMs on 127.0.0.1, shows
 * that a book cached through one is served by the others without calling the database again, that
 * an eviction through one is seen by all, then stops them and exits: 0 if every check passed, 1 if
 * one failed, 2 on an error.
 */
public final class ThreeInstances {
  private static final List<String> ISBNS =
      List.of("978-0441478125", "978-0060512750", "978-0547773742", "978-0553283686");

  private ThreeInstances() {}

  public static void main(String[] args) {
    List<Instance> instances = new ArrayList<>();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> instances.forEach(Instance::close)));
    int exit;
    try {
      exit = run(instances) ? 0 : 1;
    } catch (Exception e) {
      System.out.println("ERROR: " + e.getMessage());
      exit = 2;
    } finally {
      instances.forEach(Instance::close);
    }
    long alive = instances.stream().filter(Instance::isAlive).count();
    System.out.println(
        alive == 0 ? "All 3 instance JVMs stopped." : alive + " instance(s) still alive!");
    System.exit(exit);
  }

  private static boolean run(List<Instance> instances) throws Exception {
    Path logs = Files.createDirectories(Path.of("target", "instance-logs"));
    int[] ports = {freePort(), freePort(), freePort()};
    String peers = "127.0.0.1:" + ports[0] + ",127.0.0.1:" + ports[1] + ",127.0.0.1:" + ports[2];

    System.out.println("== Start 3 Spring Boot instances (separate JVMs), peers " + peers + " ==");
    long start = System.nanoTime();
    for (int i = 0; i < 3; i++) {
      instances.add(Instance.start("instance-" + (i + 1), ports[i], peers, logs));
    }
    for (Instance instance : instances) {
      System.out.println("  " + instance.name + " READY, node " + instance.awaitReady(90));
    }
    System.out.printf("  all up in %.1f s (logs in %s)%n", (System.nanoTime() - start) / 1e9, logs);

    Instance first = instances.get(0);
    System.out.println();
    System.out.println(
        "== 1. @Cacheable find(isbn) through " + first.name + ": the database is called ==");
    for (String isbn : ISBNS) {
      System.out.println("  " + first.name + " FIND " + isbn + " -> " + first.ask("FIND " + isbn));
    }

    System.out.println();
    System.out.println(
        "== 2. The same books through the other instances: served from the shared cache ==");
    for (Instance other : instances.subList(1, 3)) {
      for (String isbn : ISBNS) {
        System.out.println(
            "  " + other.name + " FIND " + isbn + " -> " + other.ask("FIND " + isbn));
      }
    }
    int[] afterSharing = calls(instances);

    System.out.println();
    String changed = ISBNS.get(0);
    Instance third = instances.get(2);
    Instance second = instances.get(1);
    System.out.println(
        "== 3. @CacheEvict through " + third.name + ", then find through " + second.name + " ==");
    System.out.println(
        "  " + third.name + " EVICT " + changed + " -> " + third.ask("EVICT " + changed));
    System.out.println(
        "  " + second.name + " FIND " + changed + " -> " + second.ask("FIND " + changed));
    System.out.println(
        "  " + first.name + " FIND " + changed + " -> " + first.ask("FIND " + changed));
    int[] afterEvict = calls(instances);

    boolean shared =
        afterSharing[0] == ISBNS.size() && afterSharing[1] == 0 && afterSharing[2] == 0;
    boolean evicted = afterEvict[0] == ISBNS.size() && afterEvict[1] == 1 && afterEvict[2] == 0;
    System.out.println();
    System.out.println("== Summary: database calls per instance ==");
    System.out.printf(
        "  after step 2: %d / %d / %d  (expected %d / 0 / 0: cached once, served everywhere)  %s%n",
        afterSharing[0], afterSharing[1], afterSharing[2], ISBNS.size(), shared ? "PASS" : "FAIL");
    System.out.printf(
        "  after step 3: %d / %d / %d  (expected %d / 1 / 0: one reload after the eviction)   %s%n",
        afterEvict[0], afterEvict[1], afterEvict[2], ISBNS.size(), evicted ? "PASS" : "FAIL");
    return shared && evicted;
  }

  private static int[] calls(List<Instance> instances) throws Exception {
    int[] calls = new int[instances.size()];
    for (int i = 0; i < calls.length; i++) {
      calls[i] = Integer.parseInt(instances.get(i).ask("CALLS").substring("CALLS ".length()));
    }
    return calls;
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return socket.getLocalPort();
    }
  }
}
