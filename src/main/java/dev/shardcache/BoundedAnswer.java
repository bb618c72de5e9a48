package dev.shardcache;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.MessageLite;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.IntPredicate;

/**
 * One answer to a request for many keys ({@code GetAll}, {@code Fetch}), built within a byte bound:
 * the serving node offers each key's entry in the request's order, and the answer keeps those that
 * fit and lists the positions of the others in {@code not_included}, for the caller to ask again.
 *
 * <p>The answer's message must have the entries as field 1 and the positions as packed field 2, and
 * no other field ({@code GetAllResponse} and {@code FetchResponse} do): the bound counts their
 * framing so.
 *
 * <h2>Invariants</h2>
 *
 * <ul>
 *   <li><b>Nothing is dropped.</b> Every offered entry is either in the answer or its key's
 *       position is in {@code not_included}; a key that has no entry is never offered, so the
 *       caller can tell "none" (in neither) from "ask again".
 *   <li><b>Bounded.</b> The answer's serialized size stays within the bound, {@code not_included}
 *       included (room for every position is set aside first), unless its one entry alone is
 *       larger: an entry that fits its cache's {@code maxKeyBytes} + {@code maxValueBytes} always
 *       travels, as it does in a {@code Get}.
 *   <li><b>Progress.</b> The first offered entry is always kept, so an answer that lists keys to
 *       ask again holds at least one entry, and asking again ends. A caller checks this of every
 *       answer it reads ({@link #checkedNotIncluded}).
 *   <li>A caller that cannot read {@code not_included} (an earlier version, which sends no bound)
 *       is never left to take the listed keys for absent: an entry that does not fit fails the
 *       whole answer with {@code RESOURCE_EXHAUSTED} naming the limit.
 * </ul>
 *
 * <p>Not thread-safe: one thread builds one answer.
 *
 * @param <E> the entry message: {@code Entry} for a {@code GetAll}, {@code VersionedEntry} for a
 *     {@code Fetch}
 */
final class BoundedAnswer<E extends MessageLite> {
  /** The most bytes one position in {@code not_included} takes: a varint of a non-negative int. */
  private static final int POSITION_BYTES = 5;

  /** Tag and length of the packed {@code not_included} field. */
  private static final int NOT_INCLUDED_FRAMING = 1 + 5;

  private final String call;
  private final String cache;
  private final int boundBytes;
  private final long entryBudget;
  private final boolean mayLeaveOut;
  private final List<E> entries = new ArrayList<>();
  private final List<Integer> notIncluded = new ArrayList<>();
  private long entryBytes;

  /**
   * @param call the request answered ("getAll", "fetch"), for the error
   * @param cache the cache's name, for the error
   * @param boundBytes the most bytes of the answer
   * @param keys the request's key count: each may need a position in {@code not_included}
   * @param mayLeaveOut whether the caller reads {@code not_included}; if not, an entry that does
   *     not fit fails the answer
   */
  BoundedAnswer(String call, String cache, int boundBytes, int keys, boolean mayLeaveOut) {
    this.call = call;
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
  void offer(int position, E entry) {
    int size = entry.getSerializedSize();
    long bytes = 1L + CodedOutputStream.computeUInt32SizeNoTag(size) + size;
    if (entries.isEmpty() || entryBytes + bytes <= entryBudget) {
      entries.add(entry);
      entryBytes += bytes;
      return;
    }
    if (!mayLeaveOut) {
      throw Status.RESOURCE_EXHAUSTED
          .withDescription(
              "the "
                  + call
                  + " answer of cache '"
                  + cache
                  + "' is over this node's maxBatchBytes ("
                  + boundBytes
                  + " bytes) and the caller, of an earlier version, cannot ask for the rest"
                  + " again; upgrade every member, or ask for fewer keys at a time")
          .asRuntimeException();
    }
    notIncluded.add(position);
  }

  /** The entries kept, in the order offered: the answer's field 1. */
  List<E> entries() {
    return Collections.unmodifiableList(entries);
  }

  /** The positions left out, ascending: the answer's field 2. */
  List<Integer> notIncluded() {
    return Collections.unmodifiableList(notIncluded);
  }

  /**
   * What a caller reads of an answer's {@code not_included}: the positions to ask again, in the
   * answer's order, once each the answer is checked to be one this class could have built.
   *
   * @param notIncluded the answer's {@code not_included}
   * @param keys how many keys the request asked for
   * @param answered how many of the keys asked the answer holds an entry for
   * @param isAnswered whether the answer holds an entry for the key at a position
   * @throws IllegalArgumentException naming what is wrong, if a position is outside the request,
   *     listed twice or also answered, or if keys are listed and none answered (asking again would
   *     never end)
   */
  static Set<Integer> checkedNotIncluded(
      List<Integer> notIncluded, int keys, int answered, IntPredicate isAnswered) {
    Set<Integer> positions = new LinkedHashSet<>();
    for (int position : notIncluded) {
      if (position < 0
          || position >= keys
          || !positions.add(position)
          || isAnswered.test(position)) {
        throw new IllegalArgumentException(
            "a key to ask again that it answered or was not asked for");
      }
    }
    if (!positions.isEmpty() && answered == 0) {
      throw new IllegalArgumentException("keys to ask again and no value");
    }
    return positions;
  }
}
