package dev.shardcache.spring.boot;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.util.unit.DataSize;

/**
 * The {@code shardcache.*} properties of {@link ShardcacheAutoConfiguration}.
 *
 * <pre>
 * shardcache.listen-host=10.0.0.1          # default 127.0.0.1
 * shardcache.port=7070                     # default 7070; 0 picks a free port
 * shardcache.advertise-host=               # needed with a wildcard listen host
 * shardcache.peers=10.0.0.1:7070,10.0.0.2:7070,10.0.0.3:7070
 * shardcache.virtual-nodes=160
 * shardcache.allow-null-values=true
 * shardcache.dynamic-caches=true
 * shardcache.cache-defaults.maximum-size=10000
 * shardcache.cache-defaults.allowed-value-classes=com.example.model.**
 * shardcache.caches.books.expire-after-write=10m
 * shardcache.caches.books.near-cache.maximum-size=1000
 * shardcache.caches.books.near-cache.ttl=2s
 * shardcache.caches.books.replication=2
 * shardcache.caches.covers.maximum-weight=256MB  # bytes instead of entries; not with maximum-size
 * shardcache.caches.covers.expire-after-access=30m
 * shardcache.caches.prices.hot-keys=false        # on by default
 * </pre>
 *
 * <p>A client-only node (a JVM that shares the cache without holding part of it) sets {@code
 * shardcache.client-only=true} and {@code shardcache.peers}, and none of {@code listen-host},
 * {@code port} and {@code advertise-host}, which it refuses at startup.
 *
 * <p>A mutable bean, as Spring Boot binds it; not thread-safe, read once at startup.
 */
@ConfigurationProperties("shardcache")
public class ShardcacheProperties {
  /** Whether to start a node and its cache manager at all. */
  private boolean enabled = true;

  /** The address this node's gRPC server binds. */
  private String listenHost = "127.0.0.1";

  /** The port of this node's gRPC server; 0 picks a free one. */
  private int port = 7070;

  /**
   * Whether this node is a client-only member: it binds no port, holds no shard, is on no ring and
   * sends every read and write to the members in peers (required). listen-host, port and
   * advertise-host must not be set then.
   */
  private boolean clientOnly;

  /**
   * The most client-only members subscribed to this member's invalidations at once. Unset: the
   * library default (256).
   */
  private @Nullable Integer maxSubscribedClients;

  /** Which of listen-host and port were bound, for the client-only check. */
  private boolean listenHostSet;

  private boolean portSet;

  /** The host peers use to reach this node, when it differs from the listen host. */
  private @Nullable String advertiseHost;

  /** The members of the cluster as host:port; may include this node. Empty: a cluster of one. */
  private List<String> peers = new ArrayList<>();

  /** Virtual nodes per member on the ring; the same on every member. Unset: the library default. */
  private @Nullable Integer virtualNodes;

  /** Whether null method results are cached (as a marker). */
  private boolean allowNullValues = true;

  /** Whether a cache name seen only at run time is defined then (with a warning). */
  private boolean dynamicCaches = true;

  /** Settings of every cache that does not set its own. */
  private Cache cacheDefaults = new Cache();

  /**
   * Settings per cache name, as shardcache.caches.NAME.maximum-size and so on: the same keys as
   * cache-defaults, which fill in what a cache does not set. Each named cache is defined at
   * startup.
   */
  private Map<String, Cache> caches = new LinkedHashMap<>();

  public boolean isEnabled() {
    return enabled;
  }

  public void setEnabled(boolean enabled) {
    this.enabled = enabled;
  }

  public String getListenHost() {
    return listenHost;
  }

  public void setListenHost(String listenHost) {
    this.listenHost = listenHost;
    this.listenHostSet = true;
  }

  public int getPort() {
    return port;
  }

  public void setPort(int port) {
    this.port = port;
    this.portSet = true;
  }

  public boolean isClientOnly() {
    return clientOnly;
  }

  public void setClientOnly(boolean clientOnly) {
    this.clientOnly = clientOnly;
  }

  public @Nullable Integer getMaxSubscribedClients() {
    return maxSubscribedClients;
  }

  public void setMaxSubscribedClients(@Nullable Integer maxSubscribedClients) {
    this.maxSubscribedClients = maxSubscribedClients;
  }

  /**
   * The properties set that only a listening member uses ({@code shardcache.listen-host}, {@code
   * shardcache.port}, {@code shardcache.advertise-host}), by name, in that order.
   */
  List<String> listenPropertiesSet() {
    List<String> set = new ArrayList<>();
    if (listenHostSet) {
      set.add("shardcache.listen-host");
    }
    if (portSet) {
      set.add("shardcache.port");
    }
    if (advertiseHost != null && !advertiseHost.isBlank()) {
      set.add("shardcache.advertise-host");
    }
    return set;
  }

