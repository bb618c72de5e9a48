package dev.shardcache.spring.boot;

import static java.util.Objects.requireNonNull;

import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * The health of a {@link ShardcacheNode} for Spring Boot's Actuator ({@code /actuator/health},
 * under the name {@code shardcache}): {@code UP} while the node runs, {@code DOWN} when it is not
 * started or closed, with the details an operator looks at first.
 *
 * <table>
 *   <caption>Details</caption>
 *   <tr><th>detail</th><th>what</th></tr>
 *   <tr><td>{@code address}</td><td>this node's {@code host:port}</td></tr>
 *   <tr><td>{@code members}</td><td>the members of this node's ring, itself included, sorted</td></tr>
 *   <tr><td>{@code peers}, {@code reachablePeers}</td><td>the other configured members, and how many
 *       of them answered their last call</td></tr>
 *   <tr><td>{@code suspectedPeers}</td><td>the peers the failure detector has taken out of the ring,
 *       sorted</td></tr>
 *   <tr><td>{@code replicationBacklog}</td><td>replica writes, clears and near-cache invalidations
 *       not yet delivered, hints for unreachable peers included</td></tr>
 *   <tr><td>{@code caches}</td><td>the names of the caches defined on this node</td></tr>
 *   <tr><td>{@code clientOnly}</td><td>{@code true}, only on a client-only node (whose {@code
 *       address} is its name and whose {@code members} are its peers alone)</td></tr>
 * </table>
 *
 * <p><b>Why a suspected peer leaves this node {@code UP}:</b> health decides whether this instance
 * gets traffic or is restarted, and this node serves through a peer's failure (the next holder
 * answers, or it loads locally). Marking every survivor {@code DOWN} while one member is away would
 * take the whole service out with it. Alert on {@code suspectedPeers} or {@code
 * shardcache.peers.suspected} instead.
 *
 * <p>Thread-safe; never blocks: every figure is a local snapshot.
 */
public final class ShardcacheHealthIndicator implements HealthIndicator {
  private final ShardcacheNode node;

  public ShardcacheHealthIndicator(ShardcacheNode node) {
    this.node = requireNonNull(node, "node");
  }

  @Override
  public Health health() {
    if (!node.isRunning()) {
      return Health.down().withDetail("reason", "the node is not started, or closed").build();
    }
    try {
      Set<String> suspected = new TreeSet<>(node.suspectedPeers());
      Health.Builder health = Health.up();
      if (node.isClientOnly()) {
        health.withDetail("clientOnly", true);
      }
      return health
          .withDetail("address", node.address())
          .withDetail("members", List.copyOf(new TreeSet<>(node.ring().nodes())))
          .withDetail("peers", node.peers().size())
          .withDetail("reachablePeers", node.reachablePeers().size())
          .withDetail("suspectedPeers", List.copyOf(suspected))
          .withDetail("replicationBacklog", node.replicationBacklog())
          .withDetail(
              "caches", node.caches().stream().map(DistributedCache::name).sorted().toList())
          .build();
    } catch (IllegalStateException closedMeanwhile) {
      return Health.down().withDetail("reason", "the node is closing").build();
    }
  }
}
