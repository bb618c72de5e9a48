package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shardcache.replication.Version;
import dev.shardcache.replication.Versioned;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.statistics.Statistics;

/**
 * The conditional apply of a refresh, {@link Shard#replaceIfVersion}: <b>a refresh never replaces a
 * newer write</b>, and a refresh nothing interfered with is stored.
 *
 * <p>Random sequences on one key of: writes (values and tombstones) from three peers, stamped a few
 * ticks either side of the newest timestamp the node has seen, so older, equal and newer versions
 * all occur; compare-and-sets of this node; clears around the newest timestamp; refreshes that
 * start from the live value (remembering its version, and stamped, as the node's hybrid clock
 * would, later than everything seen) and are applied later, in any order, several of them
 * overlapping. A refresh is <em>interfered with</em> when anything changed what the node holds for
 * the key after it started: a write stored, a compare-and-set, a clear that killed the value,
 * another refresh stored.
 *
 * <p>Checked at each apply: an interfered refresh stores nothing and leaves the key's newest entry
 * exactly as it was; any other is stored and is then the key's newest entry. Run time: 500
 * sequences of at most 40 steps, a second or two.
 */
class ShardRefreshProperties {
  private static final String KEY = "k";
  private static final long START = 1_000_000;

  /** This node's writer id; the peers' ids have both signs, as ids are signed. */
  private static final long SELF = 3;

  private static final List<Long> PEERS = List.of(-9L, 2L, 5L);

  sealed interface Step permits Write, CompareAndSet, Clear, StartRefresh, ApplyRefresh {}

  /** A peer's copy, stamped {@code delta} ticks from the newest timestamp seen. */
  record Write(int delta, long writer) implements Step {}

  /** This node's compare-and-set of whatever is held. */
  record CompareAndSet() implements Step {}

  /** A clear at {@code delta} ticks from the newest timestamp seen. */
  record Clear(int delta) implements Step {}

  record StartRefresh() implements Step {}

  /** Applies the refresh at {@code pick} (modulo the number pending). */
  record ApplyRefresh(int pick) implements Step {}

  /** A refresh started and not yet applied. */
  private static final class Pending {
    final Version from;
    final Version stamp;
    boolean interfered;

    Pending(Version from, Version stamp) {
      this.from = from;
      this.stamp = stamp;
    }
  }

  @Property(tries = 500)
  void aRefreshIsStoredExactlyWhenNothingChangedTheKeySinceItStarted(
      @ForAll("steps") List<Step> steps) {
    Shard<String, String> shard =
        new Shard<>(
            CacheConfig.builder(Codecs.utf8(), Codecs.utf8()).maximumSize(100).build(),
            new CacheCounters());
    long[] clock = {START}; // the newest timestamp this node has seen or issued
    List<Pending> pending = new ArrayList<>();
    for (Step step : steps) {
      Versioned<String> before = shard.newest(KEY);
      if (step instanceof Write write) {
        long timestamp = Math.max(1, clock[0] + write.delta());
        clock[0] = Math.max(clock[0], timestamp);
        shard.merge(KEY, copyOf(new Version(timestamp, write.writer())), 0, -1);
      } else if (step instanceof CompareAndSet) {
        shard.compareAndSet(
            KEY, value -> true, () -> Versioned.of("cas", new Version(++clock[0], SELF)), -1);
      } else if (step instanceof Clear clear) {
        shard.clear(Math.max(1, clock[0] + clear.delta()));
      } else if (step instanceof StartRefresh) {
        Shard.Held<String> held = shard.peek(KEY);
        if (held != null) { // a refresh starts from a live value only
          pending.add(new Pending(held.entry.version(), new Version(++clock[0], SELF)));
        }
      } else if (step instanceof ApplyRefresh apply && !pending.isEmpty()) {
        Pending refresh = pending.remove(Math.floorMod(apply.pick(), pending.size()));
        Versioned<String> reloaded = Versioned.of("reloaded", refresh.stamp);
        Versioned<String> stored = shard.replaceIfVersion(KEY, refresh.from, reloaded, -1);
        Versioned<String> after = shard.newest(KEY);
        Statistics.collect(refresh.interfered ? "interfered" : "clean");
        if (refresh.interfered) {
          assertThat(stored).as("a refresh after a change of the key").isNull();
          assertThat(after).as("the key after a refused refresh").isEqualTo(before);
        } else {
          assertThat(stored).as("a refresh nothing interfered with").isEqualTo(reloaded);
          assertThat(after).as("the key after a stored refresh").isEqualTo(reloaded);
        }
      }
      if (!Objects.equals(before, shard.newest(KEY))) {
        pending.forEach(refresh -> refresh.interfered = true);
      }
    }
  }

  /** A copy whose content is a function of its version, as last writer wins assumes. */
  private static Versioned<String> copyOf(Version version) {
    return Math.floorMod(version.timestamp() + version.writer(), 3) == 0
        ? Versioned.tombstone(version)
        : Versioned.of("w" + version.timestamp() + "@" + version.writer(), version);
  }

  @Provide
  Arbitrary<List<Step>> steps() {
    Arbitrary<Step> writes =
        Arbitraries.integers()
            .between(-3, 3)
            .flatMap(delta -> Arbitraries.of(PEERS).map(writer -> new Write(delta, writer)));
    Arbitrary<Step> step =
        Arbitraries.frequencyOf(
            Tuple.of(5, writes),
            Tuple.of(1, Arbitraries.just(new CompareAndSet())),
            Tuple.of(1, Arbitraries.integers().between(-3, 1).map(Clear::new)),
            Tuple.of(4, Arbitraries.just(new StartRefresh())),
            Tuple.of(4, Arbitraries.integers().between(0, 3).map(ApplyRefresh::new)));
    return step.list().ofMaxSize(40);
  }
}