  public @Nullable String getAdvertiseHost() {
    return advertiseHost;
  }

  public void setAdvertiseHost(@Nullable String advertiseHost) {
    this.advertiseHost = advertiseHost;
  }

  public List<String> getPeers() {
    return peers;
  }

  public void setPeers(List<String> peers) {
    this.peers = peers;
  }

  public @Nullable Integer getVirtualNodes() {
    return virtualNodes;
  }

  public void setVirtualNodes(@Nullable Integer virtualNodes) {
    this.virtualNodes = virtualNodes;
  }

  public boolean isAllowNullValues() {
    return allowNullValues;
  }

  public void setAllowNullValues(boolean allowNullValues) {
    this.allowNullValues = allowNullValues;
  }

  public boolean isDynamicCaches() {
    return dynamicCaches;
  }

  public void setDynamicCaches(boolean dynamicCaches) {
    this.dynamicCaches = dynamicCaches;
  }

  public Cache getCacheDefaults() {
    return cacheDefaults;
  }

  public void setCacheDefaults(Cache cacheDefaults) {
    this.cacheDefaults = cacheDefaults;
  }

  public Map<String, Cache> getCaches() {
    return caches;
  }

  /** TLS between members; off when {@code certificate-chain} is not set. */
  private Tls tls = new Tls();

  /**
   * The secret every member shares, at least 16 bytes (UTF-8); when set, peers authenticate each
   * call with an HMAC token of it. Keep it out of source control (an environment variable or a
   * secret store).
   */
  private @Nullable String clusterSecret;

  /** Calls in progress allowed from one host before further calls are refused. */
  private @Nullable Integer maxConcurrentCallsPerPeer;

  /**
   * With a cluster secret: the token nonces a node remembers to refuse replays (default 500000,
   * about 160 bytes each, kept 75 s: it admits this / 75 authenticated calls a second). Past it
   * calls are refused until nonces expire.
   */
  private @Nullable Integer maxNonces;

  public Tls getTls() {
    return tls;
  }

  public void setTls(Tls tls) {
    this.tls = tls;
  }

  public @Nullable String getClusterSecret() {
    return clusterSecret;
  }

  public void setClusterSecret(@Nullable String clusterSecret) {
    this.clusterSecret = clusterSecret;
  }

  public @Nullable Integer getMaxConcurrentCallsPerPeer() {
    return maxConcurrentCallsPerPeer;
  }

  public void setMaxConcurrentCallsPerPeer(@Nullable Integer maxConcurrentCallsPerPeer) {
    this.maxConcurrentCallsPerPeer = maxConcurrentCallsPerPeer;
  }

  public @Nullable Integer getMaxNonces() {
    return maxNonces;
  }

  public void setMaxNonces(@Nullable Integer maxNonces) {
    this.maxNonces = maxNonces;
  }

  /** PEM files for TLS between members; see {@link dev.shardcache.PeerTls}. */
  public static class Tls {
    /** This node's certificate chain (PEM). Setting it turns TLS on. */
    private @Nullable String certificateChain;

    /** This node's private key (PKCS#8 PEM). */
    private @Nullable String privateKey;

    /** The certificates that sign members' certificates (PEM). */
    private @Nullable String trustedCertificates;

    /** Whether members must present client certificates (mutual TLS). */
    private boolean requireClientCertificates = true;

    /** How often the files are re-read, so rotated certificates apply without a restart. */
    private Duration reloadInterval = dev.shardcache.PeerTls.DEFAULT_RELOAD_INTERVAL;

    public @Nullable String getCertificateChain() {
      return certificateChain;
    }

    public void setCertificateChain(@Nullable String certificateChain) {
      this.certificateChain = certificateChain;
    }

    public @Nullable String getPrivateKey() {
      return privateKey;
    }

    public void setPrivateKey(@Nullable String privateKey) {
      this.privateKey = privateKey;
    }

    public @Nullable String getTrustedCertificates() {
      return trustedCertificates;
    }

    public void setTrustedCertificates(@Nullable String trustedCertificates) {
      this.trustedCertificates = trustedCertificates;
    }

    public boolean isRequireClientCertificates() {
      return requireClientCertificates;
    }

    public void setRequireClientCertificates(boolean requireClientCertificates) {
      this.requireClientCertificates = requireClientCertificates;
    }

    public Duration getReloadInterval() {
      return reloadInterval;
    }

