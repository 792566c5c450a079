#include "dispatcher/metrics.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <pqxx/pqxx>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "common/log.hpp"
#include "dispatcher/log_component.hpp"
#include "dispatcher/metrics_names.hpp"
#include "dispatcher/server.hpp"

namespace ff::dispatcher {

using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;

namespace {


std::string s(std::string_view v) { return std::string(v); }

template <typename Builder>
auto& add(Builder builder, std::string_view name, const char* help, prometheus::Registry& r) {
  return builder.Name(s(name)).Help(help).Register(r);
}

// Seconds from submission: a minute-long tiny job up to day-long queues.
const Histogram::BucketBoundaries kLatencyBuckets = {1,   2.5,  5,    10,   30,    60,    120,  300,
                                                     600, 1200, 1800, 3600, 7200, 14400, 43200, 86400};

// Finished jobs are looked up this far behind the previous refresh: a writer's finished_at is its
// transaction's start, which can precede our previous refresh by the length of that transaction.
constexpr double kFinishedOverlapS = 60;

}  // namespace

namespace metrics_sql {
// Two branches, each matching a partial index of schema/001 (ready jobs; leased/running jobs have
// lease_expires_at set), so only the queue's rows are read, never the job history.
const char* const kQueueCounts =
    "SELECT state::text, model, count(*) FROM ("
    " SELECT state, model FROM framefarm.jobs WHERE state IN ('queued', 'retry_wait')"
    " UNION ALL"
    " SELECT state, model FROM framefarm.jobs"
    "  WHERE lease_expires_at IS NOT NULL AND state IN ('leased', 'running')) q GROUP BY 1, 2";
// jobs_ready_idx covers it (its predicate, its run_after column).
const char* const kOldestReady =
    "SELECT coalesce(extract(epoch FROM now() - min(run_after)), 0)::float8 FROM framefarm.jobs "
    "WHERE state IN ('queued', 'retry_wait') AND run_after <= now()";
// A range scan of jobs_finished_at_idx (schema/006) over the latest rows.
const char* const kFinishedSince =
    "SELECT id, state::text, coalesce(error_kind, ''), "
    "extract(epoch FROM finished_at - created_at)::float8, "
    "extract(epoch FROM started_at - created_at)::float8, extract(epoch FROM finished_at)::float8 "
    "FROM framefarm.jobs WHERE state IN ('succeeded', 'dead', 'cancelled') AND finished_at IS NOT NULL "
    "AND finished_at > ";
}  // namespace metrics_sql

std::string_view finished_outcome(std::string_view state, std::string_view error_kind) {
  if (state == "dead") return error_kind == "bad_input" ? "user_error" : "dead";
  if (state == "cancelled") return "cancelled";
  return "succeeded";
}

DispatcherMetrics::DispatcherMetrics(DispatcherMetricsConfig cfg, const DispatcherStats* stats)
    : cfg_(std::move(cfg)), stats_(stats), registry_(std::make_shared<prometheus::Registry>()) {
  using namespace metric;
  auto& r = *registry_;
  queue_jobs_ = &add(prometheus::BuildGauge(), kQueueJobs,
                     "Jobs waiting or in flight by state (queued|leased|running|retry_wait) and model "
                     "(model=any: jobs for any worker); farm-wide, the same from every dispatcher", r);
  oldest_age_ = &add(prometheus::BuildGauge(), kQueueOldestAge,
                     "Seconds the oldest claimable job (queued or retry_wait, run_after passed) has "
                     "been waiting since it became claimable; 0 when none", r).Add({});
  workers_ = &add(prometheus::BuildGauge(), kWorkers,
                  "Workers known to the dispatchers by status (alive = registered and heard from)", r);
  e2e_ = &add(prometheus::BuildHistogram(), kJobE2e,
              "Seconds from a job's submission to its terminal state, once per job, by outcome", r);
  start_delay_ = &add(prometheus::BuildHistogram(), kJobStartDelay,
                      "Seconds from a finished job's submission to the start of its last attempt", r)
                      .Add({}, kLatencyBuckets);
  finished_ = &add(prometheus::BuildCounter(), kJobsFinished,
                   "Jobs that reached a terminal state, by outcome (user_error: rejected input)", r);
  claims_ = &add(prometheus::BuildCounter(), kClaims, "Claim statements run by this dispatcher", r).Add({});
  sent_ = &add(prometheus::BuildCounter(), kJobsSent, "Jobs this dispatcher sent to workers", r).Add({});
  results_ = &add(prometheus::BuildCounter(), kResults,
                  "Worker results by what became of them (discarded: late, fenced out by a newer "
                  "lease, or unknown)", r);
  workers_dead_ = &add(prometheus::BuildCounter(), kWorkersDead,
                       "Workers this dispatcher declared dead (missed heartbeats)", r).Add({});
  reconnects_ = &add(prometheus::BuildCounter(), kDbReconnects,
                     "Database reconnects of this dispatcher's serve loop", r).Add({});
  claim_seconds_ = &add(prometheus::BuildCounter(), kClaimSeconds,
                        "Seconds this dispatcher spent in claim statements (/ claims_total = mean "
                        "claim latency)", r).Add({});
  sends_failed_ = &add(prometheus::BuildCounter(), kSendsFailed,
                       "Job frames the worker link could not deliver (handed back)", r).Add({});
  deadlines_ = &add(prometheus::BuildCounter(), kDeadlinesExceeded,
                    "Attempts this dispatcher cancelled for running past their deadline", r).Add({});
  adopted_ = &add(prometheus::BuildCounter(), kLeasesAdopted,
                  "Leases taken over from re-registering workers", r).Add({});
  taken_over_ = &add(prometheus::BuildCounter(), kLeasesTakenOver,
                     "Leases of dead dispatchers this dispatcher released (schema/009)", r).Add({});
  frames_dropped_ = &add(prometheus::BuildCounter(), kFramesDropped,
                         "Malformed or unexpected worker frames dropped", r).Add({});
  attempts_failed_ = &add(prometheus::BuildCounter(), kAttemptsFailed,
                         "Failed attempts this dispatcher applied, by reason (error_kind; bad_input: "
                         "rejected input, the submitter's fault)", r);
  loop_turns_ = &add(prometheus::BuildCounter(), kLoopTurns, "Serve-loop turns", r).Add({});
  loop_busy_seconds_ = &add(prometheus::BuildCounter(), kLoopBusySeconds,
                            "Seconds the serve loop worked (timers, messages, SQL; poll wait excluded); "
                            "/ loop_turns_total = mean turn", r).Add({});
  loop_max_seconds_ = &add(prometheus::BuildGauge(), kLoopMaxSeconds,
                           "Longest serve-loop turn since the previous metrics refresh", r).Add({});
  refresh_errors_ = &add(prometheus::BuildCounter(), kRefreshErrors,
                         "Failed metrics refreshes (database unreachable or a query failed)", r).Add({});
  last_refresh_ = &add(prometheus::BuildGauge(), kLastRefresh,
                       "Unix time of the last successful metrics refresh (0: none yet)", r).Add({});
  refresh_duration_ = &add(prometheus::BuildGauge(), kRefreshDuration,
                           "Seconds the last successful metrics refresh took", r).Add({});

  for (auto st : kStates) queue_jobs_->Add({{"state", s(st)}, {"model", s(kAnyModel)}});
  for (auto w : kWorkerStatuses) workers_->Add({{"status", s(w)}});
  for (auto o : kOutcomes) {
    e2e_->Add({{"outcome", s(o)}}, kLatencyBuckets);
    finished_->Add({{"outcome", s(o)}});
  }
  for (auto k : kResultKinds) results_->Add({{"result", s(k)}});

  if (!cfg_.bind_address.empty()) {
    try {
      exposer_ = std::make_unique<prometheus::Exposer>(cfg_.bind_address, size_t(2));
    } catch (const std::exception& e) {
      throw std::runtime_error("metrics: cannot listen on '" + cfg_.bind_address + "': " + e.what());
    }
    exposer_->RegisterCollectable(registry_);
  }
}

DispatcherMetrics::~DispatcherMetrics() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DispatcherMetrics::start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { loop(); });
}

