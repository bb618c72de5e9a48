package dev.shardcache.jcache;

import static dev.shardcache.jcache.AtomicUpdate.done;
import static dev.shardcache.jcache.AtomicUpdate.retry;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shardcache.DistributedCache;
import dev.shardcache.PeerUnavailableException;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.cache.Cache;
import javax.cache.CacheException;
import javax.cache.expiry.EternalExpiryPolicy;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/**
 * The invariant of {@link AtomicUpdate}, against a scripted owner whose compare-and-set can lose to
 * a rival writer or fail: it retries only a lost compare-and-set, each time from a new read, at
 * most {@link AtomicUpdate#MAX_RETRIES} times, and never retries a failure of the core.
 */
class AtomicUpdateTest {
  private static final KeyBytes K = new KeyBytes(new byte[] {'S', 'k'});
  private static final long NOW = 1_000L;

  private final ObjectCodec codec = new ObjectCodec(List.of());
  private final ScriptedOwner owner = new ScriptedOwner();
  private final EntryStore<String, String> entries =
      new EntryStore<>(
          unusedCache(),
          "test",
          owner.proxy(),
          codec,
          String.class,
          String.class,
          new ExpiryTimes(new EternalExpiryPolicy()),
          new EventDispatcher<>(Runnable::run),
          new JCacheStatistics(() -> 0));
  private final AtomicUpdate<String, String> atomic = new AtomicUpdate<>(entries);

  @Test
  void aLostCompareAndSetIsRetriedFromANewRead() {
    owner.value = envelope("v0").raw();
    owner.rivalWins = 3;
    List<String> seen = new ArrayList<>();

    String answer =
        atomic.run(
            K,
            "k",
            NOW,
            entries.readLive(K, "k", NOW),
            (current, now) -> {
              seen.add(entries.decode(current));
              return entries.cas(K, current, envelope("mine")) ? done("won") : retry();
            });

    assertThat(answer).isEqualTo("won");
    // Each attempt decided from what the rival had just written, never from a stale read.
    assertThat(seen).containsExactly("v0", "rival-1", "rival-2", "rival-3");
    assertThat(owner.compareAndSets).isEqualTo(4);
    assertThat(entries.decode(Envelope.wrap(owner.value))).isEqualTo("mine");
  }

  @Test
  void anAnswerEndsTheLoopEvenAfterALostCompareAndSet() {
    owner.value = envelope("v0").raw();
    owner.rivalWins = 1;

    boolean answer =
        atomic.run(
            K,
            "k",
            NOW,
            entries.readLive(K, "k", NOW),
            (current, now) -> done(entries.cas(K, current, envelope("mine"))));

    assertThat(answer).isFalse();
    assertThat(owner.compareAndSets).isEqualTo(1);
  }

  @Test
  void aKeyThatNeverStopsChangingIsGivenUpAfterMaxRetries() {
    owner.value = envelope("v0").raw();
    owner.rivalWins = Integer.MAX_VALUE;

    assertThatThrownBy(
            () ->
                atomic.run(
                    K,
                    "k",
                    NOW,
                    entries.readLive(K, "k", NOW),
                    (current, now) ->
                        entries.cas(K, current, envelope("mine")) ? done("won") : retry()))
        .isInstanceOf(CacheException.class)
        .hasMessageContaining("giving up");
    assertThat(owner.compareAndSets).isEqualTo(AtomicUpdate.MAX_RETRIES + 1);
  }

  @Test
  void anUnreachableOwnerIsNotRetried() {
    owner.value = envelope("v0").raw();
    owner.failure = new PeerUnavailableException("10.0.0.9:7000", "owner down", null);
    int readsBefore = owner.reads;

    assertThatThrownBy(
            () ->
                atomic.run(
                    K,
                    "k",
                    NOW,
                    Envelope.wrap(owner.value),
                    (current, now) ->
                        entries.cas(K, current, envelope("mine")) ? done("won") : retry()))
        .isInstanceOf(CacheException.class)
        .hasCauseInstanceOf(PeerUnavailableException.class);
    assertThat(owner.compareAndSets).isEqualTo(1);
    assertThat(owner.reads).isEqualTo(readsBefore);
  }

  private Envelope envelope(String value) {
    return Envelope.of(Envelope.ETERNAL, codec.encode(value));
  }

  @SuppressWarnings("unchecked") // a proxy of the raw interface serves any type arguments
  private static Cache<String, String> unusedCache() {
    return (Cache<String, String>)
        Proxy.newProxyInstance(
            Cache.class.getClassLoader(),
            new Class<?>[] {Cache.class},
            (proxy, method, args) -> {
              throw new UnsupportedOperationException(method.getName());
            });
  }

  /**
   * The owner of the one key, as far as {@link EntryStore} asks it: reads return the stored bytes;
   * a compare-and-set first loses {@code rivalWins} times to a rival that writes a new value just
   * before it, or throws {@code failure}. A dynamic proxy, so that it answers only the calls these
   * tests make and keeps compiling as the core interface grows.
   */
  private static final class ScriptedOwner implements InvocationHandler {
    byte @Nullable [] value;
    int rivalWins;
    @Nullable RuntimeException failure;
    int reads;
    int compareAndSets;
    private int rivalWrites;
    private final ObjectCodec codec = new ObjectCodec(List.of());

    @SuppressWarnings("unchecked") // a proxy of the raw interface serves any type arguments
    DistributedCache<KeyBytes, byte[]> proxy() {
      return (DistributedCache<KeyBytes, byte[]>)
          Proxy.newProxyInstance(
              DistributedCache.class.getClassLoader(),
              new Class<?>[] {DistributedCache.class},
              this);
    }

    @Override
    public @Nullable Object invoke(Object proxy, Method method, @Nullable Object[] args) {
      switch (method.getName()) {
        case "getIfPresent":
          reads++;
          return value;
        case "compareAndSet":
          compareAndSets++;
          if (failure != null) {
            throw failure;
          }
          if (rivalWins > 0) {
            rivalWins--;
            value = Envelope.of(Envelope.ETERNAL, codec.encode("rival-" + ++rivalWrites)).raw();
            return false;
          }
          if (!Arrays.equals((byte[]) args[1], value)) {
            return false;
          }
          value = (byte[]) args[2];
          return true;
        default:
          throw new UnsupportedOperationException(method.getName());
      }
    }
  }
}
