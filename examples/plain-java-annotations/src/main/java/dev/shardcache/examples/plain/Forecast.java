package dev.shardcache.examples.plain;

import java.io.Serializable;

/**
 * A cached value: a {@link Serializable} record, whose class the demo allows the value codec to
 * decode.
 *
 * @param city the city
 * @param day days from today
 * @param summary the forecast
 * @param computedBy the node whose service computed it
 */
public record Forecast(String city, int day, String summary, String computedBy)
    implements Serializable {}
