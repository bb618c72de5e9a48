package dev.shardcache.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.common.net.InetAddresses;
import dev.shardcache.ShardcacheNode;
import java.io.UncheckedIOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.assertj.core.api.InstanceOfAssertFactories;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * DNS discovery with a fake resolver: no lookup here goes to a DNS server (the one test of the
 * default resolver asks for "localhost"). Most tests call {@code poll()} directly, one lookup at a
 * time; the lifecycle tests run the real scheduler with a short interval.
 */
class DnsDiscoveryTest {
  private static final String NAME = "shardcache.test-ns.svc.cluster.local";

  /** A resolver whose answer (or failure) the test sets, counting its calls. */
  static final class FakeResolver {
    final AtomicReference<Object> answer = new AtomicReference<>(List.of());
    final AtomicInteger calls = new AtomicInteger();

    void answer(String... addresses) {
      answer.set(Arrays.stream(addresses).map(InetAddresses::forString).toList());
    }

    void fail() {
      answer.set(
          new UncheckedIOException(new UnknownHostException(NAME + ": Name or service not known")));
    }

    @SuppressWarnings("unchecked")
    List<InetAddress> resolve(String name) {
      assertThat(name).isEqualTo(NAME);
      calls.incrementAndGet();
      Object current = answer.get();
      if (current instanceof RuntimeException e) {
        throw e;
      }
      return (List<InetAddress>) current;
    }
  }

