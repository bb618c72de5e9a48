package dev.shardcache.examples.boot;

import dev.shardcache.ShardcacheNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.ApplicationRunner;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.stereotype.Component;

/**
 * The instance's control channel for the launcher, on stdin/stdout, one line each way: {@code FIND
 * isbn} answers {@code BOOK <title> loaded-by <instance> in <ms> ms}, {@code EVICT isbn} answers
 * {@code OK}, {@code CALLS} answers the number of database calls made here, {@code EXIT} closes the
 * context (and the node) and answers {@code BYE}. On start it prints {@code READY host:port}. Every
 * protocol line starts with {@code @}, so log lines that reach stdout are ignored. When stdin
 * closes (the launcher died), the instance exits.
 *
 * <p>Runs on the main thread after the context has started (and so after the node serves).
 */
@Component
public class Console implements ApplicationRunner {
  private final BookCatalog catalog;
  private final ShardcacheNode node;
  private final ConfigurableApplicationContext context;

  public Console(BookCatalog catalog, ShardcacheNode node, ConfigurableApplicationContext context) {
    this.catalog = catalog;
    this.node = node;
    this.context = context;
  }

  @Override
  public void run(ApplicationArguments args) throws Exception {
    if (!args.containsOption("console")) {
      return; // started by hand: no launcher to talk to
    }
    say("READY " + node.address());
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String[] words = line.trim().split("\\s+", 2);
      try {
        switch (words[0]) {
          case "FIND" -> {
            long start = System.nanoTime();
            Book book = catalog.find(words[1]);
            long millis = (System.nanoTime() - start) / 1_000_000;
            say("BOOK " + book.title() + " loaded-by " + book.loadedBy() + " in " + millis + " ms");
          }
          case "EVICT" -> {
            catalog.bookChanged(words[1]);
            say("OK");
          }
          case "CALLS" -> say("CALLS " + catalog.databaseCalls());
          case "EXIT" -> {
            context.close();
            say("BYE");
            return;
          }
          default -> say("ERROR unknown command " + words[0]);
        }
      } catch (Exception e) {
        say("ERROR " + e);
      }
    }
    context.close(); // stdin closed: the launcher is gone
  }

  private static void say(String line) {
    System.out.println("@" + line);
    System.out.flush();
  }
}
