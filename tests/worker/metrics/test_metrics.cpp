// unit: WorkerMetrics' registry: names, EngineStats -> counter conversion (incl. engine restart).
#include <doctest/doctest.h>

#include <regex>

#include <prometheus/registry.h>

#include "tests/worker/cache/cache_test_support.hpp"
#include "worker/metrics/worker_metrics.hpp"
#include "worker/metrics/names.hpp"

using ff::worker::MetricsConfig;
using ff::worker::WorkerMetrics;

namespace {

MetricsConfig no_http() {
  MetricsConfig c;
  c.bind_address = "";
  return c;
}

// Value of the series of `family` whose labels include all of `want`; throws if absent.
const prometheus::ClientMetric& series(const std::vector<prometheus::MetricFamily>& fams,
                                       std::string_view family,
                                       std::map<std::string, std::string> want = {}) {
  for (const auto& f : fams) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      size_t matched = 0;
      for (const auto& l : m.label)
        if (want.count(l.name) && want[l.name] == l.value) ++matched;
      if (matched == want.size()) return m;
    }
  }
  throw std::runtime_error("no series " + std::string(family));
}

double counter(WorkerMetrics& m, std::string_view family, std::map<std::string, std::string> l = {}) {
  return series(m.registry()->Collect(), family, std::move(l)).counter.value;
}
double gauge(WorkerMetrics& m, std::string_view family, std::map<std::string, std::string> l = {}) {
  return series(m.registry()->Collect(), family, std::move(l)).gauge.value;
}

ff::proto::EngineStats stats(int64_t streamed, double stream_s, double stall_s, int64_t ooms) {
  ff::proto::EngineStats st;
  st.gpu_used_bytes = 70;
  st.gpu_total_bytes = 141;
  st.vram_budget_bytes = 96;
  st.ooms_avoided_total = ooms;
  auto& c = st.components["text_encoder"];
  c.placement = "auto:30/48";
  c.peak_vram_bytes = 5000;
  c.resident_bytes = 3000;
  c.pinned_host_bytes = 20000;
  c.streamed_bytes_total = streamed;
  c.stream_seconds_total = stream_s;
  c.stall_seconds_total = stall_s;
  c.resident_blocks = 30;
  c.total_blocks = 48;
  return st;
}

}  // namespace

TEST_CASE("every metric name is snake_case, framefarm_-prefixed, colon-free and unit-suffixed") {
  WorkerMetrics m(no_http());
  const auto fams = m.registry()->Collect();
  REQUIRE(fams.size() >= 20);
  const std::regex snake("^framefarm_[a-z0-9]+(_[a-z0-9]+)*$");
  const std::vector<std::string> units = {"_bytes", "_seconds", "_total", "_bytes_per_second",
                                          "_blocks", "_info", "_prompts",
                                          // 0/1 gauges, like Prometheus' own `up`
                                          "_up", "_registered"};
  auto ends_with = [](const std::string& s, const std::string& suf) {
    return s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
  };
  for (const auto& f : fams) {
    INFO(f.name);
    CHECK(std::regex_match(f.name, snake));
    CHECK(f.name.find(':') == std::string::npos);
    CHECK_FALSE(f.help.empty());
    bool unit = false;
    for (const auto& u : units) unit = unit || ends_with(f.name, u);
    CHECK(unit);
    // Counters and only counters end in _total.
    CHECK((f.type == prometheus::MetricType::Counter) == ends_with(f.name, "_total"));
  }
}

TEST_CASE("known label values exist from the start, at zero") {
  WorkerMetrics m(no_http());
  for (auto c : ff::worker::metric::kComponents) {
    CHECK(gauge(m, ff::worker::metric::kComponentPeakVram, {{"component", std::string(c)}}) == 0);
    CHECK(counter(m, ff::worker::metric::kComponentStreamed, {{"component", std::string(c)}}) == 0);
  }
  for (auto t : ff::worker::metric::kTiers)
    CHECK(counter(m, ff::worker::metric::kCacheHits, {{"tier", std::string(t)}}) == 0);
  for (auto k : ff::worker::metric::kErrorKinds)
    CHECK(counter(m, ff::worker::metric::kJobs, {{"error_kind", std::string(k)}}) == 0);
  for (auto o : ff::worker::metric::kOutcomes)
    CHECK(counter(m, ff::worker::metric::kJobs, {{"outcome", std::string(o)}}) == 0);
  CHECK(gauge(m, ff::worker::metric::kEngineUp) == 0);
  CHECK(gauge(m, ff::worker::metric::kRegistered) == 0);
  CHECK(gauge(m, ff::worker::metric::kEngineStatsTime) == 0);
}

