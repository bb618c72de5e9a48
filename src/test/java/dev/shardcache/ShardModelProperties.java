package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shardcache.replication.HybridLogicalClock;
import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.state.Action;
import net.jqwik.api.state.ActionChain;
import net.jqwik.api.state.Transformer;
import net.jqwik.api.statistics.Statistics;
import org.jspecify.annotations.Nullable;

/**
 * The storage rules of one node, {@link Shard}, against a model small enough to be obviously right:
 * a map from key to the winning copy (value or tombstone) and the time of the last clear.
 *
 * <h2>The model</h2>
 *
 * A copy of a key is <em>live</em> if its timestamp is not before the clear time. Merging an
 * incoming copy keeps it if it is not before the clear and its version is higher than the key's
 * live copy (last writer wins; an equal version keeps what is held). A compare-and-set matches the
 * live value (null for none, a tombstone, or a cleared copy) and stores a copy newer than
 * everything, as the node's hybrid clock would stamp it. A clear only moves forward. {@code
 * removeIfUnchanged} forgets the key's copy if it is exactly the one given. Sizes, TTLs and
 * tombstone lifetimes are out of the model (a large {@code maximumSize}, no TTL, the default
 * 10-minute tombstone lifetime); size pressure and TTLs have properties of their own below. The
 * shard reads {@code System.currentTimeMillis()} for lifetimes, with no clock to inject, which is
 * why TTLs stay out of the random sequences.
 *
 * <p>Run time: 300 sequences of at most 40 steps, a few seconds.
 *
 * <h2>What the sequences contain</h2>
 *
 * Three keys. Merges of copies from three peer writers (ids of both signs, so the signed tie-break
 * is used), stamped relative to the newest timestamp the key has seen (or the clear time, if
 * later): one millisecond or one or two counter ticks older or newer, or the same timestamp, so
 * equal timestamps, equal versions, older and newer copies all occur in every run. A copy's
 * contents are a function of its key and version (a value, or a tombstone for about a third of the
 * versions): equal versions come from the same write, the assumption last writer wins rests on
 * ({@link Versioned}). Re-deliveries of copies merged or written before. Compare-and-sets expecting
 * the live value, another value or absence, writing a value or a tombstone under a fourth writer
 * id. Clears at a timestamp some copy has, one tick either side of it, or a millisecond after it.
 * {@code removeIfUnchanged} with the key's current copy or an earlier one. Sweeps.
 *
 * <h2>What is checked after every step</h2>
 *
 * For every key: {@code newest} is the model's live copy; {@code get} and {@code peek} answer the
 * live value (with the holdership memo of the write that stored it) and nothing for a tombstone;
 * nothing visible predates the clear; the version held never decreases (until {@code
 * removeIfUnchanged} drops it). {@code forEach} visits exactly the live copies, {@code liveCount}
 * counts the live values, {@code clearedBefore} is the model's clear. Each step also checks its own
 * answer: what {@code merge} returns, whether {@code compareAndSet} applied (and called its
 * supplier once exactly then), whether {@code clear} moved the clear time.
 */
class ShardModelProperties {

  static final List<String> KEYS = List.of("a", "b", "c");

  /** Writer ids of the peers whose copies are merged; both signs, as ids are signed. */
  static final List<Long> PEERS = List.of(-9L, 2L, 5L);

  /** The writer id of this node: compare-and-set stamps its writes with it. */
  static final long SELF = 7L;

  static final long BASE_MILLIS = 1_767_225_600_000L;
  static final long START = HybridLogicalClock.pack(BASE_MILLIS + 10, 0);
  static final long ONE_MILLI = 1L << HybridLogicalClock.LOGICAL_BITS;
  static final List<Integer> EPOCHS = List.of(-1, 0, 3);

  @Property(tries = 300)
  void theShardFollowsTheModel(@ForAll("sequences") ActionChain<World> chain) {
    chain.withInvariant("shard agrees with the model", World::check).run();
  }

