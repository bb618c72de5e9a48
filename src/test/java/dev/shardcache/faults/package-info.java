/**
 * Regression tests for defects found in review, one class per defect, named for the behaviour it
 * pins. They use only the public API (and the public test utilities of {@code
 * dev.shardcache.testing}), real nodes on 127.0.0.1, and assert behaviour (counts, values,
 * exceptions), never timings. Each prints the figures it measured to standard output (in {@code
 * target/surefire-reports/*-output.txt}).
 *
 * <ul>
 *   <li>{@link dev.shardcache.faults.SlowLoaderTest}: a loader slower than the remote timeout is
 *       not a dead owner.
 *   <li>{@link dev.shardcache.faults.GetAllSlowLoaderTest}: a {@code getAll} loads each key once.
 *   <li>{@link dev.shardcache.faults.ReadYourWritesDuringMembershipChangeTest}: read-your-writes
 *       through one node during scale-out and scale-in.
 *   <li>{@link dev.shardcache.faults.PausedReplicaWriteTest}: a paused replica does not make a
 *       healthy owner look dead, nor an applied write look unapplied.
 * </ul>
 */
package dev.shardcache.faults;
