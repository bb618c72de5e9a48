package dev.shardcache.examples.plain;

import java.util.concurrent.atomic.AtomicInteger;

/** The real implementation: slow (150 ms a forecast), and it counts its calls. */
final class SlowWeatherService implements WeatherService {
  private final String node;
  private final AtomicInteger computations = new AtomicInteger();

  SlowWeatherService(String node) {
    this.node = node;
  }

  int computations() {
    return computations.get();
  }

  @Override
  public Forecast forecast(String city, int day, String units) {
    computations.incrementAndGet();
    try {
      Thread.sleep(150);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    int temperature = Math.floorMod((city.hashCode() + day * 7), 25);
    return new Forecast(city, day, "sunny, " + temperature + " C", node);
  }

  @Override
  public void correct(String city, int day, Forecast forecast) {}

  @Override
  public void invalidate(String city, int day) {}

  @Override
  public void invalidateAll() {}
}