  @Provide
  Arbitrary<ActionChain<World>> sequences() {
    return ActionChain.<World>startWith(World::new)
        .withAction(6, new Merge())
        .withAction(2, new Redeliver())
        .withAction(3, new CompareAndSet())
        .withAction(2, new Clear())
        .withAction(1, new RemoveIfUnchanged())
        .withAction(1, Action.just(Transformer.mutate("sweep", World::sweep)))
        .withMaxTransformations(40);
  }

  // ---------------------------------------------------------------- actions

  /** A peer's copy, stamped near the newest timestamp the key has seen. */
  static final class Merge implements Action.Dependent<World> {
    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      Arbitrary<Long> offsets = Arbitraries.of(-ONE_MILLI, -2L, -1L, 0L, 0L, 1L, 2L, ONE_MILLI);
      return Combinators.combine(
              Arbitraries.of(KEYS), offsets, Arbitraries.of(PEERS), Arbitraries.of(EPOCHS))
          .as(
              (key, offset, writer, epoch) -> {
                Versioned<String> copy =
                    theWriteOf(key, new Version(Math.max(0, world.anchor(key) + offset), writer));
                return Transformer.mutate(
                    "merge " + key + " " + describe(copy) + " epoch " + epoch,
                    w -> w.merge(key, copy, epoch));
              });
    }
  }

  /** A copy merged or written before, delivered again (a retry, a hint, anti-entropy). */
  static final class Redeliver implements Action.Dependent<World> {
    @Override
    public boolean precondition(World world) {
      return !world.delivered.isEmpty();
    }

    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      return Arbitraries.of(List.copyOf(world.delivered))
          .map(
              sent ->
                  Transformer.mutate(
                      "redeliver " + sent.key() + " " + describe(sent.copy()),
                      w -> w.merge(sent.key(), sent.copy(), -1)));
    }
  }

  enum Expect {
    CURRENT,
    OTHER,
    ABSENT
  }

  static final class CompareAndSet implements Action.Dependent<World> {
    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      return Combinators.combine(
              Arbitraries.of(KEYS),
              Arbitraries.of(Expect.class),
              Arbitraries.of(true, true, false),
              Arbitraries.of(EPOCHS))
          .as(
              (key, expect, putValue, epoch) ->
                  Transformer.mutate(
                      "compareAndSet "
                          + key
                          + " expecting "
                          + expect
                          + " -> "
                          + (putValue ? "value" : "tombstone")
                          + " epoch "
                          + epoch,
                      w -> w.compareAndSet(key, expect, putValue, epoch)));
    }
  }

  /** A clear at, just before, just after, or a millisecond after a timestamp some copy has. */
  static final class Clear implements Action.Dependent<World> {
    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      List<Long> seen = new ArrayList<>(world.timestamps);
      seen.add(world.clock);
      return Combinators.combine(Arbitraries.of(seen), Arbitraries.of(-1L, 0L, 1L, ONE_MILLI))
          .as(
              (at, offset) -> {
                long before = Math.max(1, at + offset);
                return Transformer.mutate("clear before " + describe(before), w -> w.clear(before));
              });
    }
  }

  /** Drops a key's copy if unchanged, as a rebalancing pass does after hand-off. */
  static final class RemoveIfUnchanged implements Action.Dependent<World> {
    @Override
    public boolean precondition(World world) {
      return !world.delivered.isEmpty();
    }

    @Override
    public Arbitrary<Transformer<World>> transformer(World world) {
      List<Sent> candidates = new ArrayList<>(world.delivered);
      for (String key : KEYS) {
        Versioned<String> live = world.live(key);
        if (live != null) {
          // the current copy, twice over: the case where the removal happens
          candidates.add(new Sent(key, live));
          candidates.add(new Sent(key, live));
        }
      }
      return Arbitraries.of(candidates)
          .map(
              sent ->
                  Transformer.mutate(
                      "removeIfUnchanged " + sent.key() + " " + describe(sent.copy()),
                      w -> w.removeIfUnchanged(sent.key(), sent.copy())));
    }
  }

  // ---------------------------------------------------------------- the shard and its model

  /** A copy of a key, as it was merged or written. */
  record Sent(String key, Versioned<String> copy) {}

  static final class World {
    final Shard<String, String> shard =
        new Shard<>(
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).maximumSize(10_000).build(),
            new CacheCounters());

    /** The winning copy of each key; a copy before {@link #clearedBefore} is dead. */
    final Map<String, Versioned<String>> model = new HashMap<>();

    /** The holdership memo the last stored value of each key was written with. */
    final Map<String, Integer> epochs = new HashMap<>();

    /** The highest version the shard held for each key since it was last dropped. */
    final Map<String, Version> floor = new HashMap<>();

    /** Every copy merged or written, for re-delivery and stale removals. */
    final List<Sent> delivered = new ArrayList<>();

    final List<Long> timestamps = new ArrayList<>();
    long clearedBefore;

    /** This node's hybrid clock: past every timestamp seen, as {@code observe} keeps it. */
    long clock = START;

    private int casWrites;

    /**
     * Where merges of {@code key} are stamped near: its newest timestamp seen (the clock if it has
     * none), or the clear time if that is later, so copies land on both sides of the clear.
     */
    long anchor(String key) {
      long newest = -1;
      for (Sent sent : delivered) {
        if (sent.key().equals(key)) {
          newest = Math.max(newest, sent.copy().version().timestamp());
        }
      }
      return Math.max(newest >= 0 ? newest : clock, clearedBefore);
    }

    @Nullable Versioned<String> live(String key) {
      Versioned<String> copy = model.get(key);
      return copy != null && copy.version().timestamp() >= clearedBefore ? copy : null;
    }

    private void saw(String key, Versioned<String> copy) {
      delivered.add(new Sent(key, copy));
      timestamps.add(copy.version().timestamp());
      clock = Math.max(clock, copy.version().timestamp());
    }

    void merge(String key, Versioned<String> copy, int epoch) {
      saw(key, copy);
      Versioned<String> held = live(key);
      String outcome;
      if (copy.version().timestamp() < clearedBefore) {
        outcome = "predates the clear";
      } else if (held == null || copy.version().isNewerThan(held.version())) {
        outcome = held == null ? "nothing held" : "newer";
        model.put(key, copy);
        if (!copy.isTombstone()) {
          epochs.put(key, epoch);
        }
      } else {
        outcome = held.version().equals(copy.version()) ? "same version" : "older";
      }
      if (held != null && copy.version().timestamp() == held.version().timestamp()) {
        outcome += ", same timestamp";
      }
      Statistics.label("merge").collect(outcome);

      Versioned<String> returned = shard.merge(key, copy, 0, epoch);
      assertThat(returned)
          .as("merge(%s, %s) answers the copy held afterwards", key, copy)
          .isEqualTo(live(key));
    }

    void compareAndSet(String key, Expect expect, boolean putValue, int epoch) {
      Versioned<String> held = live(key);
      String current = held == null ? null : held.value();
      String expected =
          switch (expect) {
            case CURRENT -> current;
            case OTHER -> "other";
            case ABSENT -> null;
          };
      boolean matches = expected == null ? current == null : expected.equals(current);
      clock = Math.max(clock, clearedBefore) + 1;
      Version version = new Version(clock, SELF);
      Versioned<String> next =
          putValue
              ? Versioned.of(key + "=cas" + (++casWrites), version)
              : Versioned.tombstone(version);
      Statistics.label("compareAndSet").collect(matches ? "applied" : "refused");

      AtomicInteger supplied = new AtomicInteger();
      Versioned<String> applied =
          shard.compareAndSet(
              key,
              value -> expected == null ? value == null : expected.equals(value),
              () -> {
                supplied.incrementAndGet();
                return next;
              },
              epoch);
      if (matches) {
        saw(key, next);
        model.put(key, next);
        if (putValue) {
          epochs.put(key, epoch);
        }
        assertThat(applied)
            .as("compareAndSet of %s expecting %s over %s", key, expected, held)
            .isEqualTo(next);
      } else {
        assertThat(applied)
            .as("compareAndSet of %s expecting %s over %s", key, expected, held)
            .isNull();
      }
      assertThat(supplied)
          .as("the new copy is made once exactly when it is stored")
          .hasValue(matches ? 1 : 0);
    }

    void clear(long before) {
      boolean moves = before > clearedBefore;
      Statistics.label("clear").collect(moves ? "moves the clear time" : "not after the last");
      if (moves) {
        clearedBefore = before;
        model.values().removeIf(copy -> copy.version().timestamp() < before);
      }
      clock = Math.max(clock, before);
      assertThat(shard.clear(before))
          .as("clear(%s) moves the clear time", describe(before))
          .isEqualTo(moves);
    }

    void removeIfUnchanged(String key, Versioned<String> copy) {
      if (copy.equals(model.get(key))) {
        model.remove(key);
        floor.remove(key);
      }
      shard.removeIfUnchanged(key, copy);
    }

    void sweep() {
      shard.sweep();
    }

    void check() {
      Map<String, Versioned<String>> liveCopies = new LinkedHashMap<>();
      long liveValues = 0;
      for (String key : KEYS) {
        Versioned<String> want = live(key);
        Versioned<String> newest = shard.newest(key);
        assertThat(newest).as("newest(%s)", key).isEqualTo(want);
        Shard.Held<String> got = shard.get(key);
        Shard.Held<String> peeked = shard.peek(key);
        if (want == null || want.isTombstone()) {
          assertThat(got).as("get(%s) with %s", key, want).isNull();
          assertThat(peeked).as("peek(%s) with %s", key, want).isNull();
        } else {
          assertThat(got).as("get(%s)", key).isNotNull();
          assertThat(got.entry).as("get(%s)", key).isEqualTo(want);
          assertThat(got.confirmedEpoch)
              .as("holdership memo of %s", key)
              .isEqualTo(epochs.get(key));
          assertThat(peeked).as("peek(%s)", key).isSameAs(got);
          liveValues++;
        }
        if (newest != null) {
          assertThat(newest.version().timestamp())
              .as("%s's copy against the clear", key)
              .isGreaterThanOrEqualTo(clearedBefore);
          Version previous = floor.get(key);
          if (previous != null) {
            assertThat(newest.version())
                .as("the version held for %s never decreases", key)
                .isGreaterThanOrEqualTo(previous);
          }
          floor.put(key, newest.version());
          liveCopies.put(key, newest);
        }
      }
      Map<String, Versioned<String>> visited = new LinkedHashMap<>();
      shard.forEach(
          (key, stored) -> {
            assertThat(visited.put(key, stored.entry())).as("forEach visits %s once", key).isNull();
            assertThat(stored.ageMillis()).as("age without a TTL").isZero();
          });
      assertThat(visited).as("forEach").isEqualTo(liveCopies);
      assertThat(shard.liveCount()).as("liveCount").isEqualTo(liveValues);
      assertThat(shard.clearedBefore()).as("clearedBefore").isEqualTo(clearedBefore);
    }
  }

  /** The one write with this version: a tombstone for about a third of the versions. */
  static Versioned<String> theWriteOf(String key, Version version) {
    int h = (key + "/" + version.timestamp() + "/" + version.writer()).hashCode();
    return Math.floorMod(h, 3) == 0
        ? Versioned.tombstone(version)
        : Versioned.of(key + "=" + describe(version.timestamp()) + "/" + version.writer(), version);
  }

  /** A timestamp as milliseconds since {@link #BASE_MILLIS}, a dot, and the counter. */
  static String describe(long timestamp) {
    return "t"
        + (HybridLogicalClock.physicalMillis(timestamp) - BASE_MILLIS)
        + "."
        + HybridLogicalClock.logical(timestamp);
  }

  static String describe(Versioned<String> copy) {
    return (copy.isTombstone() ? "tombstone" : "value")
        + "@"
        + describe(copy.version().timestamp())
        + "/"
        + copy.version().writer();
  }

  // ---------------------------------------------------------------- size pressure

  /** One step of a size-pressure run; victims are the keys that are deleted. */
  sealed interface Pressure permits Delete, StaleCopy, Revive, Fill {}

  /** A tombstone for victim {@code i}, newer than everything. */
  record Delete(int i) implements Pressure {}

  /** A value for victim {@code i}, {@code lag} ticks older than its newest copy. */
  record StaleCopy(int i, int lag) implements Pressure {}

  /** A value for victim {@code i}, newer than everything. */
  record Revive(int i) implements Pressure {}

  /** {@code count} values of fresh keys, newer than everything. */
  record Fill(int count) implements Pressure {}

  static final int VICTIMS = 8;
  static final int PRESSURE_BOUND = 50;

  @Provide
  Arbitrary<List<Pressure>> pressureRuns() {
    Arbitrary<Integer> victims = Arbitraries.integers().between(0, VICTIMS - 1);
    Arbitrary<Pressure> step =
        Arbitraries.frequencyOf(
            Tuple.of(4, victims.map(Delete::new)),
            Tuple.of(
                4,
                Combinators.combine(victims, Arbitraries.integers().between(1, 3))
                    .as(StaleCopy::new)),
            Tuple.of(1, victims.map(Revive::new)),
            Tuple.of(3, Arbitraries.integers().between(60, 600).map(Fill::new)));
    return step.list()
        .ofMinSize(3)
        .ofMaxSize(30)
        .filter(steps -> steps.stream().anyMatch(s -> s instanceof Fill));
  }

  /**
   * Deletes stick under size pressure: with {@code maximumSize(50)}, while thousands of other keys
   * are merged (and values evicted, asynchronously, by Caffeine), a key whose newest write is a
   * tombstone keeps reading as that tombstone, never as a value, and a value older than the
   * tombstone that arrives later is dropped. At the end, after a sweep, at most 50 values are held.
   *
   * <p>The rule is stated for keys whose newest write is a tombstone. A tombstone superseded by a
   * newer value is dropped with it (the value now carries the key's version); once that value is
   * evicted, nothing remembers either version. That is the general rule of a size-bounded cache (an
   * evicted value's version is forgotten), not a delete that failed to stick, so it is not checked
   * here.
   */
  @Property(tries = 60)
  void tombstonesSurviveSizePressure(@ForAll("pressureRuns") List<Pressure> steps) {
    CacheCounters counters = new CacheCounters();
    Shard<String, String> shard =
        new Shard<>(
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).maximumSize(PRESSURE_BOUND).build(),
            counters);
    Map<String, Versioned<String>> newestWrite = new HashMap<>();
    long clock = START;
    int fillers = 0;
    for (Pressure step : steps) {
      if (step instanceof Delete d) {
        Versioned<String> tombstone = Versioned.tombstone(new Version(++clock, PEERS.get(0)));
        newestWrite.put(victim(d.i()), tombstone);
        assertThat(shard.merge(victim(d.i()), tombstone, 0, -1)).isEqualTo(tombstone);
      } else if (step instanceof Revive r) {
        Versioned<String> value = Versioned.of("revived", new Version(++clock, PEERS.get(1)));
        newestWrite.put(victim(r.i()), value);
        assertThat(shard.merge(victim(r.i()), value, 0, -1)).isEqualTo(value);
      } else if (step instanceof StaleCopy s) {
        Versioned<String> newest = newestWrite.get(victim(s.i()));
        long at = (newest == null ? START : newest.version().timestamp()) - s.lag();
        Versioned<String> stale = Versioned.of("stale", new Version(at, PEERS.get(2)));
        Versioned<String> kept = shard.merge(victim(s.i()), stale, 0, -1);
        if (newest != null && newest.isTombstone()) {
          assertThat(kept).as("a value older than %s's tombstone", victim(s.i())).isEqualTo(newest);
        }
      } else if (step instanceof Fill f) {
        for (int n = 0; n < f.count(); n++) {
          shard.merge("filler" + (fillers++), Versioned.of("x", new Version(++clock, SELF)), 0, -1);
        }
      }
      checkTombstones(shard, newestWrite);
    }
    shard.sweep();
    checkTombstones(shard, newestWrite);
    assertThat(shard.liveCount())
        .as("values held after a sweep")
        .isLessThanOrEqualTo(PRESSURE_BOUND);
    assertThat(counters.evictions.sum()).as("values evicted").isPositive();
    Statistics.label("values merged")
        .collect(fillers < 200 ? "<200" : fillers < 1000 ? "<1000" : "1000+");
  }

  private static String victim(int i) {
    return "victim" + i;
  }

  private static void checkTombstones(
      Shard<String, String> shard, Map<String, Versioned<String>> newestWrite) {
    newestWrite.forEach(
        (key, newest) -> {
          if (newest.isTombstone()) {
            assertThat(shard.newest(key)).as("newest(%s)", key).isEqualTo(newest);
            assertThat(shard.get(key)).as("get(%s)", key).isNull();
          }
        });
  }

  // ---------------------------------------------------------------- lifetimes

  static final Duration TTL = Duration.ofMillis(200);

  /**
   * A copy's lifetime counts from when this node stored it, less the age the sender reported: a
   * copy that arrives 180 ms into a 200 ms TTL expires about 20 ms later, a fresh one after the
   * whole TTL, and one that arrives past its TTL is never visible. Expired values are absent to
   * {@code compareAndSet} too.
   *
   * <p>Nothing here depends on this thread running promptly on a loaded machine: the expiry times
   * are compared as stored, the waits have loose upper bounds (1 s), the fresh copy is checked to
   * live at least its TTL (a lower bound a stall cannot break), and "the fresh copy is still live
   * when the old one is gone" is asserted only if that moment came before the fresh copy's TTL.
   */
  @Example
  void aCopyMergedWithItsAgeExpiresSoonerThanAFreshOne() {
    Shard<String, String> shard =
        new Shard<>(
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).expireAfterWrite(TTL).build(),
            new CacheCounters());
    long ttl = TTL.toMillis();
    Versioned<String> old = Versioned.of("old", new Version(START, PEERS.get(0)));
    Versioned<String> fresh = Versioned.of("fresh", new Version(START + 1, PEERS.get(0)));
    Versioned<String> expired = Versioned.of("expired", new Version(START + 2, PEERS.get(0)));

    long startNanos = System.nanoTime();
    shard.merge("old", old, ttl - 20, -1); // first: its expiry can then be compared exactly
    shard.merge("fresh", fresh, 0, -1);
    shard.merge("expired", expired, ttl + 50, -1);
    Shard.Held<String> oldHeld = shard.peek("old");
    Shard.Held<String> freshHeld = shard.peek("fresh");
    boolean early = System.nanoTime() - startNanos < TTL.minusMillis(10).toNanos();

    assertThat(shard.peek("expired")).as("a copy older than the TTL").isNull();
    assertThat(shard.newest("expired")).isNull();
    if (early) {
      assertThat(freshHeld).as("the fresh copy, right after it was merged").isNotNull();
    }
    if (oldHeld != null && freshHeld != null) { // the old one may be gone already after 20 ms
      assertThat(oldHeld.expiresAtMillis)
          .as("the old copy's expiry, against the fresh one's")
          .isLessThanOrEqualTo(freshHeld.expiresAtMillis - (ttl - 20));
      assertThat(shard.ageMillis(oldHeld))
          .as("the old copy's age")
          .isGreaterThanOrEqualTo(ttl - 20);
    }

    await()
        .atMost(Duration.ofSeconds(1))
        .pollInterval(Duration.ofMillis(5))
        .until(() -> shard.get("old") == null);
    boolean freshLive = shard.get("fresh") != null;
    if (System.nanoTime() - startNanos < TTL.minusMillis(10).toNanos()) {
      assertThat(freshLive).as("the fresh copy, when the old one has expired").isTrue();
    }
    assertThat(shard.newest("old")).isNull();
    assertThat(
            shard.compareAndSet(
                "old",
                value -> value == null,
                () -> Versioned.of("replaced", new Version(START + 3, PEERS.get(0))),
                -1))
        .as("an expired value is absent to compareAndSet")
        .isNotNull();

    await()
        .atMost(Duration.ofSeconds(1))
        .pollInterval(Duration.ofMillis(5))
        .until(() -> shard.get("fresh") == null);
    assertThat(Duration.ofNanos(System.nanoTime() - startNanos))
        .as("a fresh copy lives its whole TTL (to the clock's millisecond)")
        .isGreaterThanOrEqualTo(TTL.minusMillis(2));
  }
}
