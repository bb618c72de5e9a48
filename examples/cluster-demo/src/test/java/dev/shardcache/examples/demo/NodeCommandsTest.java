package dev.shardcache.examples.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.shardcache.DistributedCache;
import dev.shardcache.ShardcacheNode;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Checks the demo's line protocol against one real, in-process node (no child JVMs), so a broken
 * command shows up here rather than as a hung demo.
 */
class NodeCommandsTest {

  private ShardcacheNode node;
  private SlowProductDb db;
  private NodeCommands commands;

  @BeforeEach
  void startNode() throws Exception {
    db = new SlowProductDb(Duration.ofMillis(20));
    node = ShardcacheNode.builder().listen("127.0.0.1", 0).build();
    DistributedCache<String, String> products = node.cache("products", DemoNode.productsConfig(db));
    node.start();
    db.setNodeAddress(node.address());
    commands = new NodeCommands(node, products, db);
  }

  @AfterEach
  void closeNode() {
    node.close();
  }

  @Test
  void getLoadsOnceThenHits() {
    assertEquals("OK members=1", commands.handle("PEERS " + node.address()));
    String value = "VALUE product-sku-1@" + node.address();
    assertEquals(value, commands.handle("GET sku-1"));
    assertEquals(value, commands.handle("GET sku-1"));
    assertEquals("LOADS 1", commands.handle("LOADS sku-1"));
    assertEquals("OWNER " + node.address(), commands.handle("OWNER sku-1"));

    NodeStats stats = NodeStats.parse(commands.handle("STATS").substring("STATS".length()));
    assertEquals(1, stats.localSize());
    assertEquals(1, stats.loads());
    assertEquals(1, stats.loaderCalls());
    assertEquals(1, stats.hits());
  }

  @Test
  void getAllAnswersEveryKey() {
    String answer = commands.handle("GETALL a b c");
    assertTrue(answer.startsWith("VALUES "), answer);
    assertEquals(3, answer.split(" ").length - 1, answer);
    assertTrue(answer.contains("b=product-b@" + node.address()), answer);
  }

  @Test
  void burstOfConcurrentGetsLoadsOnce() {
    String answer = commands.handle("BURST hot 16 " + (System.currentTimeMillis() + 50));
    assertTrue(answer.startsWith("BURST ok=16 failed=0 distinctValues=1 "), answer);
    assertEquals("LOADS 1", commands.handle("LOADS hot"));
  }

  @Test
  void badCommandsAnswerErrorAndExitIsAcknowledged() {
    assertTrue(commands.handle("FROB x").startsWith("ERROR unknown command"));
    assertTrue(commands.handle("GET").startsWith("ERROR"));
    assertTrue(commands.handle("BURST k many").startsWith("ERROR"));
    assertEquals("BYE", commands.handle("EXIT"));
    assertTrue(commands.exitRequested());
  }

  @Test
  void summaryWrapsLongCells() {
    assertEquals(java.util.List.of("one two", "three"), Summary.wrap("one two three", 7));
    assertEquals(java.util.List.of("abcdefg", "hij"), Summary.wrap("abcdefghij", 7));
  }
}
