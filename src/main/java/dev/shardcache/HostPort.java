package dev.shardcache;

import static com.google.common.base.Preconditions.checkArgument;

import com.google.common.net.HostAndPort;

/**
 * A member address, "host:port", validated. IPv6 hosts are written in brackets ("[::1]:7070").
 * Immutable.
 */
record HostPort(String host, int port) {

  /**
   * Parses {@code address}.
   *
   * @throws IllegalArgumentException naming the address and the expected form if it is malformed
   */
  static HostPort parse(String address) {
    HostAndPort parsed;
    try {
      parsed = HostAndPort.fromString(address.trim());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "peer address '"
              + address
              + "' is malformed: "
              + e.getMessage()
              + "; write it as host:port, such as 10.0.0.1:7070 or [::1]:7070",
          e);
    }
    checkArgument(
        parsed.hasPort(),
        "peer address '%s' has no port; write it as host:port, such as 10.0.0.1:7070",
        address);
    checkArgument(
        !parsed.getHost().isEmpty(),
        "peer address '%s' has no host; write it as host:port, such as 10.0.0.1:7070",
        address);
    int port = parsed.getPort();
    checkArgument(
        port > 0 && port <= 65_535,
        "peer address '%s' has port %s; a peer's port must be in [1, 65535]",
        address,
        port);
    return new HostPort(parsed.getHost(), port);
  }

  /** The canonical "host:port" spelling, with brackets around IPv6 hosts. */
  @Override
  public String toString() {
    return HostAndPort.fromParts(host, port).toString();
  }

  /** Whether {@code host} is a wildcard address (all interfaces), such as 0.0.0.0 or ::. */
  static boolean isWildcard(String host) {
    try {
      return java.net.InetAddress.getByName(host).isAnyLocalAddress();
    } catch (java.net.UnknownHostException e) {
      return false;
    }
  }
}
