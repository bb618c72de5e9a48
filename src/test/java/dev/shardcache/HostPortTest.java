package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class HostPortTest {

  @Test
  void parsesAndCanonicalizes() {
    assertThat(HostPort.parse("127.0.0.1:7070")).isEqualTo(new HostPort("127.0.0.1", 7070));
    assertThat(HostPort.parse(" host:1 ").toString()).isEqualTo("host:1");
    assertThat(HostPort.parse("[::1]:7070").toString()).isEqualTo("[::1]:7070");
  }

  @Test
  void rejectsMalformedAddressesWithTheExpectedForm() {
    assertThatThrownBy(() -> HostPort.parse("host")).hasMessageContaining("has no port");
    assertThatThrownBy(() -> HostPort.parse(":7070")).hasMessageContaining("has no host");
    assertThatThrownBy(() -> HostPort.parse("host:0")).hasMessageContaining("[1, 65535]");
    assertThatThrownBy(() -> HostPort.parse("host:99999")).hasMessageContaining("host:port");
    assertThatThrownBy(() -> HostPort.parse("a:b:c")).hasMessageContaining("host:port");
  }
}
