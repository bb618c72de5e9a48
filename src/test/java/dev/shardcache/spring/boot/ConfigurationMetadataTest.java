package dev.shardcache.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import java.beans.PropertyDescriptor;
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.beans.BeanUtils;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The configuration metadata this jar ships ({@code META-INF/spring-configuration-metadata.json},
 * written by Spring Boot's configuration processor from {@link ShardcacheProperties} and merged
 * with {@code additional-spring-configuration-metadata.json}): every property of the properties
 * class, nested ones included, is in it with a description, and every property with a default has
 * that default in it, so an IDE completes and documents all of them.
 */
class ConfigurationMetadataTest {

  /** A property as the properties class defines it, and its value in a fresh instance. */
  private record Defined(String name, Class<?> type, Object initial) {}

  @Test
  void everyPropertyIsDescribedWithItsDefault() throws IOException {
    Map<String, JsonNode> metadata = metadata();
    List<Defined> defined = new ArrayList<>();
    walk("shardcache", ShardcacheProperties.class, new ShardcacheProperties(), defined);
    assertThat(defined).hasSizeGreaterThan(20);

    for (Defined property : defined) {
      JsonNode entry = metadata.get(property.name());
      assertThat(entry).as("%s in the metadata", property.name()).isNotNull();
      assertThat(entry.path("description").asString(""))
          .as("description of %s", property.name())
          .isNotBlank();
      Object initial = property.initial();
      if (initial == null
          || (initial instanceof Collection<?> c && c.isEmpty())
          || (initial instanceof Map<?, ?> m && m.isEmpty())) {
        continue;
      }
      JsonNode defaultValue = entry.get("defaultValue");
      assertThat(defaultValue).as("default of %s", property.name()).isNotNull();
      if (initial instanceof Duration duration) {
        assertThat(
                org.springframework.boot.convert.DurationStyle.detectAndParse(
                    defaultValue.asString()))
            .as("default of %s", property.name())
            .isEqualTo(duration);
      } else {
        assertThat(defaultValue.asString())
            .as("default of %s", property.name())
            .isEqualTo(String.valueOf(initial));
      }
    }
  }

  @Test
  void theLibraryDefaultsThatUnsetPropertiesLeaveAreDocumented() throws IOException {
    Map<String, JsonNode> metadata = metadata();
    assertThat(metadata.get("shardcache.cache-defaults.maximum-size").get("defaultValue").asLong())
        .isEqualTo(dev.shardcache.CacheConfig.DEFAULT_MAXIMUM_SIZE);
    assertThat(metadata.get("shardcache.virtual-nodes").get("defaultValue").asInt())
        .isEqualTo(dev.shardcache.ring.HashRing.DEFAULT_VIRTUAL_NODES);
    assertThat(metadata.get("shardcache.max-subscribed-clients").get("defaultValue").asInt())
        .isEqualTo(dev.shardcache.ShardcacheNode.DEFAULT_MAX_SUBSCRIBED_CLIENTS);
    assertThat(
            metadata.get("shardcache.cache-defaults.remote-timeout").get("defaultValue").asString())
        .isEqualTo("5s");
    assertThat(metadata.get("shardcache.cache-defaults.maximum-weight").get("type").asString())
        .isEqualTo("org.springframework.util.unit.DataSize");
  }

  /**
   * Collects the properties of {@code type} under {@code prefix}: a property whose type is one of
   * {@link ShardcacheProperties}' nested classes is a group, walked in turn; a map of them (such as
   * {@code caches}) is one property, as the metadata format describes maps.
   */
  private static void walk(String prefix, Class<?> type, Object instance, List<Defined> into) {
    for (PropertyDescriptor descriptor : BeanUtils.getPropertyDescriptors(type)) {
      if (descriptor.getReadMethod() == null || descriptor.getWriteMethod() == null) {
        continue;
      }
      String name = prefix + "." + kebab(descriptor.getName());
      Object value;
      try {
        value = descriptor.getReadMethod().invoke(instance);
      } catch (ReflectiveOperationException e) {
        throw new AssertionError(e);
      }
      Class<?> propertyType = descriptor.getPropertyType();
      if (propertyType.getDeclaringClass() == ShardcacheProperties.class) {
        walk(name, propertyType, value, into);
      } else {
        into.add(new Defined(name, propertyType, value));
      }
    }
  }

  private static String kebab(String camel) {
    StringBuilder kebab = new StringBuilder();
    for (char c : camel.toCharArray()) {
      if (Character.isUpperCase(c)) {
        kebab.append('-').append(Character.toLowerCase(c));
      } else {
        kebab.append(c);
      }
    }
    return kebab.toString();
  }

  /** The properties of the metadata file that describes {@code shardcache.*}, by name. */
  private static Map<String, JsonNode> metadata() throws IOException {
    JsonMapper json = JsonMapper.builder().build();
    for (URL url :
        Collections.list(
            ConfigurationMetadataTest.class
                .getClassLoader()
                .getResources("META-INF/spring-configuration-metadata.json"))) {
      JsonNode root;
      try (InputStream in = url.openStream()) {
        root = json.readTree(in);
      }
      Map<String, JsonNode> properties = new HashMap<>();
      for (JsonNode property : root.path("properties")) {
        properties.put(property.get("name").asString(), property);
      }
      if (properties.containsKey("shardcache.enabled")) {
        return properties;
      }
    }
    throw new AssertionError("no spring-configuration-metadata.json describes shardcache.*");
  }
}
