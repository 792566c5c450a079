#include "worker/metrics/worker_metrics.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "worker/metrics/names.hpp"

namespace ff::worker {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

struct WorkerMetrics::ComponentSeries {
  Gauge* peak_vram;
  Gauge* resident;
  Gauge* pinned;
  Counter* streamed;
  Counter* stream_seconds;
  Gauge* bandwidth;
  Counter* stall;
  Gauge* resident_blocks;
  Gauge* blocks;
  Gauge* placement = nullptr;  // the info series of the current plan
  std::string plan;
};

namespace {

std::string s(std::string_view v) { return std::string(v); }

// Where add() registers, and the constant labels (worker_id, gpu) every family carries.
struct Target {
  prometheus::Registry& registry;
  prometheus::Labels labels;
};

template <typename Builder>
auto& add(Builder builder, std::string_view name, const char* help, const Target& t) {
  return builder.Name(s(name)).Help(help).Labels(t.labels).Register(t.registry);
}

prometheus::Labels const_labels(const MetricsConfig& c) {
  prometheus::Labels l;
  if (!c.worker_id.empty()) l[s(metric::kWorkerIdLabel)] = c.worker_id;
  if (!c.gpu.empty()) l[s(metric::kGpuLabel)] = c.gpu;
  return l;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const Histogram::BucketBoundaries kPhaseBuckets = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,    2.5, 5,
                                                   10,   25,    50,   100, 250,  500, 1000, 2500};
const Histogram::BucketBoundaries kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128};

double non_negative(double v) { return v > 0 ? v : 0; }

}  // namespace

double cumulative_delta(double& last, double cur) {
  cur = non_negative(cur);
  const double d = cur >= last ? cur - last : cur;
  last = cur;
  return d;
}

