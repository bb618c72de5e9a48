package dev.shardcache.jcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.Test;

class ManagerSettingsTest {

  @Test
  void theDefaultUriIsANodeAloneOnLoopback() {
    ManagerSettings settings =
        ManagerSettings.from(URI.create("shardcache:default"), new Properties());
    assertThat(settings.listenHost()).isEqualTo("127.0.0.1");
    assertThat(settings.listenPort()).isZero();
    assertThat(settings.peers()).isEmpty();
    assertThat(settings.advertiseHost()).isNull();
  }

  @Test
  void aUriGivesListenAddressPeersAndAdvertisedHost() {
    ManagerSettings settings =
        ManagerSettings.from(
            URI.create("shardcache://0.0.0.0:7070?peers=a:7070,b:7070&advertiseHost=a"),
            new Properties());
    assertThat(settings.listenHost()).isEqualTo("0.0.0.0");
    assertThat(settings.listenPort()).isEqualTo(7070);
    assertThat(settings.peers()).isEqualTo(List.of("a:7070", "b:7070"));
    assertThat(settings.advertiseHost()).isEqualTo("a");
  }

  @Test
  void propertiesWinOverTheUri() {
    Properties properties = new Properties();
    properties.setProperty("shardcache.listen", "127.0.0.1:7071");
    properties.setProperty("shardcache.peers", "127.0.0.1:7071, 127.0.0.1:7072");
    properties.setProperty("shardcache.allowedClasses", "com.example.**");
    properties.setProperty("shardcache.maximumSize", "5");
    ManagerSettings settings =
        ManagerSettings.from(URI.create("shardcache://127.0.0.1:7070"), properties);
    assertThat(settings.listenPort()).isEqualTo(7071);
    assertThat(settings.peers()).containsExactly("127.0.0.1:7071", "127.0.0.1:7072");
    assertThat(settings.allowedClasses()).containsExactly("com.example.**");
    assertThat(settings.maximumSize()).isEqualTo(5);
  }

  @Test
  void aShardIsBoundedByEntriesOrByBytes() {
    assertThat(ManagerSettings.from(URI.create("shardcache:default"), new Properties()))
        .extracting(ManagerSettings::maximumSize, ManagerSettings::maximumWeight)
        .containsExactly(10_000L, null);
    Properties byWeight = new Properties();
    byWeight.setProperty("shardcache.maximumWeight", "67108864");
    assertThat(ManagerSettings.from(URI.create("shardcache:default"), byWeight).maximumWeight())
        .isEqualTo(64L << 20);

    byWeight.setProperty("shardcache.maximumSize", "5");
    assertThatThrownBy(() -> ManagerSettings.from(URI.create("shardcache:default"), byWeight))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("shardcache.maximumSize (5) and shardcache.maximumWeight (67108864)")
        .hasMessageContaining("remove one");
    Properties negative = new Properties();
    negative.setProperty("shardcache.maximumWeight", "-1");
    assertThatThrownBy(() -> ManagerSettings.from(URI.create("shardcache:default"), negative))
        .hasMessageContaining("shardcache.maximumWeight must not be negative");
  }

  @Test
  void loadAllThreadsAreBoundedByDefaultAndByTheirProperty() {
    assertThat(
            ManagerSettings.from(URI.create("shardcache:default"), new Properties())
                .loadAllThreads())
        .isEqualTo(LoadAllPool.DEFAULT_THREADS);
    Properties few = new Properties();
    few.setProperty("shardcache.loadAll.threads", "2");
    assertThat(ManagerSettings.from(URI.create("shardcache:default"), few).loadAllThreads())
        .isEqualTo(2);
    few.setProperty("shardcache.loadAll.threads", "0");
    assertThatThrownBy(() -> ManagerSettings.from(URI.create("shardcache:default"), few))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("shardcache.loadAll.threads must be in [1, 1000], got 0");
  }

  @Test
  void hotKeysAreOnUnlessTurnedOff() {
    assertThat(ManagerSettings.from(URI.create("shardcache:default"), new Properties()).hotKeys())
        .isTrue();
    Properties off = new Properties();
    off.setProperty("shardcache.hotKeys", " FALSE ");
    assertThat(ManagerSettings.from(URI.create("shardcache:default"), off).hotKeys()).isFalse();
    off.setProperty("shardcache.hotKeys", "no");
    assertThatThrownBy(() -> ManagerSettings.from(URI.create("shardcache:default"), off))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("shardcache.hotKeys must be true or false, got 'no'");
  }

  @Test
  void aClientOnlyManagerHasPeersAndNoListenAddress() {
    Properties client = new Properties();
    client.setProperty("shardcache.clientOnly", "true");
    client.setProperty("shardcache.peers", "a:7070, b:7070");
    client.setProperty("shardcache.maximumSize", "7");
    ManagerSettings settings = ManagerSettings.from(URI.create("shardcache:default"), client);
    assertThat(settings.clientOnly()).isTrue();
    assertThat(settings.peers()).containsExactly("a:7070", "b:7070");
    assertThat(settings.listenHost()).isEmpty();
    assertThat(settings.listenPort()).isEqualTo(-1);
    assertThat(settings.maximumSize()).isEqualTo(7);
    assertThat(
            ManagerSettings.from(URI.create("shardcache:default"), new Properties()).clientOnly())
        .isFalse();

    assertThatThrownBy(() -> ManagerSettings.from(URI.create("shardcache://h:7070"), client))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "shardcache.clientOnly=true makes a node that binds no port, but a listen address (URI"
                + " shardcache://h:7070 or shardcache.listen) was given: remove it, or set"
                + " shardcache.clientOnly=false for a member that holds a shard");
    Properties advertised = new Properties();
    advertised.putAll(client);
    advertised.setProperty("shardcache.advertiseHost", "a");
    assertThatThrownBy(() -> ManagerSettings.from(URI.create("shardcache:default"), advertised))
        .hasMessageContaining("shardcache.advertiseHost was given");
    client.remove("shardcache.peers");
    assertThatThrownBy(() -> ManagerSettings.from(URI.create("shardcache:default"), client))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "shardcache.clientOnly=true needs shardcache.peers: the members' host:port, to which"
                + " it sends every read and write");
  }

  @Test
  void malformedSettingsAreRefusedWithTheirName() {
    assertThatThrownBy(
            () -> ManagerSettings.from(URI.create("shardcache://host"), new Properties()))
        .hasMessageContaining("no port");
    assertThatThrownBy(
            () -> ManagerSettings.from(URI.create("shardcache://h:1?peer=x"), new Properties()))
        .hasMessageContaining("unknown parameter 'peer'");
    Properties bad = new Properties();
    bad.setProperty("shardcache.maximumSize", "lots");
    assertThatThrownBy(() -> ManagerSettings.from(URI.create("shardcache:default"), bad))
        .hasMessageContaining("shardcache.maximumSize");
  }
}
