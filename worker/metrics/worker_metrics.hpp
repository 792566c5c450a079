// Prometheus metrics of one worker: prometheus-cpp, one registry, one HTTP endpoint (/metrics).
// Lives in the torch-free supervisor only: civetweb cannot start threads in a process that loads
// libtorch (../shared/TOOLCHAIN.md). Metric names: worker/metrics/names.hpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/protocol.hpp"
#include "worker/cache/stats.hpp"

namespace prometheus {
class Exposer;
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T> class Family;
}  // namespace prometheus

namespace ff::worker {

struct MetricsConfig {
  // host:port the /metrics endpoint listens on ("127.0.0.1:9464", "0.0.0.0:9464"; port 0 = any
  // free port, see WorkerMetrics::port()); empty = no HTTP endpoint (the registry still collects).
  std::string bind_address;
  int32_t http_threads = 2;
  // Constant labels of every series (metric::kWorkerIdLabel, kGpuLabel); empty = label left out.
  std::string worker_id;
  std::string gpu;
};

// All methods are thread-safe (prometheus-cpp metrics are; the conversion state has a mutex).
class WorkerMetrics {
 public:
  // Registers every metric (known label values pre-created at 0) and starts the endpoint.
  // Throws std::runtime_error naming the bind address when it cannot listen.
  explicit WorkerMetrics(const MetricsConfig& config);
  ~WorkerMetrics();
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // The port the endpoint listens on (the chosen one for port 0); 0 without an endpoint.
  int port() const;
  // The registry (for tests and for serialising without HTTP).
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // Engine thread of the supervisor, on each EngineStats: sets the gauges and converts the
  // engine's cumulative counters into Prometheus counter increments. A counter that went down
  // means the engine restarted: its new value counts in full. Negative figures are ignored.
  void update(const proto::EngineStats& stats);
  // Call when a new engine process was started: cumulative baselines restart at 0 (so growth
  // past the old value before the first EngineStats is not lost) and restarts_total grows.
  void note_engine_restart();
  // Supervisor loop, every turn: engine serving (hello received, not down/starting) and
  // registration welcomed by the dispatcher. Cheap (two gauge sets).
  void set_status(bool engine_up, bool registered);

  // Converts the cache's cumulative counters (EmbeddingCache::stats()) into counter increments.
  void update_cache(const EmbeddingCacheStats& stats);
  // Call when the EmbeddingCache was replaced by a new one (its counters start at 0 again).
  void note_cache_replaced();

  // One engine encode pass of `prompts` distinct prompts.
  void observe_encode_batch(int64_t prompts);
  // One job phase; phase is one of metric::kPhases. Returns false (records nothing) otherwise.
  bool observe_phase(std::string_view phase, double seconds);
  // Every known phase in `timings_s` (e.g. GenerateResult::timings_s); unknown keys are skipped.
  void observe_timings(const std::map<std::string, double>& timings_s);
  // One finished attempt: error_kind "none" when ok, else the name of error_kind (an
  // inconsistent !ok with kNone counts as internal); outcome = metric::outcome_of(error_kind).
  void count_job(bool ok, proto::ErrorKind error_kind);

 private:
  struct ComponentSeries;
  struct Baseline {
    double streamed_bytes = 0, stream_seconds = 0, stall_seconds = 0;
  };
  ComponentSeries& component_locked(const std::string& name);

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;

  prometheus::Family<prometheus::Gauge>* peak_vram_;
  prometheus::Family<prometheus::Gauge>* resident_;
  prometheus::Family<prometheus::Gauge>* pinned_;
  prometheus::Family<prometheus::Counter>* streamed_;
  prometheus::Family<prometheus::Counter>* stream_seconds_;
  prometheus::Family<prometheus::Gauge>* bandwidth_;
  prometheus::Family<prometheus::Counter>* stall_;
  prometheus::Family<prometheus::Gauge>* resident_blocks_;
  prometheus::Family<prometheus::Gauge>* blocks_;
  prometheus::Family<prometheus::Gauge>* placement_;
  prometheus::Gauge* gpu_used_;
  prometheus::Gauge* gpu_total_;
  prometheus::Gauge* gpu_budget_;
  prometheus::Gauge* engine_stats_time_;
  prometheus::Gauge* engine_up_;
  prometheus::Gauge* registered_;
  prometheus::Counter* ooms_avoided_;
  prometheus::Counter* engine_restarts_;
  prometheus::Family<prometheus::Counter>* cache_hits_;
  prometheus::Family<prometheus::Counter>* cache_misses_;
  prometheus::Counter* cache_invalid_rows_;
  prometheus::Counter* cache_db_errors_;
  prometheus::Gauge* cache_ram_bytes_;
  prometheus::Histogram* encode_batch_;
  prometheus::Family<prometheus::Histogram>* phase_duration_;
  prometheus::Family<prometheus::Counter>* jobs_;

  std::mutex mu_;
  std::map<std::string, std::unique_ptr<ComponentSeries>> components_;
  std::map<std::string, Baseline> baselines_;
  double ooms_baseline_ = 0;
  EmbeddingCacheStats cache_baseline_;
};

// Increment for a Prometheus counter fed from a cumulative figure that resets to 0 when its
// source restarts: cur - last, or cur when cur < last (reset). Updates last. Negative cur -> 0.
double cumulative_delta(double& last, double cur);

}  // namespace ff::worker
