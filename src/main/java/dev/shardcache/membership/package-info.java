/**
 * Membership: deciding which peers are alive. <b>Internal, not API:</b> the types here are public
 * only so that other Shardcache packages can use them; they may change or disappear in any release.
 *
 * <h2>Design note</h2>
 *
 * <p>Membership is built from two separate questions. <em>Who might be a member</em> comes from
 * configuration or discovery (a static list, {@code ShardcacheNode.setPeers}, or {@code
 * dev.shardcache.discovery.DnsDiscovery}). <em>Which of them is alive right now</em> comes from
 * failure detection, here: a peer that answers heartbeats is alive; one that has been silent for
 * too long, judged against its own history, is suspected. Keeping the two apart means a discovery
 * source never has to know about liveness, and a flaky network never edits the list of candidates.
 *
 * <p>{@link dev.shardcache.membership.PhiAccrualFailureDetector} turns the arrival times of one
 * peer's heartbeats into a continuous suspicion level (phi) instead of a yes/no timeout, so one
 * tunable threshold adapts to each peer's observed rhythm and jitter.
 *
 * <p>Every type is non-null unless annotated {@link org.jspecify.annotations.Nullable}.
 */
@org.jspecify.annotations.NullMarked
package dev.shardcache.membership;
