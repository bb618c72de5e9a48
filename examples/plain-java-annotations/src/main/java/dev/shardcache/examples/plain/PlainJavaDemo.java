package dev.shardcache.examples.plain;

import dev.shardcache.ShardcacheNode;
import dev.shardcache.annotation.CachingProxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Two Shardcache nodes on 127.0.0.1 in one JVM, each with its own {@link WeatherService} wrapped by
 * {@link CachingProxy}: a forecast computed through one node is served by the other, concurrent
 * calls of one key run the method once, and {@code @CacheRemove} through one node is seen by the
 * other. Exits 0 if every check passed, 1 if one failed, 2 on an error.
 */
public final class PlainJavaDemo {
  /** Held so the setting is not collected: the library's INFO lines would interleave the output. */
  private static final java.util.logging.Logger LIBRARY_LOG =
      java.util.logging.Logger.getLogger("dev.shardcache");

  private PlainJavaDemo() {}

  public static void main(String[] args) {
    LIBRARY_LOG.setLevel(java.util.logging.Level.WARNING);
    int exit;
    List<ShardcacheNode> nodes = new ArrayList<>();
    try {
      exit = run(nodes) ? 0 : 1;
    } catch (Exception e) {
      System.out.println("ERROR: " + e);
      exit = 2;
    } finally {
      nodes.forEach(ShardcacheNode::close);
    }
    System.exit(exit);
  }

  private static boolean run(List<ShardcacheNode> nodes) throws Exception {
    List<SlowWeatherService> services = new ArrayList<>();
    List<WeatherService> cached = new ArrayList<>();
    for (String name : List.of("node-a", "node-b")) {
      ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
      nodes.add(node);
      SlowWeatherService service = new SlowWeatherService(name);
      services.add(service);
      // Wrapping defines the "forecasts" cache on the node; do it before the node serves.
      cached.add(
          CachingProxy.builder(node)
              .allowedValueClasses(Forecast.class.getName())
              .configure(
                  (cache, config) ->
                      config.maximumSize(10_000).expireAfterWrite(Duration.ofMinutes(30)))
              .build()
              .wrap(WeatherService.class, service));
    }
    for (ShardcacheNode node : nodes) {
      node.start();
    }
    List<String> members = List.of(nodes.get(0).address(), nodes.get(1).address());
    nodes.forEach(node -> node.setPeers(members));
    System.out.println(
        "== Two nodes: node-a " + members.get(0) + ", node-b " + members.get(1) + " ==");

    WeatherService a = cached.get(0);
    WeatherService b = cached.get(1);
    List<String> cities = List.of("Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Quito");

    System.out.println();
    System.out.println("== 1. @CacheResult forecast(city, day) through node-a: computed ==");
    for (String city : cities) {
      System.out.println("  node-a " + timed(() -> a.forecast(city, 1, "metric")));
    }
    System.out.println();
    System.out.println(
        "== 2. The same calls through node-b (other units, not part of the key): cached ==");
    for (String city : cities) {
      System.out.println("  node-b " + timed(() -> b.forecast(city, 1, "imperial")));
    }
    boolean shared =
        services.get(0).computations() == cities.size() && services.get(1).computations() == 0;

    System.out.println();
    System.out.println("== 3. 20 concurrent calls of a cold key through node-b ==");
    int before = services.get(1).computations();
    Set<Forecast> seen = concurrently(20, () -> b.forecast("Reykjavik", 3, "metric"));
    int burst =
        services.get(1).computations() - before + services.get(0).computations() - cities.size();
    System.out.println(
        "  " + seen.size() + " distinct value(s); the method ran " + burst + " time(s)");
    boolean singleFlight = seen.size() == 1 && burst == 1;

    System.out.println();
    System.out.println("== 4. @CacheRemove through node-b, then the forecast through node-a ==");
    b.invalidate("Lisbon", 1);
    System.out.println("  node-a " + timed(() -> a.forecast("Lisbon", 1, "metric")));
    boolean removed = services.get(0).computations() == cities.size() + 1;

    System.out.println();
    System.out.println("== 5. @CachePut a correction through node-a, read it through node-b ==");
    a.correct("Oslo", 1, new Forecast("Oslo", 1, "snow, -4 C", "a forecaster"));
    Forecast corrected = b.forecast("Oslo", 1, "metric");
    System.out.println("  node-b " + corrected);
    boolean put = corrected.summary().startsWith("snow");

    System.out.println();
    System.out.println("== Summary ==");
    System.out.println("  computed once, served by the other node: " + pass(shared));
    System.out.println("  20 concurrent calls, one computation:     " + pass(singleFlight));
    System.out.println("  @CacheRemove seen by the other node:      " + pass(removed));
    System.out.println("  @CachePut seen by the other node:         " + pass(put));
    return shared && singleFlight && removed && put;
  }

  private interface Call {
    Forecast call() throws Exception;
  }

  private static String timed(Call call) throws Exception {
    long start = System.nanoTime();
    Forecast forecast = call.call();
    return String.format(
        "%-8s day %d: %-14s computed by %s  (%d ms)",
        forecast.city(),
        forecast.day(),
        forecast.summary(),
        forecast.computedBy(),
        (System.nanoTime() - start) / 1_000_000);
  }

  private static Set<Forecast> concurrently(int threads, Call call) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      CountDownLatch start = new CountDownLatch(1);
      List<Future<Forecast>> futures = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        futures.add(
            pool.submit(
                () -> {
                  start.await();
                  return call.call();
                }));
      }
      start.countDown();
      Set<Forecast> values = new HashSet<>();
      for (Future<Forecast> future : futures) {
        values.add(future.get(10, TimeUnit.SECONDS));
      }
      return values;
    } finally {
      pool.shutdownNow();
    }
  }

  private static String pass(boolean ok) {
    return ok ? "PASS" : "FAIL";
  }
}