WorkerMetrics::WorkerMetrics(const MetricsConfig& config)
    : registry_(std::make_shared<prometheus::Registry>()) {
  using namespace metric;
  const Target r{*registry_, const_labels(config)};
  peak_vram_ = &add(prometheus::BuildGauge(), kComponentPeakVram,
                    "Peak GPU memory allocated during the component's last phase (byte accounting "
                    "on CPU builds)", r);
  resident_ = &add(prometheus::BuildGauge(), kComponentResident,
                   "Weight bytes of the component kept resident on the device", r);
  pinned_ = &add(prometheus::BuildGauge(), kComponentPinnedHost,
                 "Pinned host bytes holding the component's streamed weights", r);
  streamed_ = &add(prometheus::BuildCounter(), kComponentStreamed,
                   "Weight bytes copied host to device for the component", r);
  stream_seconds_ = &add(prometheus::BuildCounter(), kComponentStreamSeconds,
                         "Seconds the component's weight copies were in flight", r);
  bandwidth_ = &add(prometheus::BuildGauge(), kComponentStreamBandwidth,
                    "Achieved host to device stream bandwidth of the component over its latest "
                    "streamed work", r);
  stall_ = &add(prometheus::BuildCounter(), kComponentStall,
                "Seconds the component's compute waited for a weight copy", r);
  resident_blocks_ = &add(prometheus::BuildGauge(), kComponentResidentBlocks,
                          "Blocks of the component resident on the device in the current plan", r);
  blocks_ = &add(prometheus::BuildGauge(), kComponentBlocks,
                 "Blocks of the component in total", r);
  placement_ = &add(prometheus::BuildGauge(), kComponentPlacement,
                    "Current placement plan of the component (label plan); value is always 1", r);
  gpu_used_ = &add(prometheus::BuildGauge(), kGpuUsed, "GPU memory in use on the device", r).Add({});
  gpu_total_ = &add(prometheus::BuildGauge(), kGpuTotal, "GPU memory of the device", r).Add({});
  gpu_budget_ = &add(prometheus::BuildGauge(), kGpuBudget,
                     "GPU memory budget the worker plans within", r).Add({});
  engine_stats_time_ = &add(prometheus::BuildGauge(), kEngineStatsTime,
                            "Unix time of the engine's latest stats report (0: none yet)", r).Add({});
  engine_up_ = &add(prometheus::BuildGauge(), kEngineUp,
                    "1 while an engine process serves; 0 while it is down, starting or restarting", r)
                   .Add({});
  registered_ = &add(prometheus::BuildGauge(), kRegistered,
                     "1 while the dispatcher has welcomed this worker's registration", r).Add({});
  ooms_avoided_ = &add(prometheus::BuildCounter(), kOomsAvoided,
                       "Micro-batch shrinks that avoided an out-of-memory error", r).Add({});
  engine_restarts_ = &add(prometheus::BuildCounter(), kEngineRestarts,
                          "Engine processes started after the first", r).Add({});
  cache_hits_ = &add(prometheus::BuildCounter(), kCacheHits,
                     "Prompt embedding lookups answered by a cache tier (tier=ram|database)", r);
  cache_misses_ = &add(prometheus::BuildCounter(), kCacheMisses,
                       "Prompt embedding lookups a tier could not answer (tier=ram: went on to the "
                       "database; tier=database: must be encoded)", r);
  cache_invalid_rows_ = &add(prometheus::BuildCounter(), kCacheInvalidRows,
                             "Database rows that failed validation and were treated as misses",
                             r).Add({});
  cache_db_errors_ = &add(prometheus::BuildCounter(), kCacheDbErrors,
                          "Failed embedding cache database round trips", r).Add({});
  cache_ram_bytes_ = &add(prometheus::BuildGauge(), kCacheRamBytes,
                          "Payload bytes held by the in-process embedding cache", r).Add({});
  encode_batch_ = &add(prometheus::BuildHistogram(), kEncodeBatch,
                       "Distinct prompts per engine encode pass", r).Add({}, kBatchBuckets);
  phase_duration_ = &add(prometheus::BuildHistogram(), kPhaseDuration,
                         "Duration of one job phase (phase=queue_wait|encode|stage1|stage2|decode|"
                         "write)", r);
  jobs_ = &add(prometheus::BuildCounter(), kJobs,
               "Finished job attempts on this worker by outcome (succeeded|user_error|failed|"
               "cancelled) and error_kind", r);

  for (auto c : kComponents) component_locked(s(c));
  for (auto t : kTiers) {
    cache_hits_->Add({{"tier", s(t)}});
    cache_misses_->Add({{"tier", s(t)}});
  }
  for (auto p : kPhases) phase_duration_->Add({{"phase", s(p)}}, kPhaseBuckets);
  for (auto k : kErrorKinds) jobs_->Add({{"outcome", s(outcome_of(k))}, {"error_kind", s(k)}});

  if (!config.bind_address.empty()) {
    try {
      exposer_ = std::make_unique<prometheus::Exposer>(config.bind_address,
                                                       size_t(std::max(1, config.http_threads)));
    } catch (const std::exception& e) {
      throw std::runtime_error("metrics: cannot listen on '" + config.bind_address + "': " + e.what());
    }
    exposer_->RegisterCollectable(registry_);
  }
}

WorkerMetrics::~WorkerMetrics() = default;