TEST_CASE("every series carries worker_id and gpu, status gauges, stats timestamp") {
  MetricsConfig c = no_http();
  c.worker_id = "node-3/cuda:1";
  c.gpu = "cuda:1";
  WorkerMetrics m(c);
  size_t n = 0;
  for (const auto& f : m.registry()->Collect())
    for (const auto& s : f.metric) {
      std::map<std::string, std::string> l;
      for (const auto& p : s.label) l[p.name] = p.value;
      INFO(f.name);
      CHECK(l["worker_id"] == "node-3/cuda:1");
      CHECK(l["gpu"] == "cuda:1");
      ++n;
    }
  CHECK(n > 50);
  m.set_status(true, false);
  CHECK(gauge(m, ff::worker::metric::kEngineUp) == 1);
  CHECK(gauge(m, ff::worker::metric::kRegistered) == 0);
  m.set_status(false, true);
  CHECK(gauge(m, ff::worker::metric::kEngineUp) == 0);
  CHECK(gauge(m, ff::worker::metric::kRegistered) == 1);
  m.update(ff::proto::EngineStats{});
  CHECK(gauge(m, ff::worker::metric::kEngineStatsTime) > 1.7e9);
}

TEST_CASE("EngineStats: gauges set, cumulative counters converted, engine restart detected") {
  using namespace ff::worker::metric;
  WorkerMetrics m(no_http());
  const std::map<std::string, std::string> te{{"component", "text_encoder"}};
  m.update(stats(1000, 2.0, 0.5, 1));
  CHECK(counter(m, kComponentStreamed, te) == 1000);
  CHECK(counter(m, kComponentStreamSeconds, te) == 2.0);
  CHECK(counter(m, kComponentStall, te) == 0.5);
  CHECK(gauge(m, kComponentStreamBandwidth, te) == 500);
  CHECK(gauge(m, kComponentPeakVram, te) == 5000);
  CHECK(gauge(m, kComponentResident, te) == 3000);
  CHECK(gauge(m, kComponentPinnedHost, te) == 20000);
  CHECK(gauge(m, kComponentResidentBlocks, te) == 30);
  CHECK(gauge(m, kComponentBlocks, te) == 48);
  CHECK(gauge(m, kComponentPlacement, {{"component", "text_encoder"}, {"plan", "auto:30/48"}}) == 1);
  CHECK(gauge(m, kGpuUsed) == 70);
  CHECK(gauge(m, kGpuTotal) == 141);
  CHECK(gauge(m, kGpuBudget) == 96);
  CHECK(counter(m, kOomsAvoided) == 1);

  // Same cumulative figures again: nothing added, bandwidth kept.
  m.update(stats(1000, 2.0, 0.5, 1));
  CHECK(counter(m, kComponentStreamed, te) == 1000);
  CHECK(gauge(m, kComponentStreamBandwidth, te) == 500);

  // Growth: only the difference is added; bandwidth of the latest interval.
  m.update(stats(4000, 3.0, 0.75, 3));
  CHECK(counter(m, kComponentStreamed, te) == 4000);
  CHECK(counter(m, kComponentStreamSeconds, te) == 3.0);
  CHECK(counter(m, kComponentStall, te) == 0.75);
  CHECK(gauge(m, kComponentStreamBandwidth, te) == 3000);
  CHECK(counter(m, kOomsAvoided) == 3);

  // The engine restarted (its counters went back down): the new values count in full.
  m.update(stats(600, 0.5, 0.25, 1));
  CHECK(counter(m, kComponentStreamed, te) == 4600);
  CHECK(counter(m, kComponentStreamSeconds, te) == 3.5);
  CHECK(counter(m, kComponentStall, te) == 1.0);
  CHECK(counter(m, kOomsAvoided) == 4);

  // A restart announced by the supervisor: even growth past the old value counts in full.
  m.note_engine_restart();
  m.update(stats(5000, 1.0, 0.0, 2));
  CHECK(counter(m, kComponentStreamed, te) == 9600);
  CHECK(counter(m, kOomsAvoided) == 6);
  CHECK(counter(m, kEngineRestarts) == 1);
  // Other components were untouched.
  CHECK(counter(m, kComponentStreamed, {{"component", "stage1_transformer"}}) == 0);
}

