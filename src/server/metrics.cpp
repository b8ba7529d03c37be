#include "server/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/error.h"

namespace glmasr::server {

namespace {

// Shortest round-trip text; Prometheus spells infinities +Inf/-Inf and NaN as NaN.
std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

// Label values escape backslash, double quote and line feed; HELP text escapes the first and last.
std::string escaped(const std::string& text, bool quote) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quote)
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

// `{a="1",b="2"}`, or empty for no labels.
std::string label_text(const MetricLabels& labels) {
  std::string out;
  for (const auto& [name, value] : labels)
    out += (out.empty() ? "" : ",") + name + "=\"" + escaped(value, true) + "\"";
  return out.empty() ? "" : "{" + out + "}";
}

// A label set as stored: the text inside the braces.
std::string label_key(const MetricLabels& labels) {
  const std::string text = label_text(labels);
  return text.empty() ? "" : text.substr(1, text.size() - 2);
}

// `{key,extra}`, either part possibly empty (extra: the histogram's le).
std::string with_extra(const std::string& key, const std::string& extra) {
  if (key.empty()) return extra.empty() ? "" : "{" + extra + "}";
  return "{" + key + (extra.empty() ? "" : "," + extra) + "}";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  GLMASR_CHECK(std::is_sorted(bounds_.begin(), bounds_.end()) &&
                   std::adjacent_find(bounds_.begin(), bounds_.end()) == bounds_.end(),
               "histogram bucket bounds must increase strictly");
}

void Histogram::observe(double value) {
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  std::lock_guard lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  std::lock_guard lock(mutex_);
  uint64_t running = 0;
  for (uint64_t count : counts_) snapshot.cumulative.push_back(running += count);
  snapshot.sum = sum_;
  snapshot.count = running;
  return snapshot;
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, const std::string& help,
                                                 Type type) {
  for (auto& family : families_) {
    if (family->name != name) continue;
    GLMASR_CHECK(family->type == type, "metric ", name, " is registered with another type");
    return *family;
  }
  families_.push_back(std::make_unique<Family>(Family{
      .name = name, .help = help, .type = type, .counters = {}, .gauges = {}, .histograms = {}}));
  return *families_.back();
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, Type::kCounter).counters[label_key(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, Type::kGauge).gauges[label_key(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const std::vector<double>& bounds,
                                      const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, Type::kHistogram).histograms[label_key(labels)];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& family : families_) {
    static constexpr const char* kTypeNames[] = {"counter", "gauge", "histogram"};
    out += "# HELP " + family->name + " " + escaped(family->help, false) + "\n";
    out += "# TYPE " + family->name + " " + kTypeNames[static_cast<int>(family->type)] + "\n";
    for (const auto& [key, counter] : family->counters)
      out += family->name + with_extra(key, "") + " " + number(counter->value()) + "\n";
    for (const auto& [key, gauge] : family->gauges)
      out += family->name + with_extra(key, "") + " " + number(gauge->value()) + "\n";
    for (const auto& [key, histogram] : family->histograms) {
      const Histogram::Snapshot snapshot = histogram->snapshot();
      for (size_t i = 0; i <= snapshot.bounds.size(); ++i) {
        const std::string le =
            i < snapshot.bounds.size() ? number(snapshot.bounds[i]) : std::string("+Inf");
        out += family->name + "_bucket" + with_extra(key, "le=\"" + le + "\"") + " " +
               std::to_string(snapshot.cumulative[i]) + "\n";
      }
      out += family->name + "_sum" + with_extra(key, "") + " " + number(snapshot.sum) + "\n";
      out += family->name + "_count" + with_extra(key, "") + " " + std::to_string(snapshot.count) +
             "\n";
    }
  }
  return out;
}

}  // namespace glmasr::server
