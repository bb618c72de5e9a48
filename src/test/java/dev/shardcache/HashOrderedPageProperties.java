package dev.shardcache;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.shardcache.internal.proto.VersionedEntry;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * {@link HashOrderedPage}, the paging of Digest answers: offered the same entries in any order,
 * successive pages (each after the previous page's last hash) partition them in ascending unsigned
 * key-hash order, each page within its budget unless it holds the entries of a single hash, and no
 * page empty while entries remain.
 *
 * <p>Hashes are drawn from a small range half the time, so equal hashes (entries that must stay in
 * one page) and hashes of both signs (unsigned order) occur in every run. Run time: under a second.
 */
class HashOrderedPageProperties {

  /** An entry and the key hash the page orders it by. */
  record Item(long hash, VersionedEntry entry) {}

  @Property(tries = 300)
  void pagesPartitionTheEntriesInHashOrderWithinTheBudget(
      @ForAll("items") List<Item> items,
      @ForAll @IntRange(min = 1, max = 4_000) int budget,
      @ForAll long seed) {
    Random random = new Random(seed);
    List<VersionedEntry> paged = new ArrayList<>();
    boolean first = true;
    long after = 0;
    int pages = 0;
    while (true) {
      HashOrderedPage<VersionedEntry> page = new HashOrderedPage<>(budget);
      List<Item> shuffled = new ArrayList<>(items);
      Collections.shuffle(shuffled, random); // each page is its own walk of an unordered map
      for (Item item : shuffled) {
        if (first || Long.compareUnsigned(item.hash(), after) > 0) {
          if (page.wants(item.hash())) {
            page.offer(item.hash(), item.entry());
          }
        }
      }
      if (page.isEmpty()) {
        assertThat(page.hasMore()).isFalse();
        break;
      }
      pages++;
      List<VersionedEntry> entries = page.entries();
      Set<Long> hashes = new HashSet<>();
      long previous = 0;
      boolean firstInPage = true;
      for (VersionedEntry entry : entries) {
        long hash = hashOf(items, entry);
        assertThat(first || Long.compareUnsigned(hash, after) > 0).isTrue();
        assertThat(firstInPage || Long.compareUnsigned(previous, hash) <= 0).isTrue();
        previous = hash;
        firstInPage = false;
        hashes.add(hash);
      }
      long bytes = entries.stream().mapToLong(HashOrderedPage::wireBytes).sum();
      assertThat(bytes).isEqualTo(page.heldBytes());
      if (hashes.size() > 1) {
        assertThat(bytes).isLessThanOrEqualTo(budget);
      }
      paged.addAll(entries);
      if (!page.hasMore()) {
        break;
      }
      after = page.lastHash();
      first = false;
      assertThat(pages).isLessThanOrEqualTo(items.size());
    }
    assertThat(paged).containsExactlyInAnyOrderElementsOf(entriesOf(items));
  }

  @Example
  void entriesOfOneHashAreNeverSplitEvenOverTheBudget() {
    List<Item> items = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      items.add(new Item(-1L, entry("same" + i, 100))); // the highest unsigned hash
    }
    items.add(new Item(3L, entry("low", 100)));
    HashOrderedPage<VersionedEntry> page = new HashOrderedPage<>(150);
    items.forEach(item -> page.offer(item.hash(), item.entry()));
    assertThat(page.entries()).containsExactly(items.get(5).entry());
    assertThat(page.hasMore()).isTrue();

    HashOrderedPage<VersionedEntry> next = new HashOrderedPage<>(150);
    for (Item item : items) {
      if (Long.compareUnsigned(item.hash(), page.lastHash()) > 0) {
        next.offer(item.hash(), item.entry());
      }
    }
    assertThat(next.entries()).hasSize(5);
    assertThat(next.hasMore()).isFalse();
  }

  @Provide
  Arbitrary<List<Item>> items() {
    Arbitrary<Long> hashes =
        Arbitraries.oneOf(
            Arbitraries.longs().between(-4, 12), // collisions and both signs
            Arbitraries.longs());
    Arbitrary<Integer> sizes = Arbitraries.integers().between(0, 600);
    return Combinators.combine(hashes, sizes)
        .as((hash, size) -> new long[] {hash, size})
        .list()
        .ofMaxSize(60)
        .map(
            drawn -> {
              List<Item> items = new ArrayList<>();
              for (int i = 0; i < drawn.size(); i++) {
                items.add(new Item(drawn.get(i)[0], entry("k" + i, (int) drawn.get(i)[1])));
              }
              return items;
            });
  }

  private static long hashOf(List<Item> items, VersionedEntry entry) {
    for (Item item : items) {
      if (item.entry() == entry) {
        return item.hash();
      }
    }
    throw new AssertionError("a page holds an entry never offered: " + entry.getKey());
  }

  private static List<VersionedEntry> entriesOf(List<Item> items) {
    List<VersionedEntry> entries = new ArrayList<>();
    items.forEach(item -> entries.add(item.entry()));
    return entries;
  }

  private static VersionedEntry entry(String key, int valueBytes) {
    return VersionedEntry.newBuilder()
        .setKey(ByteString.copyFromUtf8(key))
        .setValue(ByteString.copyFrom(new byte[valueBytes]))
        .setTimestamp(1)
        .setWriter(1)
        .build();
  }
}