  private final FakeResolver resolver = new FakeResolver();
  private final List<List<String>> reported = new CopyOnWriteArrayList<>();
  private final List<LogRecord> logged = new CopyOnWriteArrayList<>();
  private final Logger logger = Logger.getLogger(DnsDiscovery.class.getName());
  private final Handler handler =
      new Handler() {
        @Override
        public void publish(LogRecord record) {
          logged.add(record);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
      };

  @BeforeEach
  void captureLogs() {
    logger.addHandler(handler);
  }

  @AfterEach
  void releaseLogs() {
    logger.removeHandler(handler);
  }

  private DnsDiscovery.Builder discovery() {
    return DnsDiscovery.builder()
        .name(NAME)
        .port(7070)
        .resolver(resolver::resolve)
        .onChange(reported::add);
  }

  private List<String> messages(Level level) {
    return logged.stream()
        .filter(r -> level.equals(r.getLevel()))
        .map(
            r ->
                r.getParameters() == null || r.getParameters().length == 0
                    ? r.getMessage()
                    : java.text.MessageFormat.format(r.getMessage(), r.getParameters()))
        .toList();
  }

  @Test
  void reportsTheSortedMembersWithTheirPortOnlyWhenTheSetChanges() {
    DnsDiscovery discovery = discovery().build();
    resolver.answer("10.0.0.2", "10.0.0.1");
    discovery.poll();
    assertThat(reported).containsExactly(List.of("10.0.0.1:7070", "10.0.0.2:7070"));
    assertThat(discovery.members()).containsExactly("10.0.0.1:7070", "10.0.0.2:7070");

    resolver.answer("10.0.0.1", "10.0.0.2", "10.0.0.1"); // same set: other order, a duplicate
    discovery.poll();
    assertThat(reported).hasSize(1);

    resolver.answer("10.0.0.3", "10.0.0.1"); // one left, one joined
    discovery.poll();
    assertThat(reported)
        .containsExactly(
            List.of("10.0.0.1:7070", "10.0.0.2:7070"), List.of("10.0.0.1:7070", "10.0.0.3:7070"));
    assertThat(resolver.calls).hasValue(3);
    assertThat(messages(Level.INFO))
        .containsExactly(
            "DNS discovery: " + NAME + " now resolves to 2 members [10.0.0.1:7070, 10.0.0.2:7070]",
            "DNS discovery: " + NAME + " now resolves to 2 members [10.0.0.1:7070, 10.0.0.3:7070]");
  }

  @Test
  void aFailedLookupKeepsTheLastMembersAndIsLoggedOncePerChangeOfCondition() {
    DnsDiscovery discovery = discovery().build();
    resolver.answer("10.0.0.1", "10.0.0.2");
    discovery.poll();
    resolver.fail();
    for (int i = 0; i < 5; i++) {
      discovery.poll();
    }
    assertThat(reported).hasSize(1);
    assertThat(discovery.members()).containsExactly("10.0.0.1:7070", "10.0.0.2:7070");
    assertThat(messages(Level.WARNING))
        .containsExactly(
            "DNS discovery: cannot resolve "
                + NAME
                + " (java.net.UnknownHostException: "
                + NAME
                + ": Name or service not known); keeping the"
                + " last members [10.0.0.1:7070, 10.0.0.2:7070]");

    resolver.answer("10.0.0.1", "10.0.0.2"); // back, unchanged: nothing to report
    discovery.poll();
    discovery.poll();
    assertThat(reported).hasSize(1);
    assertThat(messages(Level.INFO)).endsWith("DNS discovery: " + NAME + " resolves again");

    resolver.fail(); // failing again is a new change of condition
    discovery.poll();
    assertThat(messages(Level.WARNING)).hasSize(2);
  }

  @Test
  void anEmptyAnswerKeepsTheLastMembers() {
    DnsDiscovery discovery = discovery().build();
    resolver.answer("10.0.0.1");
    discovery.poll();
    resolver.answer();
    discovery.poll();
    discovery.poll();
    resolver.answer.set(null); // a resolver breaking its contract counts as empty too
    discovery.poll();
    assertThat(reported).containsExactly(List.of("10.0.0.1:7070"));
    assertThat(discovery.members()).containsExactly("10.0.0.1:7070");
    assertThat(messages(Level.WARNING))
        .containsExactly(
            "DNS discovery: "
                + NAME
                + " resolved to no address; keeping the last members [10.0.0.1:7070]");
  }

  @Test
  void aFailureBeforeAnySuccessReportsNothing() {
    DnsDiscovery discovery = discovery().build();
    resolver.fail();
    discovery.poll();
    assertThat(reported).isEmpty();
    assertThat(discovery.members()).isEmpty();
    assertThat(messages(Level.WARNING))
        .singleElement()
        .asString()
        .endsWith("; no members known yet");
  }

  @Test
  void ipv6AddressesAreBracketedInTheirShortestForm() throws Exception {
    DnsDiscovery discovery = discovery().build();
    InetAddress scoped =
        Inet6Address.getByAddress(
            null, InetAddresses.forString("fe80::1").getAddress(), 3); // fe80::1%3
    resolver.answer.set(
        List.of(
            InetAddresses.forString("fd00:0:0:0:0:0:0:a"),
            InetAddresses.forString("2001:db8::1"),
            InetAddresses.forString("10.1.2.3"),
            scoped));
    discovery.poll();
    assertThat(reported)
        .containsExactly(
            // a link-local address keeps its scope: it cannot be reached without it
            List.of("10.1.2.3:7070", "[2001:db8::1]:7070", "[fd00::a]:7070", "[fe80::1%3]:7070"));
  }

  @Test
  void aThrowingCallbackIsOfferedTheSameListAgain() {
    AtomicInteger attempts = new AtomicInteger();
    DnsDiscovery discovery =
        DnsDiscovery.builder()
            .name(NAME)
            .port(7070)
            .resolver(resolver::resolve)
            .onChange(
                members -> {
                  if (attempts.incrementAndGet() <= 2) {
                    throw new IllegalStateException("node is not running");
                  }
                  reported.add(members);
                })
            .build();
    resolver.answer("10.0.0.1");
    discovery.poll();
    discovery.poll();
    assertThat(discovery.members()).isEmpty();
    assertThat(messages(Level.WARNING)).hasSize(1);
    assertThat(logged.get(0).getThrown()).hasMessage("node is not running");
    discovery.poll();
    assertThat(reported).containsExactly(List.of("10.0.0.1:7070"));
    assertThat(discovery.members()).containsExactly("10.0.0.1:7070");
    assertThat(messages(Level.INFO))
        .startsWith("DNS discovery: the callback accepts the members of " + NAME + " again");
  }

  @Test
  void startPollsAtOnceThenEveryIntervalAndCloseStopsPolling() throws Exception {
    resolver.answer("10.0.0.1");
    DnsDiscovery discovery = discovery().interval(Duration.ofMillis(20)).build().start();
    assertThat(discovery.isRunning()).isTrue();
    await().atMost(Duration.ofSeconds(10)).until(() -> resolver.calls.get() >= 5);
    assertThat(reported).containsExactly(List.of("10.0.0.1:7070"));
    resolver.answer("10.0.0.1", "10.0.0.2");
    await().atMost(Duration.ofSeconds(10)).until(() -> reported.size() == 2);
    assertThat(threadAlive("shardcache-dns-" + NAME)).isTrue();

    discovery.close();
    int callsAtClose = resolver.calls.get();
    resolver.answer("10.0.0.9");
    Thread.sleep(200); // ten intervals
    assertThat(resolver.calls).hasValue(callsAtClose);
    assertThat(reported).hasSize(2);
    assertThat(threadAlive("shardcache-dns-" + NAME)).isFalse();
    assertThat(discovery.isRunning()).isFalse();

    discovery.close(); // idempotent
    assertThatThrownBy(discovery::start)
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("DNS discovery of " + NAME + " was already closed");
  }

  @Test
  void closeWaitsForALookupInProgressAndDropsItsResult() throws Exception {
    CountDownLatch inLookup = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    DnsDiscovery discovery =
        DnsDiscovery.builder()
            .name(NAME)
            .port(7070)
            .resolver(
                name -> {
                  inLookup.countDown();
                  try {
                    release.await();
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                  return List.of(InetAddresses.forString("10.0.0.1"));
                })
            .onChange(reported::add)
            .build()
            .start();
    assertThat(inLookup.await(10, TimeUnit.SECONDS)).isTrue();
    Thread releaser =
        new Thread(
            () -> {
              try {
                Thread.sleep(200);
              } catch (InterruptedException e) {
                return;
              }
              release.countDown();
            });
    releaser.start();
    long started = System.nanoTime();
    discovery.close();
    assertThat(Duration.ofNanos(System.nanoTime() - started))
        .isBetween(Duration.ofMillis(150), Duration.ofSeconds(5));
    assertThat(reported).isEmpty();
    assertThat(threadAlive("shardcache-dns-" + NAME)).isFalse();
    releaser.join();
  }

  @Test
  void closeFromTheCallbackReturnsAtOnce() {
    AtomicReference<DnsDiscovery> self = new AtomicReference<>();
    CountDownLatch closed = new CountDownLatch(1);
    resolver.answer("10.0.0.1");
    DnsDiscovery discovery =
        DnsDiscovery.builder()
            .name(NAME)
            .port(7070)
            .resolver(resolver::resolve)
            .interval(Duration.ofMillis(10))
            .onChange(
                members -> {
                  self.get().close();
                  closed.countDown();
                })
            .build();
    self.set(discovery);
    discovery.start();
    await().atMost(Duration.ofSeconds(3)).until(() -> closed.getCount() == 0);
    assertThat(discovery.isRunning()).isFalse();
    await().atMost(Duration.ofSeconds(3)).until(() -> !threadAlive("shardcache-dns-" + NAME));
  }

  @Test
  void theDefaultResolverResolvesLocalhost() {
    DnsDiscovery discovery =
        DnsDiscovery.builder().name("localhost").port(7070).onChange(reported::add).build();
    discovery.poll();
    assertThat(reported)
        .singleElement(InstanceOfAssertFactories.list(String.class))
        .isNotEmpty()
        .allMatch(member -> member.equals("127.0.0.1:7070") || member.equals("[::1]:7070"));
  }

  @Test
  void feedsARunningNodesMembership() throws Exception {
    try (ShardcacheNode node = ShardcacheNode.builder().listen("127.0.0.1", 0).build().start()) {
      int port = Integer.parseInt(node.address().substring(node.address().lastIndexOf(':') + 1));
      DnsDiscovery discovery =
          DnsDiscovery.builder()
              .name(NAME)
              .port(port)
              .resolver(resolver::resolve)
              .onChange(node::setPeers)
              .build();
      // the node itself is listed too; the others are loopback addresses nobody listens on
      resolver.answer("127.0.0.1", "127.0.0.2", "127.0.0.3");
      discovery.poll();
      assertThat(node.peers()).containsExactly("127.0.0.2:" + port, "127.0.0.3:" + port);
      resolver.answer("127.0.0.1", "127.0.0.3");
      discovery.poll();
      assertThat(node.peers()).containsExactly("127.0.0.3:" + port);
      discovery.close();
    }
  }

  @Test
  void theBuilderValidatesAndNamesWhatIsMissing() {
    assertThatThrownBy(() -> DnsDiscovery.builder().port(7070).onChange(reported::add).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("name(...) is required");
    assertThatThrownBy(() -> DnsDiscovery.builder().name(NAME).onChange(reported::add).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("port(...) is required");
    assertThatThrownBy(() -> DnsDiscovery.builder().name(NAME).port(7070).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("onChange(...) is required");
    assertThatThrownBy(() -> DnsDiscovery.builder().name(" "))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("name must not be blank");
    assertThatThrownBy(() -> DnsDiscovery.builder().name(NAME + ":7070"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("must be a DNS name alone")
        .hasMessageContaining("port(...)");
    assertThatThrownBy(() -> DnsDiscovery.builder().port(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("port must be in [1, 65535], got 0");
    assertThatThrownBy(() -> DnsDiscovery.builder().interval(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("interval must be positive and at most a day, got PT0S");
    assertThatThrownBy(() -> DnsDiscovery.builder().name(NAME).name("other"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("name was already set to " + NAME);
    assertThatThrownBy(() -> DnsDiscovery.builder().port(1).port(2))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("port was already set to 1");
    assertThatThrownBy(() -> DnsDiscovery.builder().resolver(null))
        .isInstanceOf(NullPointerException.class);
    DnsDiscovery started = discovery().build().start();
    try {
      assertThatThrownBy(started::start)
          .isInstanceOf(IllegalStateException.class)
          .hasMessage("DNS discovery of " + NAME + " was already started");
    } finally {
      started.close();
    }
    assertThat(DnsDiscovery.builder().name("::1").port(1).onChange(reported::add).build().name())
        .isEqualTo("::1");
  }

  private static boolean threadAlive(String name) {
    List<Thread> threads = new ArrayList<>(Thread.getAllStackTraces().keySet());
    return threads.stream().anyMatch(t -> t.getName().equals(name) && t.isAlive());
  }
}
