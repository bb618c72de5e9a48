package dev.shardcache;

import static dev.shardcache.TestClusters.internals;
import static dev.shardcache.TestClusters.loader;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.CacheBatch;
import dev.shardcache.internal.proto.PeerServiceGrpc;
import dev.shardcache.internal.proto.ReplicateRequest;
import dev.shardcache.internal.proto.VersionedEntry;
import dev.shardcache.replication.HybridLogicalClock;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import dev.shardcache.ring.HashRing;
import dev.shardcache.ring.KeyHash;
import dev.shardcache.testing.TestCluster;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Tuple;
import net.jqwik.api.state.Action;
import net.jqwik.api.state.ActionChain;
import net.jqwik.api.state.Transformer;
import net.jqwik.api.statistics.Statistics;
import org.jspecify.annotations.Nullable;

/**
 * The stateful convergence property of issue 3: a proxied 3-node cluster with replication factor 2
 * is driven through random sequences of puts, invalidates, gets, cache-wide clears, writes from a
 * peer whose clock runs ahead, partitions (a node's {@link dev.shardcache.testing.TcpProxy} cut and
 * healed), node stops and restarts, pauses (so the failure detectors act) and anti-entropy passes;
 * then every fault is repaired and the replicas must agree on the last acknowledged write of every
 * key.
 *
 * <h2>The actions</h2>
 *
 * <ul>
 *   <li><b>put</b> / <b>invalidate</b> of a key from a keyspace of {@value #KEYS}, through a random
 *       running node. Every put writes a value unique to it ({@code "k3=w17"}), so a value names
 *       the write that produced it. Writes are spaced at least {@value #WRITE_SPACING_MILLIS} ms
 *       apart (see "What the model assumes").
 *   <li><b>get</b> of a random key through a random running node, with the cache's loader (which
 *       answers {@code "v(key)@node"}): it exercises fetching from other holders, read repair and
 *       fallback loads, and a load it causes may store a new version (see the model).
 *   <li><b>cut</b> / <b>heal</b> node i's proxy: nobody can reach node i (its own calls to the
 *       others still go through, as with a one-way partition); heal forwards again.
 *   <li><b>stop</b> node i (its shard, hints and clock are lost) and later <b>restart</b> it: a
 *       new, empty {@link ShardcacheNode} on the same listen port behind the same proxy, re-joined
 *       with {@code setPeers} on all nodes ({@link TestCluster#restart}). A stopped node may stay
 *       stopped for any number of actions.
 *   <li><b>pause</b> 30 ms, 0.5 s or 2 s (2 s is long enough for the phi-accrual detectors to drop
 *       a cut or stopped node from the rings, 0.5 s usually not), and <b>maintain</b>: one {@code
 *       maintainNow()} pass (rebalancing and anti-entropy) on a running node mid-sequence.
 *   <li><b>invalidateAll</b> through a random running node (see the model for what it means when it
 *       throws).
 *   <li><b>put ahead</b>: a peer whose clock runs {@value #AHEAD_MILLIS} ms ahead, within the
 *       default {@code maxClockSkew} of 1 s. Each {@code Cluster} makes its own {@code
 *       HybridLogicalClock.onSystemClock}, so a node's clock cannot be skewed without a seam in
 *       main code; skew enters the way a fast peer's does, through the versions it sends. The test
 *       sends a raw {@code Replicate} (as hand-off and hints do) to a random running node, through
 *       its proxy, with a put of a random key ({@code "k3=a18"}) stamped {@value #AHEAD_MILLIS} ms
 *       ahead of the wall clock and a member's writer id. The node must accept it (unless it is cut
 *       off), and every node that hears of it moves its clock past it.
 *   <li><b>put far ahead</b>: the same, stamped an hour ahead ({@code "k3=f19"}) and sent straight
 *       to the node's listen port, past its proxy, so a cut does not hide the answer: it must be
 *       refused with {@code INVALID_ARGUMENT} and counted, and its value must never be held by any
 *       node, then or at the end.
 * </ul>
 *
 * <h2>The model</h2>
 *
 * For each key, the list of writes in the order the test issued them. A write that returned is
 * <em>acknowledged</em>; one that threw is <em>maybe applied</em> (a holder may have applied it
 * before the answer was lost). A get that made some node call its loader (seen in that node's
 * {@link RecordingLoader} count) adds a maybe-applied write of the loaded value at that point: the
 * load is stored, versioned at its start, if the loading node holds the key under its ring, and
 * only returned otherwise (a fallback load). A put ahead that the node accepted is acknowledged:
 * the node holds it, and a receiver that does not hold the key hands it over in its next
 * rebalancing pass, which settling runs; one that failed is maybe applied.
 *
 * <p>An <b>invalidateAll</b> is a write of absence to every key, versioned with the clear's stamp.
 * One that returned is acknowledged. So is one that threw {@link PeerUnavailableException}: as
 * {@code WritePath.invalidateAll} and rule 11 of {@code docs/protocol.md} have it, the coordinator
 * records the clear itself before round 2, every member that confirmed records it, and a member
 * that did not confirm gets it from the coordinator's hint queue (which carries the clear in front
 * of any entries, is kept while the member is unreachable, and is dropped only for a member that
 * leaves the membership, which never happens here) or from the next digest. The generator stops a
 * node only after every queue is empty, so the queued clear is never lost with its coordinator. So
 * the model assumes that such a clear is applied on every member eventually, and that every copy
 * versioned before it dies wherever it is (held, queued, handed off, loading). Any other exception
 * makes it maybe applied (and is reported as unexpected).
 *
 * <p>At the end, with every proxy healed, every stopped node restarted, all replication queues
 * empty, every failure detector re-admitting every peer, and a few {@code maintainNow()} rounds run
 * on every node, the test checks for every key, with its holders taken from the final ring ({@code
 * ring().ownersOf(KeyHash.hash(utf8(key)), 2)}):
 *
 * <ol>
 *   <li>every node has the same ring, of all three members;
 *   <li>both holders hold the same version (or both hold nothing);
 *   <li>that copy is a write the model allows: one that no acknowledged write or clear
 *       <em>certainly supersedes</em> (see "What the model assumes"). An invalidate or a clear
 *       reads as absent or a tombstone; a key never acknowledged may also be absent. Without puts
 *       ahead this is: the last acknowledged write, or a maybe-applied write issued after it;
 *   <li>{@code getIfPresent} through every node answers that value;
 *   <li>no node holds a value that was put far ahead.
 * </ol>
 *
 * <h2>Which losses the design allows, and how the generator avoids them</h2>
 *
 * Shardcache is a cache: it keeps data in memory only and acknowledges a write once <em>one</em>
 * holder applied it; the copies for the other holders wait in the applying node's in-memory
 * replication queue (hints) until delivered. So an acknowledged write is legitimately lost when
 * every node holding it, or holding its undelivered hints, loses its memory before another holder
 * got it, for instance:
 *
 * <ul>
 *   <li>a node applies a write (or forwards it, holding only the hint) and is stopped before its
 *       queue delivered the copy (the other holder was unreachable, or just not yet reached);
 *   <li>a node that was alone in its ring (it suspected both others) applied writes no other node
 *       holds (with one live member there is nobody to replicate to), and is stopped before the
 *       rebalancing that follows re-admission handed them over: rebalancing is not part of the
 *       replication backlog, so an empty backlog does not prove it happened;
 *   <li>with replication factor 2, both holders of a key are stopped (or one is stopped while the
 *       only other copy sits unreplicated on it).
 * </ul>
 *
 * None of these is a convergence bug, so the generator never produces them. <b>The rule:</b> a node
 * is stopped only when no node is stopped and no proxy is cut, and only after the cluster
 * <em>settles</em>: every node running, no peer suspected, every peer reachable from every node,
 * all rings of the three members, every replication backlog 0, then two {@code maintainNow()}
 * rounds on every node, and still healthy with empty backlogs after them. At that point every
 * acknowledged write is held, at its latest version, by both of its holders, so the stopped node's
 * loss leaves a copy on a live node; and until the stopped node is back and the cluster has settled
 * again, no other node loses its memory (restarting a node loses nothing: it comes back empty, and
 * may do so while other nodes are cut). Under this rule no acknowledged write may be lost, and the
 * check above has no exceptions.
 *
 * <h2>What the model assumes</h2>
 *
 * Last-writer-wins orders writes by hybrid logical clock timestamps, whose physical part is in
 * milliseconds. Two writes of one key made through different nodes within one millisecond, with no
 * message between them, are concurrent for the cluster, and their order is decided by the writer
 * ids, not by the order the test issued them (documented in {@code dev.shardcache.replication}).
 * The test therefore leaves at least {@value #WRITE_SPACING_MILLIS} ms between the end of one write
 * and the start of the next: all clocks read the same wall clock, so a later write then carries a
 * larger timestamp than any write before it, and the model's order is the versions' order (gets and
 * clears are spaced the same way, as a stored load is versioned when it starts). Tombstones outlive
 * a run by far (10 minutes).
 *
 * <p>Puts ahead break that order for a while, as a fast clock does: a node that accepts a version
 * stamped {@code S} moves its hybrid clock past {@code S}, passes {@code S} on to every node it
 * replicates to, and until the wall clock reaches {@code S} their writes (and clear stamps) carry
 * timestamps just above {@code S} while the other nodes' writes carry the wall clock: writes issued
 * in one order may be versioned in the other. So the model gives each write an interval of
 * milliseconds its version's physical part lies in: from the wall clock when the test started it (a
 * clock never issues a timestamp below its wall clock) to the later of the wall clock when it
 * returned and the largest stamp put ahead so far, accepted or not (a clock moves only to the wall
 * clock and past the timestamps it accepts, and a far-ahead stamp is refused before the clock sees
 * it). A put ahead's interval is its stamp. An acknowledged write <em>certainly supersedes</em> a
 * write whose interval ends before its own begins; writes whose intervals overlap may have been
 * versioned either way, and the model allows both. With writes spaced apart and nothing put ahead,
 * the intervals are disjoint and in issue order, and the rule is the plain "last acknowledged
 * write" above.
 *
 * <p>Cost: each try starts 3 nodes and 3 proxies, runs at most {@value #MAX_ACTIONS} actions, and
 * closes everything in a {@code finally}. Shrinking is bounded: a try takes seconds, and a failure
 * also prints the executed actions with their outcomes and the final copies of every key.
 */
