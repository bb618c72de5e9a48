package dev.shardcache.bench;

import com.sun.management.OperatingSystemMXBean;
import dev.shardcache.ShardcacheNode;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What one heartbeat costs: the CPU a node and its peer spend on one ping (the call on its own
 * control channel, the answer, the failure detector's bookkeeping), so that the cost of the
 * all-to-all heartbeats at 100 and 1,000 members can be worked out (see {@code
 * docs/performance.md}).
 *
 * <p>Two nodes run in the benchmark JVM on 127.0.0.1, each pinging the other every {@code
 * intervalMillis}. Each measured invocation lets them ping for {@value #WINDOW_MILLIS} ms and reads
 * the JVM's CPU time around it; {@code idle} is the same window with heartbeats once a minute, the
 * baseline of a JVM that does nothing. The secondary result {@code cpuMicrosPerPing} is (CPU in the
 * window) / (pings sent in the window by both nodes), so it counts both ends of each ping; subtract
 * the idle run's figure (which divides the idle CPU by the same nominal count) for the pings alone.
 * CPU time, not wall time, so a busy machine stretches the run but not the figure much.
 *
 * <pre>{@code
 * mvn -B -Pjmh test-compile exec:exec -Djmh.args="HeartbeatCostBenchmark"
 * }</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@Fork(1)
public class HeartbeatCostBenchmark {
  private static final Logger SHARDCACHE_LOGGER = Logger.getLogger("dev.shardcache");
  private static final long WINDOW_MILLIS = 3_000;

  /**
   * The heartbeat interval of the measured run. Not the shortest allowed (10 ms): its ping
   * deadline, twice the interval, expires now and then on a busy machine, and each expiry sends the
   * client reconnecting, which is not what a ping costs.
   */
  private static final long MEASURED_INTERVAL_MILLIS = 50;

  /**
   * The heartbeat interval: {@value #MEASURED_INTERVAL_MILLIS} ms for the cost, 60 s for the idle
   * base.
   */
  @Param({"50", "60000"})
  public long intervalMillis;

  private ShardcacheNode a;
  private ShardcacheNode b;

  /** The figure JMH reports beside the window's time. */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.EVENTS)
  public static class Cost {
    /** CPU of the whole JVM in the window per nominal ping, in microseconds. */
    public double cpuMicrosPerPing;

    /** 1 if a node suspected the other at the end of the window. */
    public int windowsWithASuspectedPeer;
  }

  /** Starts the two nodes, each with the other as its peer. */
  @Setup
  public void start() throws IOException {
    SHARDCACHE_LOGGER.setLevel(Level.WARNING);
    a = node().start();
    b = node().start();
    a.setPeers(List.of(b.address()));
    b.setPeers(List.of(a.address()));
  }

  private ShardcacheNode node() {
    return ShardcacheNode.builder()
        .listen("127.0.0.1", 0)
        .heartbeatInterval(Duration.ofMillis(intervalMillis))
        .build();
  }

  /** Stops both nodes. */
  @TearDown
  public void stop() {
    a.close();
    b.close();
  }

  /** Lets the nodes ping each other for one window and records the CPU it took. */
  @Benchmark
  public void pingWindow(Cost cost) throws InterruptedException {
    OperatingSystemMXBean os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    long cpuBefore = os.getProcessCpuTime();
    Thread.sleep(WINDOW_MILLIS);
    long cpu = os.getProcessCpuTime() - cpuBefore;
    double pings = 2.0 * WINDOW_MILLIS / Math.min(intervalMillis, MEASURED_INTERVAL_MILLIS);
    cost.cpuMicrosPerPing = cpu / 1_000.0 / pings;
    // On a starved machine a 10 ms detector may suspect its peer now and then; pings go on
    // meanwhile (a suspected peer is still pinged), so the figure stands, but it is counted.
    boolean bothUp =
        a.reachablePeers().contains(b.address()) && b.reachablePeers().contains(a.address());
    cost.windowsWithASuspectedPeer = bothUp ? 0 : 1;
  }
}
