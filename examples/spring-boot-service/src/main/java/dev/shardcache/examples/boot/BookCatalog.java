package dev.shardcache.examples.boot;

import java.util.concurrent.atomic.AtomicInteger;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.cache.annotation.CacheEvict;
import org.springframework.cache.annotation.Cacheable;
import org.springframework.stereotype.Component;

/**
 * The service: a slow "database" lookup behind {@code @Cacheable}. The cache is shared by every
 * instance, so a book looked up through one instance is served to the others without calling {@link
 * #find} again. Counts its own calls, so the launcher can check that.
 */
@Component
public class BookCatalog {
  private final AtomicInteger databaseCalls = new AtomicInteger();
  private final String instance;

  public BookCatalog(@Value("${instance.name:instance}") String instance) {
    this.instance = instance;
  }

  @Cacheable("books")
  public Book find(String isbn) throws InterruptedException {
    databaseCalls.incrementAndGet();
    Thread.sleep(200); // the database is slow; that is why we cache
    return new Book(isbn, "Title of " + isbn, instance);
  }

  @CacheEvict("books")
  public void bookChanged(String isbn) {
    // the database row changed; every instance must stop serving the cached copy
  }

  public int databaseCalls() {
    return databaseCalls.get();
  }
}