class ClusterConvergenceProperties {

  static final int NODES = 3;
  static final int REPLICATION_FACTOR = 2;
  static final int KEYS = 6;
  static final int MAX_ACTIONS = 25;
  static final long WRITE_SPACING_MILLIS = 2;

  /** How far ahead of the wall clock a put ahead is stamped: within the default skew of 1 s. */
  static final long AHEAD_MILLIS = 300;

  /** How far ahead a put far ahead is stamped: far past the default skew, so it is refused. */
  static final long FAR_AHEAD_MILLIS = Duration.ofHours(1).toMillis();

  private static final Duration SETTLE_TIMEOUT = Duration.ofSeconds(30);

  private final List<World> worlds = new CopyOnWriteArrayList<>();

  @Property(tries = 15, shrinking = ShrinkingMode.BOUNDED)
  void replicasConvergeOnTheLastAcknowledgedWrite(
      @ForAll("faultSequences") ActionChain<World> chain) {
    try {
      World world = chain.run();
      world.repairEverything();
      world.check();
      world.collectStatistics();
    } finally {
      for (World world : worlds) {
        world.close();
      }
      worlds.clear();
    }
  }

  @Provide
  Arbitrary<ActionChain<World>> faultSequences() {
    return ActionChain.<World>startWith(this::newWorld)
        .withAction(8, new Write(true))
        .withAction(4, new Write(false))
        .withAction(2, new Read())
        .withAction(2, new Cut())
        .withAction(3, new Heal())
        .withAction(1, new Stop())
        .withAction(3, new Restart())
        .withAction(3, new Pause())
        .withAction(1, new Maintain())
        .withAction(1, new InvalidateAll())
        .withAction(1, new PutAhead(false))
        .withAction(1, new PutAhead(true))
        .withMaxTransformations(MAX_ACTIONS);
  }

