// Prometheus metrics of one dispatcher (`serve --metrics-bind ADDR:PORT`): prometheus-cpp, one
// registry, one HTTP endpoint (/metrics). Names and labels: dispatcher/metrics_names.hpp.
//
// Threads: the serve loop never waits on this. A refresh thread of our own, with its own
// PostgreSQL connection, runs a few read-only queries every refresh interval (queue depth by
// state and model, oldest ready job, workers by status, jobs finished since the last refresh)
// and copies the serve loop's DispatcherStats atomics into counters. Database trouble only
// counts refresh errors (and the last-refresh timestamp goes stale); the serve loop is unaffected.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <pqxx/connection>

namespace prometheus {
class Exposer;
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T> class Family;
}  // namespace prometheus

namespace ff::dispatcher {

struct DispatcherStats;

struct DispatcherMetricsConfig {
  // host:port of the /metrics endpoint ("127.0.0.1:9460"; port 0 = any free port, see port());
  // "" = no HTTP endpoint (the registry still collects; tests).
  std::string bind_address;
  std::string database_url;  // "" = libpq environment
  int64_t refresh_interval_ms = 5000;
};

class DispatcherMetrics {
 public:
  // Registers every metric (known label values pre-created at 0) and starts the endpoint (not
  // the refresh thread: start()). `stats` may be null; it must outlive this object.
  // Throws std::runtime_error naming the address when it cannot listen.
  DispatcherMetrics(DispatcherMetricsConfig cfg, const DispatcherStats* stats);
  // Stops and joins the refresh thread.
  ~DispatcherMetrics();
  DispatcherMetrics(const DispatcherMetrics&) = delete;
  DispatcherMetrics& operator=(const DispatcherMetrics&) = delete;

  // Starts the refresh thread (first refresh at once). Idempotent.
  void start();
  // The port the endpoint listens on; 0 without an endpoint.
  int port() const;
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // The registry in the Prometheus text format (what /metrics answers).
  std::string scrape_text() const;

  // One database refresh on `conn` (the refresh thread's step; tests call it directly). The
  // first call only records which finished jobs exist; later calls observe each job that
  // finished since, once (per job, not per attempt). Throws on SQL errors. Not concurrent.
  void refresh(pqxx::connection& conn);
  // Copies DispatcherStats into the counters (no-op without stats). Any thread.
  void sync_stats();

 private:
  void loop();
  void refresh_queue(pqxx::connection& conn);
  void refresh_finished(pqxx::connection& conn);

  DispatcherMetricsConfig cfg_;
  const DispatcherStats* stats_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;

  prometheus::Family<prometheus::Gauge>* queue_jobs_;
  prometheus::Gauge* oldest_age_;
  prometheus::Family<prometheus::Gauge>* workers_;
  prometheus::Family<prometheus::Histogram>* e2e_;
  prometheus::Histogram* start_delay_;
  prometheus::Family<prometheus::Counter>* finished_;
  prometheus::Counter* claims_;
  prometheus::Counter* sent_;
  prometheus::Family<prometheus::Counter>* results_;
  prometheus::Counter* workers_dead_;
  prometheus::Counter* reconnects_;
  prometheus::Counter* claim_seconds_;
  prometheus::Counter* sends_failed_;
  prometheus::Counter* deadlines_;
  prometheus::Counter* adopted_;
  prometheus::Counter* taken_over_;
  prometheus::Counter* frames_dropped_;
  prometheus::Family<prometheus::Counter>* attempts_failed_;
  prometheus::Counter* loop_turns_;
  prometheus::Counter* loop_busy_seconds_;
  prometheus::Gauge* loop_max_seconds_;
  prometheus::Counter* refresh_errors_;
  prometheus::Gauge* last_refresh_;
  prometheus::Gauge* refresh_duration_;

  std::mutex stats_mu_;
  std::map<std::string, double> stats_last_;  // last DispatcherStats value copied, per counter

  // Finished-job bookkeeping (refresh thread only).
  bool primed_ = false;
  double watermark_ = 0;                   // database clock (epoch s) of the previous refresh
  std::map<int64_t, double> seen_;         // job id -> finished_at (epoch s), recent ones only

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The refresh's statements (exposed for the plan test: they must read the queue's rows and the
// latest finished ones through indexes, never the whole job history). kFinishedSince ends with
// "finished_at > " and takes a timestamptz expression.
namespace metrics_sql {
extern const char* const kQueueCounts;
extern const char* const kOldestReady;
extern const char* const kFinishedSince;
}  // namespace metrics_sql

// Outcome label of a terminal job (metric::kOutcomes): state succeeded|cancelled as is; dead with
// error_kind bad_input -> user_error; other dead -> dead. Pure.
std::string_view finished_outcome(std::string_view state, std::string_view error_kind);

}  // namespace ff::dispatcher
