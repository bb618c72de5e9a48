package dev.shardcache;

import org.jspecify.annotations.Nullable;

/**
 * Thrown by a {@link CacheScan} when the entries of one member could not be read: the member could
 * not be reached or stopped answering mid-scan, did not answer a page within {@code remoteTimeout},
 * answered with an error (such as not defining the cache), or sent an entry this node cannot
 * decode. The scan is incomplete, and says so rather than skipping the member: the entries already
 * delivered are correct, but some of that member's entries (those not delivered yet) were not seen.
 * Scan again once the member answers, or once it has left the ring (its keys then have other
 * owners).
 */
public final class ScanIncompleteException extends ShardcacheException {
  private static final long serialVersionUID = 1L;

  private final String member;
  private final long entriesDelivered;

  public ScanIncompleteException(
      String member, long entriesDelivered, String message, @Nullable Throwable cause) {
    super(message, cause);
    this.member = member;
    this.entriesDelivered = entriesDelivered;
  }

  /** The "host:port" of the member whose entries could not be read. */
  public String member() {
    return member;
  }

  /** How many entries the scan had delivered, from every member, before it failed. */
  public long entriesDelivered() {
    return entriesDelivered;
  }
}