TEST_CASE("placement plan change replaces the info series") {
  using namespace ff::worker::metric;
  WorkerMetrics m(no_http());
  auto st = stats(0, 0, 0, 0);
  m.update(st);
  st.components["text_encoder"].placement = "resident";
  m.update(st);
  const auto fams = m.registry()->Collect();
  int n = 0;
  for (const auto& f : fams) {
    if (f.name != kComponentPlacement) continue;
    for (const auto& s : f.metric) {
      std::map<std::string, std::string> l;
      for (const auto& x : s.label) l[x.name] = x.value;
      if (l["component"] != "text_encoder") {
        CHECK(l["plan"] == "unknown");  // not reported yet
        continue;
      }
      ++n;
      CHECK(l["plan"] == "resident");
      CHECK(s.gauge.value == 1);
    }
  }
  CHECK(n == 1);
}

TEST_CASE("negative figures are ignored, not turned into decreasing counters") {
  using namespace ff::worker::metric;
  WorkerMetrics m(no_http());
  m.update(stats(-5, -1, -1, -3));
  CHECK(counter(m, kComponentStreamed, {{"component", "text_encoder"}}) == 0);
  CHECK(counter(m, kOomsAvoided) == 0);
  double last = 10;
  CHECK(ff::worker::cumulative_delta(last, 15) == 5);
  CHECK(ff::worker::cumulative_delta(last, 3) == 3);
  CHECK(last == 3);
}

TEST_CASE("cache stats, encode batches, phases and outcomes") {
  using namespace ff::worker::metric;
  WorkerMetrics m(no_http());
  ff::worker::EmbeddingCacheStats s;
  s.ram_hits = 5;
  s.ram_misses = 3;
  s.database_hits = 1;
  s.database_misses = 2;
  s.invalid_rows = 1;
  s.ram_bytes = 1234;
  m.update_cache(s);
  s.ram_hits = 7;
  m.update_cache(s);
  CHECK(counter(m, kCacheHits, {{"tier", "ram"}}) == 7);
  CHECK(counter(m, kCacheMisses, {{"tier", "ram"}}) == 3);
  CHECK(counter(m, kCacheHits, {{"tier", "database"}}) == 1);
  CHECK(counter(m, kCacheMisses, {{"tier", "database"}}) == 2);
  CHECK(counter(m, kCacheInvalidRows) == 1);
  CHECK(gauge(m, kCacheRamBytes) == 1234);
  // A new cache object (counters from 0): its counts add on top.
  m.note_cache_replaced();
  ff::worker::EmbeddingCacheStats fresh;
  fresh.ram_hits = 9;
  m.update_cache(fresh);
  CHECK(counter(m, kCacheHits, {{"tier", "ram"}}) == 16);
  CHECK(counter(m, kCacheMisses, {{"tier", "ram"}}) == 3);

  m.observe_encode_batch(5);
  m.observe_encode_batch(32);
  const auto& h = series(m.registry()->Collect(), kEncodeBatch).histogram;
  CHECK(h.sample_count == 2);
  CHECK(h.sample_sum == 37);

  CHECK(m.observe_phase("encode", 0.4));
  CHECK_FALSE(m.observe_phase("dance", 1.0));
  m.observe_timings({{"stage1", 10.0}, {"stage2", 5.0}, {"bogus", 1.0}});
  const auto fams = m.registry()->Collect();
  CHECK(series(fams, kPhaseDuration, {{"phase", "encode"}}).histogram.sample_count == 1);
  CHECK(series(fams, kPhaseDuration, {{"phase", "stage1"}}).histogram.sample_sum == 10.0);
  CHECK(series(fams, kPhaseDuration, {{"phase", "write"}}).histogram.sample_count == 0);

  m.count_job(true, ff::proto::ErrorKind::kNone);
  m.count_job(false, ff::proto::ErrorKind::kVramBudget);
  m.count_job(false, ff::proto::ErrorKind::kNone);  // inconsistent input counts as internal
  m.count_job(false, ff::proto::ErrorKind::kBadInput);
  m.count_job(false, ff::proto::ErrorKind::kCancelled);
  CHECK(counter(m, kJobs, {{"outcome", "succeeded"}, {"error_kind", "none"}}) == 1);
  CHECK(counter(m, kJobs, {{"outcome", "failed"}, {"error_kind", "vram_budget"}}) == 1);
  CHECK(counter(m, kJobs, {{"outcome", "failed"}, {"error_kind", "internal"}}) == 1);
  // The submitter's bad input is apart from the failures the operator must look at.
  CHECK(counter(m, kJobs, {{"outcome", "user_error"}, {"error_kind", "bad_input"}}) == 1);
  CHECK(counter(m, kJobs, {{"outcome", "cancelled"}, {"error_kind", "cancelled"}}) == 1);
  CHECK(ff::worker::metric::outcome_of("engine_crash") == "failed");
}
