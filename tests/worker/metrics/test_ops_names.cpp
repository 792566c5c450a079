// unit: ops/grafana and ops/prometheus name only metrics that WorkerMetrics or DispatcherMetrics
// define.
#include <doctest/doctest.h>

#include <functional>
#include <set>

#include <prometheus/registry.h>

#include "common/json_fields.hpp"
#include "tests/worker/cache/cache_test_support.hpp"
#include "dispatcher/metrics.hpp"
#include "worker/metrics/worker_metrics.hpp"

namespace {

// Every series name a scrape of WorkerMetrics or DispatcherMetrics can contain (histograms:
// _bucket, _sum, _count), plus `up` (Prometheus' own).
std::set<std::string> defined_series_names() {
  ff::worker::MetricsConfig c;
  c.bind_address = "";
  ff::worker::WorkerMetrics m(c);
  ff::dispatcher::DispatcherMetrics d({"", "", 1000}, nullptr);
  std::set<std::string> names{"up"};
  auto families = m.registry()->Collect();
  for (auto& f : d.registry()->Collect()) families.push_back(f);
  for (const auto& f : families) {
    names.insert(f.name);
    if (f.type == prometheus::MetricType::Histogram) {
      names.insert(f.name + "_bucket");
      names.insert(f.name + "_sum");
      names.insert(f.name + "_count");
    }
  }
  return names;
}

void walk(const ff::json::Json& v, const std::string& key,
          const std::function<void(const std::string& key, const std::string& s)>& on_string) {
  if (v.is_string()) on_string(key, v.get<std::string>());
  if (v.is_array())
    for (const auto& e : v) walk(e, key, on_string);
  if (v.is_object())
    for (const auto& [k, e] : v.items()) walk(e, k, on_string);
}

}  // namespace

TEST_CASE("Grafana dashboard: every expr names only metrics WorkerMetrics defines") {
  const auto defined = defined_series_names();
  const auto dash = ff::json::parse(ff::test::read_file(ff::test::source_path("ops/grafana/framefarm.json")), "test");
  size_t exprs = 0;
  std::set<std::string> used;
  walk(dash, "", [&](const std::string& key, const std::string& s) {
    const auto names = ff::test::promql_metric_names(s);
    if (key == "expr") {
      ++exprs;
      INFO(s);
      // A framefarm metric, or Prometheus' own scrape health `up`.
      CHECK((!names.empty() || s.find("up{job=\"framefarm-") != std::string::npos));
    }
    for (const auto& n : names) {
      INFO("dashboard string: " << s);
      CHECK_MESSAGE(defined.count(n) == 1, "undefined metric " << n);
      used.insert(n);
    }
  });
  CHECK(exprs >= 10);
  // Every panel has at least one query.
  for (const auto& p : dash["panels"]) {
    INFO(p["title"].get<std::string>());
    CHECK(p["targets"].size() >= 1);
  }
  // What the dashboard must show (issue 4): per-component peak VRAM, plan, stream bandwidth,
  // cache hit ratio, phase latency quantiles, jobs by outcome.
  for (const char* n : {"framefarm_component_peak_vram_bytes", "framefarm_component_placement_info",
                        "framefarm_component_resident_blocks",
                        "framefarm_component_stream_bandwidth_bytes_per_second",
                        "framefarm_embedding_cache_hits_total",
                        "framefarm_embedding_cache_misses_total",
                        "framefarm_job_phase_duration_seconds_bucket", "framefarm_job_attempts_total",
                        // issue 11: workers alive, queue by state, end-to-end latency, engine state
                        "framefarm_workers", "framefarm_queue_jobs", "framefarm_queue_oldest_job_age_seconds",
                        "framefarm_job_end_to_end_seconds_bucket", "framefarm_jobs_finished_total",
                        "framefarm_engine_up", "framefarm_worker_registered",
                        "framefarm_component_stall_seconds_total", "framefarm_gpu_memory_used_bytes"})
    CHECK_MESSAGE(used.count(n) == 1, "dashboard does not show " << n);
}

TEST_CASE("alert rules and their unit tests name only metrics WorkerMetrics defines") {
  const auto defined = defined_series_names();
  for (const char* file : {"ops/prometheus/framefarm_alerts.yml",
                           "ops/prometheus/framefarm_alerts_test.yml"}) {
    const auto text = ff::test::read_file(ff::test::source_path(file));
    // Outside YAML comments, every framefarm_ identifier is a metric name.
    std::string code;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t eol = text.find('\n', pos);
      if (eol == std::string::npos) eol = text.size();
      std::string line = text.substr(pos, eol - pos);
      const size_t first = line.find_first_not_of(' ');
      if (first == std::string::npos || line[first] != '#') code += line + "\n";
      pos = eol + 1;
    }
    size_t n = 0;
    // Scan identifiers everywhere (series selectors in the test file sit inside quotes).
    for (size_t i = 0; (i = code.find("framefarm_", i)) != std::string::npos;) {
      if (i > 0 && (std::isalnum(static_cast<unsigned char>(code[i - 1])) || code[i - 1] == '_')) {
        i += 10;
        continue;
      }
      size_t j = i;
      while (j < code.size() && (std::isalnum(static_cast<unsigned char>(code[j])) || code[j] == '_')) ++j;
      const std::string name = code.substr(i, j - i);
      i = j;
      if (name == "framefarm_alerts") continue;  // the rule file's own name (framefarm_alerts.yml)
      INFO(file);
      CHECK_MESSAGE(defined.count(name) == 1, "undefined metric " << name);
      ++n;
    }
    CHECK(n >= 3);
  }
}

TEST_CASE("promql_metric_names skips label values and strings") {
  const auto names = ff::test::promql_metric_names(
      "sum by (le) (rate(framefarm_a_bucket{tier=\"framefarm_not_a_metric\"}[5m])) / framefarm_b");
  CHECK(names == std::vector<std::string>{"framefarm_a_bucket", "framefarm_b"});
}
