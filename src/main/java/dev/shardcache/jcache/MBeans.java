package dev.shardcache.jcache;

import java.lang.management.ManagementFactory;
import java.net.URI;
import javax.cache.CacheException;
import javax.management.InstanceAlreadyExistsException;
import javax.management.InstanceNotFoundException;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;

/**
 * Registers a cache's MXBeans with the platform MBean server under the names the spec fixes: {@code
 * javax.cache:type=CacheConfiguration|CacheStatistics,CacheManager=<uri>,Cache=<name>}, with {@code
 * : = , \n} in the URI and name replaced by dots. Registering twice or unregistering a bean that is
 * not there is a no-op. Thread-safe (the MBean server is).
 */
final class MBeans {
  enum Kind {
    CONFIGURATION("CacheConfiguration"),
    STATISTICS("CacheStatistics");

    private final String type;

    Kind(String type) {
      this.type = type;
    }
  }

  private MBeans() {}

  static ObjectName name(Kind kind, URI manager, String cache) {
    try {
      return new ObjectName(
          "javax.cache:type="
              + kind.type
              + ",CacheManager="
              + safe(manager.toString())
              + ",Cache="
              + safe(cache));
    } catch (MalformedObjectNameException e) {
      throw new CacheException(
          "cannot name the MBean of cache '" + cache + "': " + e.getMessage(), e);
    }
  }

  private static String safe(String text) {
    return text.replaceAll("[:=,\n]", ".");
  }

  static void register(Object bean, ObjectName name) {
    MBeanServer server = ManagementFactory.getPlatformMBeanServer();
    try {
      if (!server.isRegistered(name)) {
        server.registerMBean(bean, name);
      }
    } catch (InstanceAlreadyExistsException raced) {
      // registered concurrently: the same state we wanted
    } catch (JMException e) {
      throw new CacheException("cannot register MBean " + name + ": " + e.getMessage(), e);
    }
  }

  static void unregister(ObjectName name) {
    MBeanServer server = ManagementFactory.getPlatformMBeanServer();
    try {
      if (server.isRegistered(name)) {
        server.unregisterMBean(name);
      }
    } catch (InstanceNotFoundException raced) {
      // unregistered concurrently
    } catch (JMException e) {
      throw new CacheException("cannot unregister MBean " + name + ": " + e.getMessage(), e);
    }
  }
}
