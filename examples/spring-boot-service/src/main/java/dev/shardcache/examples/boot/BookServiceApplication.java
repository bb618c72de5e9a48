package dev.shardcache.examples.boot;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.cache.annotation.EnableCaching;

/**
 * One instance of the book service. Shardcache's auto-configuration starts a node from the {@code
 * shardcache.*} properties (listen port, peers, the {@code books} cache) and gives Spring a cache
 * manager on it; {@code @EnableCaching} makes {@code @Cacheable} use it.
 *
 * <p>Run alone with, for example, {@code --shardcache.port=7070 --instance.name=a}; the {@link
 * ThreeInstances} launcher starts three of them as separate JVMs and drives them through {@link
 * Console}.
 */
@SpringBootApplication
@EnableCaching
public class BookServiceApplication {
  public static void main(String[] args) {
    SpringApplication.run(BookServiceApplication.class, args);
  }
}
