package dev.shardcache.jcache;

import com.google.common.base.Splitter;
import dev.shardcache.CacheConfig;
import java.net.URI;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import org.jspecify.annotations.Nullable;

/**
 * What a JCache {@link javax.cache.CacheManager} needs to start its node and define its caches,
 * read from the manager's URI and properties.
 *
 * <p>The URI {@code shardcache://host:port?peers=h1:p1,h2:p2&advertiseHost=name} gives the listen
 * address, the peers and the advertised host; any other URI (such as the default {@value
 * ShardcacheCachingProvider#DEFAULT_URI}) leaves them to the properties. Properties win over the
 * URI:
 *
 * <table>
 *   <caption>Settings</caption>
 *   <tr><th>property</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>{@value #LISTEN}</td><td>{@code 127.0.0.1:0}</td><td>host:port the node binds</td></tr>
 *   <tr><td>{@value #ADVERTISE_HOST}</td><td>none</td><td>host peers use to reach this node</td></tr>
 *   <tr><td>{@value #PEERS}</td><td>none (alone)</td><td>comma-separated host:port members</td></tr>
 *   <tr><td>{@value #ALLOWED_CLASSES}</td><td>none</td><td>comma-separated class names or package
 *       patterns whose serialized instances may be decoded, besides JDK value classes</td></tr>
 *   <tr><td>{@value #MAXIMUM_SIZE}</td><td>10000</td><td>entries per cache in this node's shard</td></tr>
 *   <tr><td>{@value #MAXIMUM_WEIGHT}</td><td>none</td><td>bytes per cache in this node's shard
 *       instead of entries (encoded keys and values plus {@code CacheConfig.ENTRY_OVERHEAD_BYTES}
 *       per entry); not with {@value #MAXIMUM_SIZE}</td></tr>
 *   <tr><td>{@value #MAX_VALUE_BYTES}</td><td>1 MiB</td><td>largest encoded value</td></tr>
 *   <tr><td>{@value #HOT_KEYS}</td><td>{@code true}</td><td>whether each cache keeps the values
 *       their owners mark hot for 1 s ({@code CacheConfig.Builder.hotKeys})</td></tr>
 *   <tr><td>{@value #LOAD_ALL_THREADS}</td><td>{@value LoadAllPool#DEFAULT_THREADS}</td><td>the
 *       {@code loadAll} calls of this manager's caches that run at once; {@value
 *       LoadAllPool#WAITING_PER_THREAD} times as many may wait, and a {@code loadAll} past that
 *       fails through its {@code CompletionListener} (see {@code LoadAllPool})</td></tr>
 *   <tr><td>{@value #CLIENT_ONLY}</td><td>{@code false}</td><td>a client-only node ({@code
 *       ShardcacheNode.Builder.clientOnly}): no port, no shard, on no ring; it needs {@value
 *       #PEERS} and refuses a listen address (in the URI or {@value #LISTEN}) and {@value
 *       #ADVERTISE_HOST}</td></tr>
 * </table>
 *
 * The last seven may also be JVM system properties of the same name, used when the manager's
 * properties do not set them. Immutable. A client-only manager's {@code listenHost} is empty and
 * its {@code listenPort} -1.
 */
