package dev.shardcache.benchmarks;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * The local limit: a Caffeine cache in the driver JVM, as Shardcache's shards are built, bounded to
 * twice the key count. Values are kept by reference: no copy, no serialization, no network.
 */
final class CaffeineSystem implements CacheSystem {
  private final Cache<String, byte[]> cache;
  private boolean[] local = new boolean[0];

  CaffeineSystem(Settings settings) {
    cache = Caffeine.newBuilder().maximumSize(2L * settings.keys()).build();
  }

  @Override
  public SystemKind kind() {
    return SystemKind.CAFFEINE;
  }

  @Override
  public String setup() {
    return "Caffeine 3.3.1 in the driver JVM, maximumSize 2x keys; values kept by reference"
        + " (no copy, no serialization, no network); one copy";
  }

  @Override
  public void preload(Workload workload) {
    for (int i = 0; i < workload.keys.length; i++) {
      cache.put(workload.keys[i], workload.values[i]);
    }
    local = new boolean[workload.keys.length];
    Arrays.fill(local, true);
  }

  @Override
  public boolean[] localCopies() {
    return local;
  }

  @Override
  public byte @Nullable [] get(String key) {
    return cache.getIfPresent(key);
  }

  @Override
  public void put(String key, byte[] value) {
    cache.put(key, value);
  }

  @Override
  public int getAll(Workload.Batch batch) {
    return cache.getAllPresent(batch.list).size();
  }

  @Override
  public @Nullable String problem() {
    return null;
  }

  @Override
  public void close() {
    cache.invalidateAll();
  }
}
