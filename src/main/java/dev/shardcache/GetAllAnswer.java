package dev.shardcache;

import com.google.protobuf.CodedOutputStream;
import dev.shardcache.internal.proto.Entry;
import dev.shardcache.internal.proto.GetAllResponse;
import io.grpc.Status;

/**
 * One {@code GetAll} answer, built within a byte bound: the serving node offers each key's entry in
 * the request's order, and the answer keeps those that fit and lists the positions of the others in
 * {@code not_included}, for the caller to ask again.
 *
 * <h2>Invariants</h2>
 *
 * <ul>
 *   <li><b>Nothing is dropped.</b> Every offered entry is either in the answer or its key's
 *       position is in {@code not_included}; a key that has no value is never offered, so the
 *       caller can tell "absent" (in neither) from "ask again".
 *   <li><b>Bounded.</b> The answer's serialized size stays within the bound, {@code not_included}
 *       included (room for every position is set aside first), unless its one entry alone is
 *       larger: a value that fits its cache's {@code maxKeyBytes} + {@code maxValueBytes} always
 *       travels, as it does in a {@code Get}.
 *   <li><b>Progress.</b> The first offered entry is always kept, so an answer that lists keys to
 *       ask again holds at least one entry, and asking again ends.
 *   <li>A caller that cannot read {@code not_included} (an earlier version, which sends no bound)
 *       is never left to take the listed keys for absent: an entry that does not fit fails the
 *       whole answer with {@code RESOURCE_EXHAUSTED} naming the limit.
 * </ul>
 *
 * <p>Not thread-safe: one thread builds one answer.
 */
final class GetAllAnswer {
  /** The most bytes one position in {@code not_included} takes: a varint of a non-negative int. */
  private static final int POSITION_BYTES = 5;

  /** Tag and length of the packed {@code not_included} field. */
  private static final int NOT_INCLUDED_FRAMING = 1 + 5;

  private final String cache;
  private final int boundBytes;
  private final long entryBudget;
  private final boolean mayLeaveOut;
  private final GetAllResponse.Builder response = GetAllResponse.newBuilder();
  private long entryBytes;

  /**
   * @param cache the cache's name, for the error
   * @param boundBytes the most bytes of the answer
   * @param keys the request's key count: each may need a position in {@code not_included}
   * @param mayLeaveOut whether the caller reads {@code not_included}; if not, an entry that does
   *     not fit fails the answer
   */
  GetAllAnswer(String cache, int boundBytes, int keys, boolean mayLeaveOut) {
    this.cache = cache;
    this.boundBytes = boundBytes;
    this.entryBudget =
        mayLeaveOut ? boundBytes - NOT_INCLUDED_FRAMING - (long) POSITION_BYTES * keys : boundBytes;
    this.mayLeaveOut = mayLeaveOut;
  }

  /**
   * Adds the entry of the key at {@code position} in the request, or lists the position in {@code
   * not_included} if it does not fit.
   *
   * @throws io.grpc.StatusRuntimeException {@code RESOURCE_EXHAUSTED} if it does not fit and the
   *     caller cannot be asked to ask again
   */
  void offer(int position, Entry entry) {
    int size = entry.getSerializedSize();
    long bytes = 1L + CodedOutputStream.computeUInt32SizeNoTag(size) + size;
    if (response.getEntriesCount() == 0 || entryBytes + bytes <= entryBudget) {
      response.addEntries(entry);
      entryBytes += bytes;
      return;
    }
    if (!mayLeaveOut) {
      throw Status.RESOURCE_EXHAUSTED
          .withDescription(
              "the getAll answer of cache '"
                  + cache
                  + "' is over this node's maxBatchBytes ("
                  + boundBytes
                  + " bytes) and the caller, of an earlier version, cannot ask for the rest"
                  + " again; upgrade every member, or ask for fewer keys at a time")
          .asRuntimeException();
    }
    response.addNotIncluded(position);
  }

  /** The keys listed to ask again so far. */
  int notIncludedCount() {
    return response.getNotIncludedCount();
  }

  GetAllResponse build() {
    return response.build();
  }
}