int DispatcherMetrics::port() const {
  if (!exposer_) return 0;
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::string DispatcherMetrics::scrape_text() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void DispatcherMetrics::sync_stats() {
  if (!stats_) return;
  std::lock_guard lk(stats_mu_);
  auto copy = [&](const char* key, Counter& c, int64_t cur) {
    double& last = stats_last_[key];
    const double v = double(std::max<int64_t>(0, cur));
    if (v > last) c.Increment(v - last);
    last = std::max(last, v);
  };
  copy("claims", *claims_, stats_->claims_total.load());
  copy("sent", *sent_, stats_->jobs_sent_total.load());
  copy("applied", results_->Add({{"result", "applied"}}), stats_->results_applied_total.load());
  copy("discarded", results_->Add({{"result", "discarded"}}), stats_->results_discarded_total.load());
  copy("dead", *workers_dead_, stats_->workers_dead_total.load());
  copy("reconnects", *reconnects_, stats_->db_reconnects_total.load());
  copy("sends_failed", *sends_failed_, stats_->sends_failed_total.load());
  copy("deadlines", *deadlines_, stats_->deadlines_exceeded_total.load());
  copy("adopted", *adopted_, stats_->leases_adopted_total.load());
  copy("taken_over", *taken_over_, stats_->leases_taken_over_total.load());
  copy("frames_dropped", *frames_dropped_, stats_->frames_dropped_total.load());
  copy("loop_turns", *loop_turns_, stats_->loop_turns_total.load());
  for (const auto& [reason, n] : stats_->attempts_failed.snapshot())
    copy(("failed:" + reason).c_str(), attempts_failed_->Add({{"reason", reason}}), n);
  // Microseconds -> seconds.
  auto copy_us = [&](const char* key, Counter& c, int64_t cur_us) {
    double& last = stats_last_[key];
    const double us = double(std::max<int64_t>(0, cur_us));
    if (us > last) c.Increment((us - last) / 1e6);
    last = std::max(last, us);
  };
  copy_us("claim_us", *claim_seconds_, stats_->claim_us_total.load());
  copy_us("loop_busy_us", *loop_busy_seconds_, stats_->loop_busy_us_total.load());
  // The longest turn since the previous sync: taken, and reset for the next interval.
  loop_max_seconds_->Set(double(stats_->loop_busy_us_max.exchange(0)) / 1e6);
}

void DispatcherMetrics::refresh(pqxx::connection& conn) {
  const auto t0 = std::chrono::steady_clock::now();
  refresh_queue(conn);
  refresh_finished(conn);
  sync_stats();
  const auto dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  refresh_duration_->Set(dt);
  last_refresh_->Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

void DispatcherMetrics::refresh_queue(pqxx::connection& conn) {
  pqxx::read_transaction tx(conn);
  std::map<std::pair<std::string, std::string>, double> counts;
  for (const auto& row : tx.exec(metrics_sql::kQueueCounts)) {
    std::string model = row[1].as<std::string>();
    if (model.empty()) model = s(metric::kAnyModel);
    counts[{row[0].as<std::string>(), model}] += row[2].as<double>();
  }
  const double oldest = tx.exec1(metrics_sql::kOldestReady)[0].as<double>();
  std::map<std::string, double> workers;
  for (const auto& row : tx.exec("SELECT status, count(*) FROM framefarm.workers GROUP BY 1"))
    workers[row[0].as<std::string>()] = row[1].as<double>();
  tx.commit();

  // Every state of every model seen so far is set (to 0 when absent now).
  std::map<std::string, bool> models{{s(metric::kAnyModel), true}};
  for (const auto& [k, v] : counts) models[k.second] = true;
  for (const auto& [model, _] : models)
    for (auto st : metric::kStates) {
      auto it = counts.find({s(st), model});
      queue_jobs_->Add({{"state", s(st)}, {"model", model}}).Set(it == counts.end() ? 0 : it->second);
    }
  oldest_age_->Set(std::max(0.0, oldest));
  for (auto w : metric::kWorkerStatuses) {
    auto it = workers.find(s(w));
    workers_->Add({{"status", s(w)}}).Set(it == workers.end() ? 0 : it->second);
  }
}

void DispatcherMetrics::refresh_finished(pqxx::connection& conn) {
  pqxx::read_transaction tx(conn);
  const double now = tx.exec1("SELECT extract(epoch FROM statement_timestamp())::float8")[0].as<double>();
  const double since = primed_ ? watermark_ - kFinishedOverlapS : now - kFinishedOverlapS;
  const auto rows = tx.exec(std::string(metrics_sql::kFinishedSince) + "to_timestamp(" + pqxx::to_string(since) + ")");
  tx.commit();
  for (const auto& row : rows) {
    const int64_t id = row[0].as<int64_t>();
    const double finished_at = row[5].as<double>();
    const auto [it, inserted] = seen_.emplace(id, finished_at);
    if (!inserted) {
      if (it->second == finished_at) continue;  // the same finish, seen before
      it->second = finished_at;                 // finished again (retried by an operator)
    }
    if (!primed_) continue;  // finished before we started: not ours to count
    const std::string outcome = s(finished_outcome(row[1].as<std::string>(), row[2].as<std::string>()));
    finished_->Add({{"outcome", outcome}}).Increment();
    e2e_->Add({{"outcome", outcome}}, kLatencyBuckets).Observe(std::max(0.0, row[3].as<double>()));
    if (!row[4].is_null()) start_delay_->Observe(std::max(0.0, row[4].as<double>()));
  }
  // Forget jobs that can no longer fall in the next lookup window (finished_at > now - overlap),
  // whatever the refresh interval.
  for (auto it = seen_.begin(); it != seen_.end();)
    it = it->second < now - kFinishedOverlapS - 1 ? seen_.erase(it) : std::next(it);
  watermark_ = now;
  primed_ = true;
}

void DispatcherMetrics::loop() {
  std::unique_ptr<pqxx::connection> conn;
  bool failing = false;
  std::unique_lock lk(mu_);
  while (!stop_) {
    lk.unlock();
    try {
      if (!conn || !conn->is_open()) {
        conn = std::make_unique<pqxx::connection>(cfg_.database_url);
        pqxx::nontransaction(*conn).exec(
            "SET application_name = 'framefarm-dispatcher-metrics'; SET statement_timeout = '10s'");
      }
      refresh(*conn);
      if (failing) log::info(kLog, "metrics refresh works again");
      failing = false;
    } catch (const std::exception& e) {
      refresh_errors_->Increment();
      sync_stats();
      if (!failing) log::warn(kLog, "metrics refresh failed (retrying every interval)", log::kv("error", e.what()));
      failing = true;
      conn.reset();
    }
    lk.lock();
    cv_.wait_for(lk, std::chrono::milliseconds(std::max<int64_t>(10, cfg_.refresh_interval_ms)),
                 [this] { return stop_; });
  }
}

}  // namespace ff::dispatcher
