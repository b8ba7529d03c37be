// The metrics registry's Prometheus text: HELP/TYPE lines, labels and their escaping,
// cumulative histogram buckets, and one type per name.
#include <gtest/gtest.h>

#include <thread>

#include "core/error.h"
#include "server/metrics.h"

namespace glmasr::server {
namespace {

TEST(MetricsRegistry, RendersCountersAndGaugesWithHelpAndType) {
  MetricsRegistry registry;
  registry.counter("glmasr:tokens_total", "Tokens.").add(3);
  registry.counter("glmasr:tokens_total", "Tokens.").add(0.5);
  registry.gauge("glmasr:queue", "Queue length.").set(7);
  EXPECT_EQ(registry.render(),
            "# HELP glmasr:tokens_total Tokens.\n"
            "# TYPE glmasr:tokens_total counter\n"
            "glmasr:tokens_total 3.5\n"
            "# HELP glmasr:queue Queue length.\n"
            "# TYPE glmasr:queue gauge\n"
            "glmasr:queue 7\n");
}

TEST(MetricsRegistry, LabelSetsAreSeparateSeriesWithEscapedValues) {
  MetricsRegistry registry;
  registry.counter("c", "Help with \\ and\nnewline.", {{"reason", "a\"b\\c\nd"}}).add();
  registry.counter("c", "ignored", {{"reason", "plain"}}).add(2);
  const std::string text = registry.render();
  EXPECT_NE(text.find("# HELP c Help with \\\\ and\\nnewline.\n"), std::string::npos) << text;
  EXPECT_NE(text.find("c{reason=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("c{reason=\"plain\"} 2\n"), std::string::npos) << text;
}

TEST(MetricsRegistry, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  MetricsRegistry registry;
  Histogram& latency = registry.histogram("lat", "Latency.", {0.1, 1}, {{"route", "x"}});
  for (double value : {0.05, 0.1, 0.5, 3.0}) latency.observe(value);
  EXPECT_EQ(registry.render(),
            "# HELP lat Latency.\n"
            "# TYPE lat histogram\n"
            "lat_bucket{route=\"x\",le=\"0.1\"} 2\n"
            "lat_bucket{route=\"x\",le=\"1\"} 3\n"
            "lat_bucket{route=\"x\",le=\"+Inf\"} 4\n"
            "lat_sum{route=\"x\"} 3.65\n"
            "lat_count{route=\"x\"} 4\n");
}

TEST(MetricsRegistry, ANameKeepsItsType) {
  MetricsRegistry registry;
  registry.counter("x", "X.");
  EXPECT_THROW(registry.gauge("x", "X."), Error);
  EXPECT_THROW(Histogram(std::vector<double>(2, 1.0)), Error);  // bounds must increase
}

TEST(MetricsRegistry, ConcurrentUpdatesAreAllCounted) {
  MetricsRegistry registry;
  Counter& counter = registry.counter("n", "N.");
  Histogram& histogram = registry.histogram("h", "H.", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter.add();
        histogram.observe(0.5);
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.value(), 40000);
  EXPECT_EQ(histogram.snapshot().count, 40000u);
}

}  // namespace
}  // namespace glmasr::server