  private World newWorld() {
    World world = new World();
    worlds.add(world);
    return world;
  }

  static String key(int k) {
    return "k" + k;
  }

  // ---------------------------------------------------------------- actions

  /** A put (or an invalidate) of a random key through a random running node. */
  static final class Write implements Action.Dependent<World> {
    private final boolean put;

    Write(boolean put) {
      this.put = put;
    }

    @Override
    public boolean precondition(World world) {
      return !world.running().isEmpty();
    }

    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      return Combinators.combine(
              Arbitraries.integers().between(0, KEYS - 1), Arbitraries.of(world.running()))
          .as(
              (k, n) ->
                  Transformer.mutate(
                      (put ? "put " : "invalidate ") + key(k) + " via n" + n,
                      w -> w.write(k, n, put)));
    }
  }

  /** A get (with the loader) of a random key through a random running node. */
  static final class Read implements Action.Dependent<World> {
    @Override
    public boolean precondition(World world) {
      return !world.running().isEmpty();
    }

    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      return Combinators.combine(
              Arbitraries.integers().between(0, KEYS - 1), Arbitraries.of(world.running()))
          .as((k, n) -> Transformer.mutate("get " + key(k) + " via n" + n, w -> w.read(k, n)));
    }
  }

  /** Cuts a node's proxy: nobody reaches that node until it is healed. */
  static final class Cut implements Action.Dependent<World> {
    @Override
    public boolean precondition(World world) {
      return !world.notCut().isEmpty();
    }

    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      return Arbitraries.of(world.notCut())
          .map(i -> Transformer.mutate("cut n" + i, w -> w.cut(i)));
    }
  }

  static final class Heal implements Action.Dependent<World> {
    @Override
    public boolean precondition(World world) {
      return !world.cutNodes().isEmpty();
    }

    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      return Arbitraries.of(world.cutNodes())
          .map(i -> Transformer.mutate("heal n" + i, w -> w.heal(i)));
    }
  }

  /** Settles the cluster, then stops a node; only with no node stopped and no proxy cut. */
  static final class Stop implements Action.Dependent<World> {
    @Override
    public boolean precondition(World world) {
      return world.stoppedNodes().isEmpty() && world.cutNodes().isEmpty();
    }

    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      return Arbitraries.integers()
          .between(0, NODES - 1)
          .map(i -> Transformer.mutate("settle, stop n" + i, w -> w.stop(i)));
    }
  }

  static final class Restart implements Action.Dependent<World> {
    @Override
    public boolean precondition(World world) {
      return !world.stoppedNodes().isEmpty();
    }

    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      return Arbitraries.of(world.stoppedNodes())
          .map(i -> Transformer.mutate("restart n" + i, w -> w.restart(i)));
    }
  }

  static final class Pause implements Action.Independent<World> {
    @Override
    public Arbitrary<Transformer<World>> transformer() {
      return Arbitraries.frequency(Tuple.of(3, 30), Tuple.of(2, 500), Tuple.of(2, 2_000))
          .map(millis -> Transformer.mutate("pause " + millis + " ms", w -> w.pause(millis)));
    }
  }

  /** One rebalancing and anti-entropy pass on a running node, whatever the faults. */
  static final class Maintain implements Action.Dependent<World> {
    @Override
    public boolean precondition(World world) {
      return !world.running().isEmpty();
    }

    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      return Arbitraries.of(world.running())
          .map(i -> Transformer.mutate("maintain n" + i, w -> w.maintain(i)));
    }
  }

  /** A cache-wide clear through a random running node. */
  static final class InvalidateAll implements Action.Dependent<World> {
    @Override
    public boolean precondition(World world) {
      return !world.running().isEmpty();
    }

    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      return Arbitraries.of(world.running())
          .map(n -> Transformer.mutate("invalidateAll via n" + n, w -> w.invalidateAll(n)));
    }
  }

  /**
   * A put of a random key, sent by "a peer" to a random running node as a raw {@code Replicate},
   * stamped {@value #AHEAD_MILLIS} ms ahead, or an hour ahead when {@code far}.
   */
  static final class PutAhead implements Action.Dependent<World> {
    private final boolean far;

    PutAhead(boolean far) {
      this.far = far;
    }

    @Override
    public boolean precondition(World world) {
      return !world.running().isEmpty();
    }

    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      return Combinators.combine(
              Arbitraries.integers().between(0, KEYS - 1), Arbitraries.of(world.running()))
          .as(
              (k, n) ->
                  Transformer.mutate(
                      "put "
                          + key(k)
                          + (far ? " 1 h" : " " + AHEAD_MILLIS + " ms")
                          + " ahead to n"
                          + n,
                      w -> w.putAhead(k, n, far)));
    }
  }

  // ---------------------------------------------------------------- the world and its model

  enum Kind {
    PUT,
    INVALIDATE,
    LOAD,
    CLEAR,
    AHEAD
  }

  /**
   * One write as the test issued it, a load a read caused, or a clear (recorded for every key);
   * {@code value} null for an invalidate or a clear. Its version's physical part lies in [{@code
   * lo}, {@code hi}] (wall-clock milliseconds; see "What the model assumes").
   */
  record Issued(
      int seq, Kind kind, @Nullable String value, boolean acknowledged, long lo, long hi) {
    boolean load() {
      return kind == Kind.LOAD;
    }

    /** Whether this write's version is certainly higher than {@code other}'s. */
    boolean certainlySupersedes(Issued other) {
      return acknowledged && lo > other.hi;
    }

    String describe(long originMillis) {
      String what =
          switch (kind) {
            case PUT -> " put " + value;
            case INVALIDATE -> " invalidate";
            case LOAD -> " load " + value;
            case CLEAR -> " invalidateAll";
            case AHEAD -> " put ahead " + value;
          };
      return "w"
          + seq
          + what
          + (acknowledged ? " (ack" : " (maybe")
          + ", version in +"
          + (lo - originMillis)
          + (hi == lo ? "" : "..+" + (hi - originMillis))
          + " ms)";
    }
  }

  /** The cluster under test, what the test did to it, and the model of the writes. */
  static final class World implements AutoCloseable {
    final TestCluster cluster = TestClusters.replicated(NODES, REPLICATION_FACTOR, true, false);
    final boolean[] stopped = new boolean[NODES];
    final boolean[] cut = new boolean[NODES];
    final Map<String, List<Issued>> writes = new LinkedHashMap<>();
    final List<String> log = new ArrayList<>();
    final List<String> unexpectedFailures = new ArrayList<>();

    /** Values put far ahead: refused, they must never be held anywhere. */
    final List<String> refusedValues = new ArrayList<>();

    private final long startedNanos = System.nanoTime();
    private final long startedMillis = System.currentTimeMillis();
    private int seq;
    private long lastWriteEndNanos;

    /** The largest stamp (physical milliseconds) put ahead so far, accepted or not; 0 if none. */
    private long aheadCeilingMillis;

    private int clears;
    private int clearsUnconfirmed;
    private int putsAhead;
    private int putsFarAhead;
    private int stops;
    private int cuts;
    private int unacknowledged;
    private int reads;
    private int longPauses;

    World() {
      for (int k = 0; k < KEYS; k++) {
        writes.put(key(k), new ArrayList<>());
      }
    }

    List<Integer> running() {
      List<Integer> running = new ArrayList<>();
      for (int i = 0; i < NODES; i++) {
        if (!stopped[i]) {
          running.add(i);
        }
      }
      return running;
    }

    List<Integer> stoppedNodes() {
      List<Integer> nodes = new ArrayList<>();
      for (int i = 0; i < NODES; i++) {
        if (stopped[i]) {
          nodes.add(i);
        }
      }
      return nodes;
    }

    List<Integer> cutNodes() {
      List<Integer> nodes = new ArrayList<>();
      for (int i = 0; i < NODES; i++) {
        if (cut[i]) {
          nodes.add(i);
        }
      }
      return nodes;
    }

    List<Integer> notCut() {
      List<Integer> nodes = new ArrayList<>();
      for (int i = 0; i < NODES; i++) {
        if (!cut[i]) {
          nodes.add(i);
        }
      }
      return nodes;
    }

    void write(int k, int n, boolean put) {
      String key = key(k);
      spaceWrites();
      int id = ++seq;
      String value = put ? key + "=w" + id : null;
      boolean acknowledged;
      String outcome;
      long lo = System.currentTimeMillis();
      try {
        if (put) {
          cluster.cache(n).put(key, value);
        } else {
          cluster.cache(n).invalidate(key);
        }
        acknowledged = true;
        outcome = "ack";
      } catch (PeerUnavailableException e) {
        acknowledged = false;
        unacknowledged++;
        outcome = "PeerUnavailableException (maybe applied)";
      } catch (RuntimeException e) {
        acknowledged = false;
        unacknowledged++;
        outcome = e.getClass().getSimpleName() + ": " + e.getMessage() + " (maybe applied)";
        unexpectedFailures.add("w" + id + " via n" + n + ": " + e);
      }
      long hi = versionCeiling();
      lastWriteEndNanos = System.nanoTime();
      writes
          .get(key)
          .add(new Issued(id, put ? Kind.PUT : Kind.INVALIDATE, value, acknowledged, lo, hi));
      record(
          "w"
              + id
              + " "
              + (put ? "put " + value : "invalidate " + key)
              + " via n"
              + n
              + " -> "
              + outcome);
    }

    /**
     * A get through node n. A get that makes a node call its loader may store the loaded value as a
     * new version (when the loading node holds the key), so each load it caused is recorded as a
     * maybe-applied write of {@code "v(key)@node"}.
     */
    void read(int k, int n) {
      String key = key(k);
      spaceWrites(); // a stored load is versioned when it starts, like a write
      int[] loadsBefore = new int[NODES];
      for (int i = 0; i < NODES; i++) {
        loadsBefore[i] = loader(cluster, i).calls(key);
      }
      String outcome;
      long lo = System.currentTimeMillis();
      try {
        outcome = "read " + cluster.cache(n).get(key);
      } catch (RuntimeException e) {
        outcome = e.getClass().getSimpleName() + ": " + e.getMessage();
        unexpectedFailures.add("get " + key + " via n" + n + ": " + e);
      }
      long hi = versionCeiling();
      lastWriteEndNanos = System.nanoTime();
      for (int i = 0; i < NODES; i++) {
        if (loader(cluster, i).calls(key) > loadsBefore[i]) {
          int id = ++seq;
          String loaded = RecordingLoader.valueOf(key, cluster.node(i).address());
          writes.get(key).add(new Issued(id, Kind.LOAD, loaded, false, lo, hi));
          outcome += "; w" + id + " n" + i + " loaded " + loaded;
        }
      }
      reads++;
      record("get " + key + " via n" + n + " -> " + outcome);
    }

    /**
     * A clear through node n: a write of absence to every key. Acknowledged if it returned or threw
     * {@link PeerUnavailableException} (the members that did not confirm get it later); see the
     * class comment.
     */
    void invalidateAll(int n) {
      spaceWrites();
      int id = ++seq;
      boolean acknowledged;
      String outcome;
      long lo = System.currentTimeMillis();
      try {
        cluster.cache(n).invalidateAll();
        acknowledged = true;
        outcome = "ack";
      } catch (PeerUnavailableException e) {
        acknowledged = true;
        clearsUnconfirmed++;
        outcome = "PeerUnavailableException (applied; queued for the others): " + e.getMessage();
      } catch (RuntimeException e) {
        acknowledged = false;
        unacknowledged++;
        outcome = e.getClass().getSimpleName() + ": " + e.getMessage() + " (maybe applied)";
        unexpectedFailures.add("w" + id + " invalidateAll via n" + n + ": " + e);
      }
      long hi = versionCeiling();
      lastWriteEndNanos = System.nanoTime();
      for (List<Issued> issued : writes.values()) {
        issued.add(new Issued(id, Kind.CLEAR, null, acknowledged, lo, hi));
      }
      clears++;
      record("w" + id + " invalidateAll via n" + n + " -> " + outcome);
    }

    /**
     * Sends node n, as a peer would, a put of key k stamped {@value #AHEAD_MILLIS} ms ahead
     * (through n's proxy), or an hour ahead when {@code far} (straight to n's listen port).
     */
    void putAhead(int k, int n, boolean far) {
      String key = key(k);
      spaceWrites();
      int id = ++seq;
      String value = key + (far ? "=f" : "=a") + id;
      long stampMillis = System.currentTimeMillis() + (far ? FAR_AHEAD_MILLIS : AHEAD_MILLIS);
      String sender = cluster.node((n + 1) % NODES).address();
      VersionedEntry entry =
          VersionedEntry.newBuilder()
              .setKey(ByteString.copyFromUtf8(key))
              .setValue(ByteString.copyFromUtf8(value))
              .setTimestamp(HybridLogicalClock.pack(stampMillis, 0))
              .setWriter(Version.writerId(sender))
              .build();
      ReplicateRequest request =
          ReplicateRequest.newBuilder()
              .addBatches(CacheBatch.newBuilder().setCache(TestClusters.KV).addEntries(entry))
              .setCaller(sender)
              .build();
      String target = far ? "127.0.0.1:" + cluster.listenPort(n) : cluster.node(n).address();
      long refusedBefore = internals(cluster, n).futureVersionsRefused();
      Status status = replicate(target, request);
      lastWriteEndNanos = System.nanoTime();
      String outcome =
          status.getCode()
              + (status.getDescription() == null ? "" : ": " + status.getDescription());
      if (far) {
        putsFarAhead++;
        refusedValues.add(value);
        if (status.getCode() != Status.Code.INVALID_ARGUMENT) {
          unexpectedFailures.add(
              "w"
                  + id
                  + " put "
                  + value
                  + " 1 h ahead to n"
                  + n
                  + " was not refused with INVALID_ARGUMENT: "
                  + outcome);
        } else if (internals(cluster, n).futureVersionsRefused() <= refusedBefore) {
          unexpectedFailures.add(
              "w"
                  + id
                  + " put "
                  + value
                  + " 1 h ahead to n"
                  + n
                  + " was refused but not counted in futureVersionsRefused");
        }
        Versioned<String> held = internals(cluster, n).peek(key);
        if (held != null && value.equals(held.value())) {
          unexpectedFailures.add("w" + id + " put " + value + " 1 h ahead is held by n" + n);
        }
      } else {
        putsAhead++;
        aheadCeilingMillis = Math.max(aheadCeilingMillis, stampMillis);
        boolean acknowledged = status.isOk();
        if (!acknowledged) {
          unacknowledged++;
          if (status.getCode() != Status.Code.UNAVAILABLE || !cut[n]) {
            unexpectedFailures.add("w" + id + " put " + value + " ahead to n" + n + ": " + outcome);
          }
        }
        writes
            .get(key)
            .add(new Issued(id, Kind.AHEAD, value, acknowledged, stampMillis, stampMillis));
      }
      record(
          "w"
              + id
              + " put "
              + value
              + " stamped "
              + (far ? "1 h" : AHEAD_MILLIS + " ms")
              + " ahead (+"
              + (stampMillis - startedMillis)
              + " ms) to n"
              + n
              + (far ? " (listen port)" : "")
              + " -> "
              + outcome);
    }

    /**
     * Sends one {@code Replicate} on a channel of its own (no reconnect back-off carried over). The
     * deadline is generous, as the connection is set up within it: on a starved machine a late
     * arrival only means the stamp is less far ahead when checked, never a different rule.
     */
    private static Status replicate(String target, ReplicateRequest request) {
      HostPort address = HostPort.parse(target);
      ManagedChannel channel =
          Grpc.newChannelBuilderForAddress(
                  address.host(), address.port(), InsecureChannelCredentials.create())
              .build();
      try {
        PeerServiceGrpc.newBlockingStub(channel)
            .withDeadlineAfter(10, TimeUnit.SECONDS)
            .replicate(request);
        return Status.OK;
      } catch (StatusRuntimeException e) {
        return e.getStatus();
      } finally {
        channel.shutdownNow();
        try {
          channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }

    /**
     * The latest a write that returns now can be versioned: now, or the largest stamp put ahead so
     * far if that is later.
     */
    private long versionCeiling() {
      return Math.max(System.currentTimeMillis(), aheadCeilingMillis);
    }

    /** Leaves {@value #WRITE_SPACING_MILLIS} ms between writes; see the class comment. */
    private void spaceWrites() {
      long gap = lastWriteEndNanos + WRITE_SPACING_MILLIS * 1_000_000 - System.nanoTime();
      if (gap > 0) {
        sleepNanos(gap);
      }
    }

    void cut(int i) {
      cluster.proxy(i).cut();
      cut[i] = true;
      cuts++;
      record("cut n" + i);
    }

    void heal(int i) {
      cluster.proxy(i).heal();
      cut[i] = false;
      record("heal n" + i);
    }

    void stop(int i) {
      settle();
      cluster.stop(i);
      stopped[i] = true;
      stops++;
      record("settled; stop n" + i);
    }

    void restart(int i) {
      cluster.restart(i);
      stopped[i] = false;
      record("restart n" + i);
    }

    void pause(long millis) {
      sleepNanos(millis * 1_000_000);
      if (millis >= 2_000) {
        longPauses++;
      }
      record("pause " + millis + " ms; suspected " + suspicions());
    }

    void maintain(int i) {
      cluster.node(i).testHooks().maintainNow();
      record("maintain n" + i);
    }

    private void record(String entry) {
      log.add(String.format("%6d ms  %s", (System.nanoTime() - startedNanos) / 1_000_000, entry));
    }

    private String suspicions() {
      List<String> views = new ArrayList<>();
      for (int i = 0; i < NODES; i++) {
        if (!stopped[i]) {
          List<Integer> suspected = new ArrayList<>();
          for (String peer : cluster.node(i).suspectedPeers()) {
            suspected.add(cluster.indexOf(peer));
          }
          views.add("n" + i + ":" + suspected);
        }
      }
      return String.join(" ", views);
    }

    /** Heals every proxy, restarts every stopped node, and settles the cluster. */
    void repairEverything() {
      for (int i = 0; i < NODES; i++) {
        if (cut[i]) {
          heal(i);
        }
      }
      for (int i = 0; i < NODES; i++) {
        if (stopped[i]) {
          restart(i);
        }
      }
      settle();
      record("settled");
    }

    /**
     * Waits until every node runs, suspects no peer, reaches every peer, has the ring of all
     * members and an empty replication backlog; then runs two maintenance rounds on every node and
     * starts over if that left the cluster anything but healthy and quiet.
     */
    void settle() {
      for (int i = 0; i < NODES; i++) {
        if (stopped[i] || cut[i]) {
          throw new IllegalStateException("settle needs every node running and reachable");
        }
      }
      for (int attempt = 1; ; attempt++) {
        long deadline = System.nanoTime() + SETTLE_TIMEOUT.toNanos();
        while (!healthyAndQuiet()) {
          if (System.nanoTime() - deadline > 0) {
            throw new AssertionError(
                "the cluster did not settle within " + SETTLE_TIMEOUT + ": " + health() + report());
          }
          sleepNanos(20_000_000);
        }
        for (int round = 0; round < 2; round++) {
          for (int i = 0; i < NODES; i++) {
            cluster.node(i).testHooks().maintainNow();
          }
        }
        if (healthyAndQuiet()) {
          return;
        }
        if (attempt == 5) {
          throw new AssertionError(
              "the cluster kept changing while settling: " + health() + report());
        }
      }
    }

    private boolean healthyAndQuiet() {
      List<String> all = cluster.addresses();
      for (int i = 0; i < NODES; i++) {
        ShardcacheNode node = cluster.node(i);
        if (!node.isRunning()
            || !node.suspectedPeers().isEmpty()
            || node.peers().size() != NODES - 1
            || !node.reachablePeers().equals(node.peers())
            || node.ring().nodes().size() != NODES
            || !node.ring().nodes().containsAll(all)
            || node.replicationBacklog() != 0) {
          return false;
        }
      }
      return true;
    }

    private String health() {
      StringBuilder text = new StringBuilder();
      for (int i = 0; i < NODES; i++) {
        ShardcacheNode node = cluster.node(i);
        text.append("\n  n")
            .append(i)
            .append(' ')
            .append(node.isRunning() ? node.address() : "stopped");
        if (node.isRunning()) {
          text.append(" ring=")
              .append(node.ring().nodes())
              .append(" suspected=")
              .append(node.suspectedPeers())
              .append(" reachable=")
              .append(node.reachablePeers())
              .append(" backlog=")
              .append(node.replicationBacklog());
        }
      }
      return text.toString();
    }

    /** Checks the settled cluster against the model; see the class comment. */
    void check() {
      List<String> problems = new ArrayList<>(unexpectedFailures);
      HashRing ring = cluster.node(0).ring();
      for (int i = 1; i < NODES; i++) {
        if (!cluster.node(i).ring().nodes().equals(ring.nodes())) {
          problems.add(
              "n" + i + " has ring " + cluster.node(i).ring().nodes() + ", n0 has " + ring.nodes());
        }
      }
      for (Map.Entry<String, List<Issued>> entry : writes.entrySet()) {
        String key = entry.getKey();
        List<String> holders = ring.ownersOf(KeyHash.hash(key.getBytes(UTF_8)), REPLICATION_FACTOR);
        Versioned<String> first = copyOn(holders.get(0), key);
        for (String holder : holders.subList(1, holders.size())) {
          Versioned<String> other = copyOn(holder, key);
          if (!Objects.equals(
              first == null ? null : first.version(), other == null ? null : other.version())) {
            problems.add(
                key
                    + ": holders disagree: "
                    + describe(holders.get(0), first)
                    + " vs "
                    + describe(holder, other));
          }
        }
        String value = first == null || first.isTombstone() ? null : first.value();
        List<Issued> allowed = allowed(entry.getValue());
        boolean neverAcknowledged = entry.getValue().stream().noneMatch(Issued::acknowledged);
        boolean ok =
            value == null
                ? neverAcknowledged || allowed.stream().anyMatch(w -> w.value() == null)
                : allowed.stream().anyMatch(w -> value.equals(w.value()));
        if (!ok) {
          problems.add(
              key
                  + ": holder "
                  + describe(holders.get(0), first)
                  + " but the model allows "
                  + (allowed.isEmpty()
                      ? "only absence"
                      : allowed.stream().map(w -> w.describe(startedMillis)).toList()));
        }
        for (int i = 0; i < NODES; i++) {
          Versioned<String> copy = internals(cluster, i).peek(key);
          if (copy != null && refusedValues.contains(copy.value())) {
            problems.add(
                key + ": n" + i + " holds " + copy + ", which was put far ahead and refused");
          }
        }
        for (int i = 0; i < NODES; i++) {
          String read = cluster.cache(i).getIfPresent(key);
          if (!Objects.equals(read, value)) {
            problems.add(
                key
                    + ": getIfPresent through n"
                    + i
                    + " answers "
                    + read
                    + ", holders hold "
                    + value);
          }
        }
      }
      if (!problems.isEmpty()) {
        throw new AssertionError(
            problems.size() + " problem(s):\n  " + String.join("\n  ", problems) + report());
      }
    }

    /**
     * The writes no acknowledged write certainly supersedes; without puts ahead, the last
     * acknowledged write and the maybe-applied ones after it (all writes if none).
     */
    static List<Issued> allowed(List<Issued> issued) {
      List<Issued> allowed = new ArrayList<>();
      for (Issued write : issued) {
        if (issued.stream().noneMatch(other -> other.certainlySupersedes(write))) {
          allowed.add(write);
        }
      }
      return allowed;
    }

    private @Nullable Versioned<String> copyOn(String address, String key) {
      return internals(cluster, cluster.indexOf(address)).peek(key);
    }

    private String describe(String address, @Nullable Versioned<String> copy) {
      return "n" + cluster.indexOf(address) + " holds " + (copy == null ? "nothing" : copy);
    }

    /** The actions with their outcomes, the writes of each key and every node's copies. */
    String report() {
      StringBuilder text = new StringBuilder("\nactions:");
      for (String entry : log) {
        text.append("\n  ").append(entry);
      }
      text.append("\nwrites and copies (n0, n1, n2):");
      for (Map.Entry<String, List<Issued>> entry : writes.entrySet()) {
        text.append("\n  ")
            .append(entry.getKey())
            .append(": ")
            .append(entry.getValue().stream().map(w -> w.describe(startedMillis)).toList());
        for (int i = 0; i < NODES; i++) {
          ShardcacheNode node = cluster.node(i);
          text.append("\n      n")
              .append(i)
              .append(": ")
              .append(
                  node.isRunning()
                      ? String.valueOf(internals(cluster, i).peek(entry.getKey()))
                      : "stopped");
        }
      }
      return text.toString();
    }

    void collectStatistics() {
      Statistics.label("stops").collect(stops);
      Statistics.label("cuts").collect(Math.min(cuts, 3));
      Statistics.label("unacknowledged writes")
          .collect(unacknowledged == 0 ? "0" : unacknowledged <= 2 ? "1-2" : "3+");
      Statistics.label("2 s pauses").collect(Math.min(longPauses, 3));
      long loads = writes.values().stream().flatMap(List::stream).filter(Issued::load).count();
      Statistics.label("loads").collect(loads == 0 ? "0" : "1+");
      Statistics.label("invalidateAll").collect(Math.min(clears, 2));
      Statistics.label("invalidateAll not confirmed by every member")
          .collect(Math.min(clearsUnconfirmed, 2));
      Statistics.label("puts ahead (accepted or not)").collect(Math.min(putsAhead, 2));
      Statistics.label("puts far ahead").collect(Math.min(putsFarAhead, 2));
      System.out.printf(
          "convergence try: %d actions, %d writes (%d unacknowledged), %d reads"
              + " (%d loads), %d clears (%d unconfirmed), %d puts ahead, %d far ahead, %d stops,"
              + " %d cuts, %d long pauses, %d ms%n",
          log.size(),
          seq - loads - clears - putsAhead - putsFarAhead,
          unacknowledged,
          reads,
          loads,
          clears,
          clearsUnconfirmed,
          putsAhead,
          putsFarAhead,
          stops,
          cuts,
          longPauses,
          (System.nanoTime() - startedNanos) / 1_000_000);
    }

    @Override
    public void close() {
      cluster.close();
    }

    private static void sleepNanos(long nanos) {
      try {
        Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted", e);
      }
    }
  }
}
