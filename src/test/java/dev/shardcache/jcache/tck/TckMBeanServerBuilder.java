package dev.shardcache.jcache.tck;

import javax.management.MBeanServerBuilder;
import javax.management.MBeanServerDelegate;

/**
 * The {@link MBeanServerBuilder} the JSR-107 TCK asks an implementation to supply (system property
 * {@code javax.management.builder.initial}): it builds the platform MBean server with a delegate
 * whose agent id is the TCK's {@code org.jsr107.tck.management.agentId}, so the TCK can tell the
 * server apart. Shardcache registers its cache MXBeans with the platform server, so nothing else
 * changes. Used only by the {@code jcache-tck} Maven profile; thread-safe.
 */
public final class TckMBeanServerBuilder extends MBeanServerBuilder {
  /** The system property naming the agent id. */
  static final String AGENT_ID = "org.jsr107.tck.management.agentId";

  @Override
  public MBeanServerDelegate newMBeanServerDelegate() {
    return new AgentIdDelegate();
  }

  /** A delegate that reports the TCK's agent id as the server id. */
  static final class AgentIdDelegate extends MBeanServerDelegate {
    @Override
    public synchronized String getMBeanServerId() {
      return System.getProperty(AGENT_ID, "ShardcacheTckMBeanServer");
    }
  }
}
