package dev.shardcache.benchmarks;

import org.jspecify.annotations.Nullable;

/**
 * One system under test, started and loaded, as the driver JVM's caller threads see it. The
 * methods the caller threads use ({@link #get}, {@link #put}, {@link #getAll}) must be thread-safe.
 * {@link #close()} stops everything the system started (member JVMs, a server process) and must not
 * throw for a system that is already half gone.
 */
interface CacheSystem extends AutoCloseable {

  SystemKind kind();

  /** How the system is set up: members, connections, serialization, copies of each value. */
  String setup();

  /** Writes every key of the workload, and returns once each is readable. */
  void preload(Workload workload) throws Exception;

  /**
   * Whether the driver JVM holds a copy of each key that it reads without a network call, indexed
   * like {@link Workload#keys}; valid after {@link #preload}.
   */
  boolean[] localCopies();

  byte @Nullable [] get(String key);

  void put(String key, byte[] value);

  /** Reads the batch's keys in one call; returns how many had a value. */
  int getAll(Workload.Batch batch);

  /**
   * What went wrong with the system since the previous call (a member suspected or gone, a ring
   * change, partitions migrating), or null if nothing. Called before and after every cell, so a
   * number measured on a degraded cluster is marked.
   */
  @Nullable String problem();

  @Override
  void close();
}