int WorkerMetrics::port() const {
  if (!exposer_) return 0;
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

WorkerMetrics::ComponentSeries& WorkerMetrics::component_locked(const std::string& name) {
  auto it = components_.find(name);
  if (it != components_.end()) return *it->second;
  const prometheus::Labels l{{"component", name}};
  auto c = std::make_unique<ComponentSeries>(ComponentSeries{
      &peak_vram_->Add(l), &resident_->Add(l), &pinned_->Add(l), &streamed_->Add(l),
      &stream_seconds_->Add(l), &bandwidth_->Add(l), &stall_->Add(l), &resident_blocks_->Add(l),
      &blocks_->Add(l)});
  // The plan is "unknown" until the engine reports one (keeps the family visible from the start).
  c->plan = "unknown";
  c->placement = &placement_->Add({{"component", name}, {"plan", c->plan}});
  c->placement->Set(1);
  return *components_.emplace(name, std::move(c)).first->second;
}

void WorkerMetrics::update(const proto::EngineStats& st) {
  std::lock_guard lk(mu_);
  gpu_used_->Set(non_negative(double(st.gpu_used_bytes)));
  gpu_total_->Set(non_negative(double(st.gpu_total_bytes)));
  gpu_budget_->Set(non_negative(double(st.vram_budget_bytes)));
  engine_stats_time_->Set(unix_now());
  ooms_avoided_->Increment(cumulative_delta(ooms_baseline_, double(st.ooms_avoided_total)));
  for (const auto& [name, cs] : st.components) {
    if (name.empty()) continue;
    ComponentSeries& c = component_locked(name);
    Baseline& b = baselines_[name];
    c.peak_vram->Set(non_negative(double(cs.peak_vram_bytes)));
    c.resident->Set(non_negative(double(cs.resident_bytes)));
    c.pinned->Set(non_negative(double(cs.pinned_host_bytes)));
    const double d_bytes = cumulative_delta(b.streamed_bytes, double(cs.streamed_bytes_total));
    const double d_secs = cumulative_delta(b.stream_seconds, cs.stream_seconds_total);
    c.streamed->Increment(d_bytes);
    c.stream_seconds->Increment(d_secs);
    c.stall->Increment(cumulative_delta(b.stall_seconds, cs.stall_seconds_total));
    if (d_bytes > 0 && d_secs > 0) c.bandwidth->Set(d_bytes / d_secs);
    c.resident_blocks->Set(non_negative(cs.resident_blocks));
    c.blocks->Set(non_negative(cs.total_blocks));
    const std::string plan = cs.placement.empty() ? "unknown" : cs.placement;
    if (c.plan != plan) {
      placement_->Remove(c.placement);
      c.plan = plan;
      c.placement = &placement_->Add({{"component", name}, {"plan", plan}});
      c.placement->Set(1);
    }
  }
}

void WorkerMetrics::note_engine_restart() {
  std::lock_guard lk(mu_);
  baselines_.clear();
  ooms_baseline_ = 0;
  engine_restarts_->Increment();
}

void WorkerMetrics::set_status(bool engine_up, bool registered) {
  engine_up_->Set(engine_up ? 1 : 0);
  registered_->Set(registered ? 1 : 0);
}

void WorkerMetrics::update_cache(const EmbeddingCacheStats& st) {
  std::lock_guard lk(mu_);
  auto inc = [](Counter& c, uint64_t& last, uint64_t cur) {
    c.Increment(double(cur >= last ? cur - last : cur));
    last = cur;
  };
  EmbeddingCacheStats& b = cache_baseline_;
  inc(cache_hits_->Add({{"tier", "ram"}}), b.ram_hits, st.ram_hits);
  inc(cache_hits_->Add({{"tier", "database"}}), b.database_hits, st.database_hits);
  inc(cache_misses_->Add({{"tier", "ram"}}), b.ram_misses, st.ram_misses);
  inc(cache_misses_->Add({{"tier", "database"}}), b.database_misses, st.database_misses);
  inc(*cache_invalid_rows_, b.invalid_rows, st.invalid_rows);
  inc(*cache_db_errors_, b.database_errors, st.database_errors);
  cache_ram_bytes_->Set(double(st.ram_bytes));
}

void WorkerMetrics::note_cache_replaced() {
  std::lock_guard lk(mu_);
  cache_baseline_ = EmbeddingCacheStats{};
}

void WorkerMetrics::observe_encode_batch(int64_t prompts) {
  if (prompts > 0) encode_batch_->Observe(double(prompts));
}

bool WorkerMetrics::observe_phase(std::string_view phase, double seconds) {
  for (auto p : metric::kPhases) {
    if (p == phase) {
      phase_duration_->Add({{"phase", s(p)}}, kPhaseBuckets).Observe(non_negative(seconds));
      return true;
    }
  }
  return false;
}

void WorkerMetrics::observe_timings(const std::map<std::string, double>& timings_s) {
  for (const auto& [phase, secs] : timings_s) observe_phase(phase, secs);
}

void WorkerMetrics::count_job(bool ok, proto::ErrorKind error_kind) {
  size_t i = ok ? 0 : size_t(error_kind);
  if (!ok && (i == 0 || i >= metric::kErrorKinds.size())) i = size_t(proto::ErrorKind::kInternal);
  const std::string_view kind = metric::kErrorKinds[i];
  jobs_->Add({{"outcome", s(metric::outcome_of(kind))}, {"error_kind", s(kind)}}).Increment();
}

}  // namespace ff::worker
