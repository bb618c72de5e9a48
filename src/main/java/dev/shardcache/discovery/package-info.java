/**
 * Discovery: where the list of a cluster's members comes from, besides a static list.
 *
 * <p>A discovery source only <em>finds</em> candidate members and hands the whole list, as
 * "host:port" strings, to a callback, normally {@code node::setPeers} ({@link
 * dev.shardcache.ShardcacheNode#setPeers}). It never decides whether a member is alive (that is
 * failure detection's job) and never talks to the members. Every source reports the complete list
 * each time it changes, not additions and removals, so a missed report is repaired by the next one.
 *
 * <p>{@link dev.shardcache.discovery.DnsDiscovery} resolves one DNS name, such as a Kubernetes
 * headless service, to all its addresses; {@code docs/kubernetes.md} shows a complete deployment.
 *
 * <p>Every type is non-null unless annotated {@link org.jspecify.annotations.Nullable}. Public
 * types are API and thread-safe unless their documentation says otherwise.
 */
@org.jspecify.annotations.NullMarked
package dev.shardcache.discovery;
