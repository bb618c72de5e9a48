package dev.shardcache.examples.boot;

import java.io.Serializable;

/**
 * A cached value. It travels between instances with the library's allow-listed Java serialization,
 * so it is {@link Serializable} and its package is allowed in {@code application.properties}.
 *
 * @param isbn the book's ISBN
 * @param title its title
 * @param loadedBy the instance whose "database" produced it
 */
public record Book(String isbn, String title, String loadedBy) implements Serializable {}