record ManagerSettings(
    String listenHost,
    int listenPort,
    @Nullable String advertiseHost,
    List<String> peers,
    List<String> allowedClasses,
    long maximumSize,
    @Nullable Long maximumWeight,
    int maxValueBytes,
    boolean hotKeys,
    int loadAllThreads,
    boolean clientOnly) {

  static final String LISTEN = "shardcache.listen";
  static final String ADVERTISE_HOST = "shardcache.advertiseHost";
  static final String PEERS = "shardcache.peers";
  static final String ALLOWED_CLASSES = "shardcache.allowedClasses";
  static final String MAXIMUM_SIZE = "shardcache.maximumSize";
  static final String MAXIMUM_WEIGHT = "shardcache.maximumWeight";
  static final String MAX_VALUE_BYTES = "shardcache.maxValueBytes";
  static final String HOT_KEYS = "shardcache.hotKeys";
  static final String LOAD_ALL_THREADS = "shardcache.loadAll.threads";
  static final String CLIENT_ONLY = "shardcache.clientOnly";

  /**
   * @throws IllegalArgumentException if a setting is malformed
   */
  static ManagerSettings from(URI uri, Properties properties) {
    String listen = "127.0.0.1:0";
    String advertise = null;
    String peers = null;
    boolean uriListens = "shardcache".equalsIgnoreCase(uri.getScheme()) && uri.getHost() != null;
    if (uriListens) {
      if (uri.getPort() < 0) {
        throw new IllegalArgumentException(
            "URI "
                + uri
                + " names a host but no port;"
                + " use shardcache://host:port (port 0 picks a free one)");
      }
      listen = uri.getHost() + ":" + uri.getPort();
      String query = uri.getQuery();
      if (query != null) {
        for (String pair : Splitter.on('&').omitEmptyStrings().split(query)) {
          int eq = pair.indexOf('=');
          String name = eq < 0 ? pair : pair.substring(0, eq);
          String value = eq < 0 ? "" : pair.substring(eq + 1);
          switch (name) {
            case "peers" -> peers = value;
            case "advertiseHost" -> advertise = value;
            default ->
                throw new IllegalArgumentException(
                    "URI "
                        + uri
                        + " has unknown parameter '"
                        + name
                        + "'; known: peers, advertiseHost");
          }
        }
      }
    }
    if (flag(properties, CLIENT_ONLY, false)) {
      return clientOnly(
          uri,
          properties,
          uriListens || properties.getProperty(LISTEN) != null,
          properties.getProperty(ADVERTISE_HOST, advertise),
          properties.getProperty(PEERS, peers));
    }
    listen = properties.getProperty(LISTEN, listen).trim();
    advertise = properties.getProperty(ADVERTISE_HOST, advertise);
    peers = properties.getProperty(PEERS, peers);

    int colon = listen.lastIndexOf(':');
    if (colon <= 0 || colon == listen.length() - 1) {
      throw new IllegalArgumentException(LISTEN + " must be host:port, got '" + listen + "'");
    }
    String host = listen.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port;
    try {
      port = Integer.parseInt(listen.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(LISTEN + " must be host:port, got '" + listen + "'", e);
    }
    long maximumSize = number(properties, MAXIMUM_SIZE, -1);
    long maximumWeight = number(properties, MAXIMUM_WEIGHT, -1);
    if (maximumSize >= 0 && maximumWeight >= 0) {
      throw new IllegalArgumentException(
          MAXIMUM_SIZE
              + " ("
              + maximumSize
              + ") and "
              + MAXIMUM_WEIGHT
              + " ("
              + maximumWeight
              + ") are both set; a shard is bounded by entries or by bytes, so remove one");
    }
    for (String bound : List.of(MAXIMUM_SIZE, MAXIMUM_WEIGHT)) {
      long value = number(properties, bound, -1);
      if (setting(properties, bound) != null && value < 0) {
        throw new IllegalArgumentException(bound + " must not be negative, got " + value);
      }
    }
    long loadAllThreads = number(properties, LOAD_ALL_THREADS, LoadAllPool.DEFAULT_THREADS);
    if (loadAllThreads < 1 || loadAllThreads > 1_000) {
      throw new IllegalArgumentException(
          LOAD_ALL_THREADS
              + " must be in [1, 1000], got "
              + loadAllThreads
              + "; it bounds the loadAll calls each manager runs at once");
    }
    return new ManagerSettings(
        host,
        port,
        advertise == null || advertise.isBlank() ? null : advertise.trim(),
        list(peers),
        list(setting(properties, ALLOWED_CLASSES)),
        maximumSize >= 0 ? maximumSize : CacheConfig.DEFAULT_MAXIMUM_SIZE,
        maximumWeight >= 0 ? maximumWeight : null,
        (int) number(properties, MAX_VALUE_BYTES, 1024 * 1024),
        flag(properties, HOT_KEYS, true),
        (int) loadAllThreads,
        false);
  }

  /**
   * The settings of a client-only manager: the cache settings as for a member, no listen address.
   *
   * @throws IllegalArgumentException if a listen or advertised address is given, or no peers
   */
  private static ManagerSettings clientOnly(
      URI uri,
      Properties properties,
      boolean listens,
      @Nullable String advertise,
      @Nullable String peers) {
    if (listens || (advertise != null && !advertise.isBlank())) {
      throw new IllegalArgumentException(
          CLIENT_ONLY
              + "=true makes a node that binds no port, but "
              + (listens ? "a listen address (URI " + uri + " or " + LISTEN + ")" : ADVERTISE_HOST)
              + " was given: remove it, or set "
              + CLIENT_ONLY
              + "=false for a member that holds a shard");
    }
    List<String> members = list(peers);
    if (members.isEmpty()) {
      throw new IllegalArgumentException(
          CLIENT_ONLY
              + "=true needs "
              + PEERS
              + ": the members' host:port, to which it sends every read and write");
    }
    ManagerSettings member =
        from(URI.create(ShardcacheCachingProvider.DEFAULT_URI), withoutClientOnly(properties));
    return new ManagerSettings(
        "",
        -1,
        null,
        members,
        member.allowedClasses(),
        member.maximumSize(),
        member.maximumWeight(),
        member.maxValueBytes(),
        member.hotKeys(),
        member.loadAllThreads(),
        true);
  }

  /** {@code properties} with client-only turned off, to read the cache settings as a member's. */
  private static Properties withoutClientOnly(Properties properties) {
    Properties copy = new Properties();
    copy.putAll(properties);
    copy.setProperty(CLIENT_ONLY, "false");
    copy.remove(PEERS);
    return copy;
  }

  private static boolean flag(Properties properties, String name, boolean fallback) {
    String value = setting(properties, name);
    if (value == null || value.isBlank()) {
      return fallback;
    }
    return switch (value.trim().toLowerCase(java.util.Locale.ROOT)) {
      case "true" -> true;
      case "false" -> false;
      default ->
          throw new IllegalArgumentException(name + " must be true or false, got '" + value + "'");
    };
  }

  private static @Nullable String setting(Properties properties, String name) {
    String value = properties.getProperty(name);
    return value != null ? value : System.getProperty(name);
  }

  private static long number(Properties properties, String name, long fallback) {
    String value = setting(properties, name);
    if (value == null || value.isBlank()) {
      return fallback;
    }
    try {
      return Long.parseLong(value.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a number, got '" + value + "'", e);
    }
  }

  private static List<String> list(@Nullable String commaSeparated) {
    List<String> items = new ArrayList<>();
    if (commaSeparated != null) {
      Arrays.stream(commaSeparated.split(","))
          .map(String::trim)
          .filter(s -> !s.isEmpty())
          .forEach(items::add);
    }
    return List.copyOf(items);
  }
}