    public void setReloadInterval(Duration reloadInterval) {
      this.reloadInterval = reloadInterval;
    }
  }

  public void setCaches(Map<String, Cache> caches) {
    this.caches = caches;
  }

  /**
   * The settings of one cache (or of all, as {@code cache-defaults}); unset values are inherited.
   */
  public static class Cache {
    /** The most entries each node's shard holds; not with maximum-weight. */
    private @Nullable Long maximumSize;

    /**
     * The most bytes each node's shard holds (such as 256MB), counting encoded keys and values plus
     * 300 bytes per entry; not with maximum-size. A plain number is bytes.
     */
    private @Nullable DataSize maximumWeight;

    /** How long an entry lives after it was written. */
    private @Nullable Duration expireAfterWrite;

    /**
     * How long an entry stays on a node that neither reads nor stores it; per node, and only with
     * replication 1.
     */
    private @Nullable Duration expireAfterAccess;

    /**
     * Refresh-ahead; refused at startup for Spring caches, which have no loader for the owner to
     * reload with (see CacheSettings.Builder.refreshAfterWrite).
     */
    private @Nullable Duration refreshAfterWrite;

    /** How long a call to a peer may take. */
    private @Nullable Duration remoteTimeout;

    /** How many members hold each key: the owner and replication - 1 replicas (1 to 16). */
    private @Nullable Integer replication;

    /** Classes or packages (com.example.model.**) whose instances may be decoded as values. */
    private List<String> allowedValueClasses = new ArrayList<>();

    /** A near cache of values of remote keys on this node. */
    private NearCache nearCache = new NearCache();

    /**
     * Whether this node keeps, for 1 s, the values of the keys their owners serve most (default:
     * true; ignored with a near cache).
     */
    private @Nullable Boolean hotKeys;

    public @Nullable Long getMaximumSize() {
      return maximumSize;
    }

    public void setMaximumSize(@Nullable Long maximumSize) {
      this.maximumSize = maximumSize;
    }

    public @Nullable DataSize getMaximumWeight() {
      return maximumWeight;
    }

    public void setMaximumWeight(@Nullable DataSize maximumWeight) {
      this.maximumWeight = maximumWeight;
    }

    public @Nullable Duration getExpireAfterWrite() {
      return expireAfterWrite;
    }

    public void setExpireAfterWrite(@Nullable Duration expireAfterWrite) {
      this.expireAfterWrite = expireAfterWrite;
    }

    public @Nullable Duration getExpireAfterAccess() {
      return expireAfterAccess;
    }

    public void setExpireAfterAccess(@Nullable Duration expireAfterAccess) {
      this.expireAfterAccess = expireAfterAccess;
    }

    public @Nullable Duration getRefreshAfterWrite() {
      return refreshAfterWrite;
    }

    public void setRefreshAfterWrite(@Nullable Duration refreshAfterWrite) {
      this.refreshAfterWrite = refreshAfterWrite;
    }

    public @Nullable Duration getRemoteTimeout() {
      return remoteTimeout;
    }

    public void setRemoteTimeout(@Nullable Duration remoteTimeout) {
      this.remoteTimeout = remoteTimeout;
    }

    public @Nullable Integer getReplication() {
      return replication;
    }

    public void setReplication(@Nullable Integer replication) {
      this.replication = replication;
    }

    public List<String> getAllowedValueClasses() {
      return allowedValueClasses;
    }

    public void setAllowedValueClasses(List<String> allowedValueClasses) {
      this.allowedValueClasses = allowedValueClasses;
    }

    public @Nullable Boolean getHotKeys() {
      return hotKeys;
    }

    public void setHotKeys(@Nullable Boolean hotKeys) {
      this.hotKeys = hotKeys;
    }

    public NearCache getNearCache() {
      return nearCache;
    }

    public void setNearCache(NearCache nearCache) {
      this.nearCache = nearCache;
    }
  }

  /** A near cache: off unless {@code maximum-size} is set (0 turns a default one off). */
  public static class NearCache {
    /** The most values kept; 0 or unset: no near cache. */
    private @Nullable Long maximumSize;

    /** How long a near-cached value is served without asking its owner; keep it short. */
    private Duration ttl = Duration.ofSeconds(1);

    public @Nullable Long getMaximumSize() {
      return maximumSize;
    }

    public void setMaximumSize(@Nullable Long maximumSize) {
      this.maximumSize = maximumSize;
    }

    public Duration getTtl() {
      return ttl;
    }

    public void setTtl(Duration ttl) {
      this.ttl = ttl;
    }
  }
}
