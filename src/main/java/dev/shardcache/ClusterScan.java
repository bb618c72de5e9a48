package dev.shardcache;

import dev.shardcache.internal.proto.Entry;
import dev.shardcache.internal.proto.ScanPageRequest;
import dev.shardcache.internal.proto.ScanPageResponse;
import io.grpc.Status;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * A {@link CacheScan} started on this node: the members of this node's ring at the start, this node
 * first, then the others in name order, each read page by page through {@link ScanPages} (this
 * node's own pages without a call, the others' with one {@code ScanPage} call per page).
 *
 * <h2>Invariants</h2>
 *
 * <ul>
 *   <li><b>Two pages at most.</b> The scan holds the page being consumed and at most one call for
 *       the page after it (of the same member, or the first of the next one), started when the page
 *       before it is taken up: a slow consumer leaves every member idle, and memory stays within
 *       two pages of the caller's {@code maxBatchBytes} (each page is decoded one entry at a time,
 *       as it is consumed).
 *   <li><b>A member's cursor only moves forward.</b> Each page's cursor must be above the one
 *       before it; a member that answers otherwise fails the scan, rather than looping over the
 *       same entries for ever.
 *   <li><b>Failure is sticky and named.</b> The first member that could not be read fails the scan
 *       with a {@link ScanIncompleteException}; every later {@link #hasNext()} or {@link #next()}
 *       throws it again, and the scan closes, cancelling a call on its way.
 * </ul>
 *
 * <p>Not thread-safe: one consumer thread. Blocks in {@link #hasNext()} and {@link #next()} for a
 * page on its way, at most the cache's {@code remoteTimeout} per page.
 */
final class ClusterScan<K, V> implements CacheScan<K, V> {
  private final CacheScope<K, V> scope;
  private final ScanPages<K, V> local;
  private final Cluster cluster;
  private final Deque<MemberCursor> members = new ArrayDeque<>();

  private @Nullable ScanPageResponse page;
  private String pageMember = "";
  private int position;
  private Map.@Nullable Entry<K, V> next;
  private long delivered;
  private @Nullable ScanIncompleteException failure;
  private boolean closed;

  /**
   * A scan of the members of {@code cluster}'s current ring.
   *
   * @throws IllegalStateException if the node is not running
   */
  ClusterScan(CacheScope<K, V> scope, ScanPages<K, V> local) {
    this.scope = scope;
    this.local = local;
    this.cluster = scope.clusters().get();
    List<String> others = new ArrayList<>();
    boolean selfInRing = false;
    for (String member : cluster.ring().nodes()) {
      if (cluster.isSelf(member)) {
        selfInRing = true;
      } else {
        others.add(member);
      }
    }
    if (selfInRing) {
      members.add(new MemberCursor(cluster.self(), true));
    }
    others.forEach(member -> members.add(new MemberCursor(member, false)));
  }

  @Override
  public boolean hasNext() {
    if (next != null) {
      return true;
    }
    if (failure != null) {
      throw failure;
    }
    while (!closed) {
      ScanPageResponse current = page;
      if (current != null && position < current.getEntriesCount()) {
        next = decode(current.getEntries(position++));
        return true;
      }
      page = null;
      if (!takeNextPage()) {
        close();
      }
    }
    return false;
  }

  @Override
  public Map.Entry<K, V> next() {
    if (!hasNext()) {
      throw new NoSuchElementException("the scan of cache '" + scope.name() + "' has ended");
    }
    Map.Entry<K, V> entry = next;
    if (entry == null) {
      throw new AssertionError("hasNext() left no entry");
    }
    next = null;
    delivered++;
    return entry;
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    page = null;
    next = null;
    for (MemberCursor member : members) {
      member.cancel();
    }
    members.clear();
  }

  /** Takes the next page into {@link #page}; false when every member has been read to its end. */
  private boolean takeNextPage() {
    while (!members.isEmpty()) {
      MemberCursor member = members.getFirst();
      if (member.done) {
        members.removeFirst();
        continue;
      }
      ScanPageResponse taken = member.take();
      scope.counters().scanPagesTaken.increment();
      page = taken;
      pageMember = member.address;
      position = 0;
      askAhead();
      return true;
    }
    return false;
  }

  /** Starts the call for the page after the one just taken, if it comes from a peer. */
  private void askAhead() {
    for (MemberCursor member : members) {
      if (!member.done) {
        member.askAhead();
        return;
      }
    }
  }

  private Map.Entry<K, V> decode(Entry entry) {
    try {
      K key = scope.codec().decodeKey(entry.getKey());
      V value = scope.codec().decodeValue(entry.getValue(), pageMember);
      return Map.entry(key, value);
    } catch (RuntimeException e) {
      throw fail(
          pageMember,
          "member "
              + pageMember
              + " answered an entry of cache '"
              + scope.name()
              + "' this node cannot decode ("
              + e.getMessage()
              + "); configure the same codecs and size limits for the cache on every member",
          e);
    }
  }

  private ScanIncompleteException fail(String member, String why, @Nullable Throwable cause) {
    ScanIncompleteException failed =
        new ScanIncompleteException(
            member,
            delivered,
            "scan of cache '"
                + scope.name()
                + "' incomplete after "
                + delivered
                + " entries: "
                + why
                + "; not all of the entries that member owns were seen",
            cause);
    failure = failed;
    close();
    return failed;
  }

  /** Where the scan of one member stands. */
  private final class MemberCursor {
    final String address;
    final boolean self;
    boolean started;
    long afterHash;
    boolean done;
    @Nullable CompletableFuture<ScanPageResponse> inFlight;

    MemberCursor(String address, boolean self) {
      this.address = address;
      this.self = self;
    }

    /** Starts the call for this member's next page now, if it is a peer and none is on its way. */
    void askAhead() {
      if (!self && inFlight == null) {
        inFlight = call();
      }
    }

    /** This member's next page, waiting for it if need be; advances the cursor. */
    ScanPageResponse take() {
      ScanPageResponse response;
      if (self) {
        response = local.page(started, afterHash, scope.maxBatchBytes(), () -> closed);
      } else {
        CompletableFuture<ScanPageResponse> call = inFlight != null ? inFlight : call();
        inFlight = null;
        try {
          response = PeerCalls.await(call);
        } catch (PeerCalls.PeerCallException e) {
          throw fail(address, describe(e), e);
        }
      }
      if (!response.hasNextAfterHash()) {
        done = true;
      } else if (started && Long.compareUnsigned(response.getNextAfterHash(), afterHash) <= 0) {
        throw fail(
            address,
            "member " + address + " answered a page whose cursor does not move forward",
            null);
      } else {
        started = true;
        afterHash = response.getNextAfterHash();
      }
      return response;
    }

    private CompletableFuture<ScanPageResponse> call() {
      ScanPageRequest.Builder request =
          ScanPageRequest.newBuilder()
              .setCache(scope.name())
              .setCaller(cluster.self())
              .setMaxAnswerBytes(scope.maxBatchBytes());
      if (started) {
        request.setAfterHash(afterHash);
      }
      ScanPageRequest built = request.build();
      return PeerCalls.read(
          cluster.client(address),
          address,
          scope.config().remoteTimeout(),
          scope.counters(),
          stub -> stub.scanPage(built));
    }

    void cancel() {
      CompletableFuture<ScanPageResponse> call = inFlight;
      inFlight = null;
      if (call != null) {
        call.cancel(true);
      }
    }

    private String describe(PeerCalls.PeerCallException e) {
      Status status = e.status();
      String detail =
          status.getCode()
              + (status.getDescription() == null ? "" : ": " + status.getDescription());
      return switch (e.failure()) {
        case UNREACHABLE ->
            "member "
                + address
                + " could not be reached ("
                + detail
                + "); scan again once it answers, or once it has left the ring";
        case SLOW ->
            "member "
                + address
                + " did not answer a page within remoteTimeout "
                + scope.config().remoteTimeout()
                + "; it answers heartbeats, so it is slow, not down: scan again later";
        case REFUSED ->
            status.getCode() == Status.Code.UNIMPLEMENTED
                ? "member "
                    + address
                    + " runs a version without cluster-wide iteration (ScanPage); upgrade every"
                    + " member"
                : "member " + address + " refused a page (" + detail + ")";
      };
    }
  }
}
