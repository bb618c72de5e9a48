/**
 * What the JSR-107 TCK needs from an implementation besides the implementation itself, for the
 * {@code jcache-tck} Maven profile. The TCK's own domain classes ship in {@code
 * javax.cache:cache-tests}, so none are needed here.
 */
@NullMarked
package dev.shardcache.jcache.tck;

import org.jspecify.annotations.NullMarked;
