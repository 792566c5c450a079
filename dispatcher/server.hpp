// `framefarm-dispatcher serve`: the event loop joining PostgreSQL and the workers' ZeroMQ link.
//
// Two threads. The link thread (worker_link.hpp) owns the ROUTER socket: it heartbeats workers
// and stamps when each was last heard, whatever the database does. The loop thread (run()) does
// the rest: zmq::poll waits on the link's event queue and the PostgreSQL socket (LISTEN
// framefarm_jobs / framefarm_cancel) with a polling backstop; it judges silence from the link's
// stamps, so a loop blocked on SQL never declares a live worker dead. Per turn it reads
// all queued worker messages, applies their database effects in one statement per kind
// (progress, completions, hand-backs; each fenced by the lease epoch), then claims as many ready
// jobs as workers have credit for (one claim statement per batch) and sends them.
// If PostgreSQL goes away, the loop keeps serving workers, buffers their results, reconnects with
// backoff and then applies them; leases whose claim reply was lost are released.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "dispatcher/config.hpp"

namespace ff::dispatcher {

// Counters for tests and the bench (read from any thread).
struct DispatcherStats {
  std::atomic<int64_t> jobs_sent_total{0};
  std::atomic<int64_t> results_applied_total{0};
  std::atomic<int64_t> results_discarded_total{0};  // late / fenced out / unknown lease
  std::atomic<int64_t> frames_dropped_total{0};     // malformed or unexpected frames
  std::atomic<int64_t> workers_dead_total{0};
  std::atomic<int64_t> db_reconnects_total{0};
  std::atomic<int64_t> claims_total{0};
  std::atomic<int64_t> claim_us_total{0};         // time spent in claim statements (metrics)
  std::atomic<int64_t> sends_failed_total{0};       // Job frames the link could not deliver
  std::atomic<int64_t> deadlines_exceeded_total{0};
  std::atomic<int64_t> leases_adopted_total{0};     // taken over from re-registering workers
  std::atomic<int64_t> leases_taken_over_total{0};  // released from dead dispatchers (schema/009)
  std::atomic<int64_t> frames_rate_limited_total{0};  // over --max-worker-msgs-per-s, dropped
  std::atomic<int64_t> jobs_deleted_total{0};         // retention
  // Loop turns and their busy time (timers + handling + SQL; the wait in zmq::poll excluded).
  std::atomic<int64_t> loop_turns_total{0};
  std::atomic<int64_t> loop_busy_us_total{0};
  // Longest turn since the metrics last took it: they reset it (exchange(0)) through a const view.
  mutable std::atomic<int64_t> loop_busy_us_max{0};

  // Failed attempts applied to the database, by error_kind ("unknown" when none): a worker's
  // report (bad_input is the submitter's fault) or the dispatcher's own (worker_lost, deadline).
  class FailureCounts {
   public:
    void add(std::string_view reason) {
      std::lock_guard lk(mu_);
      ++counts_[std::string(reason)];
    }
    int64_t count(const std::string& reason) const {
      std::lock_guard lk(mu_);
      auto it = counts_.find(reason);
      return it == counts_.end() ? 0 : it->second;
    }
    std::map<std::string, int64_t> snapshot() const {
      std::lock_guard lk(mu_);
      return counts_;
    }

   private:
    mutable std::mutex mu_;
    std::map<std::string, int64_t> counts_;
  } attempts_failed;
};

class Dispatcher {
 public:
  // Does not connect or bind yet. `ctx` must outlive the Dispatcher.
  Dispatcher(ServeConfig cfg, zmq::context_t& ctx);
  ~Dispatcher();

  // Binds the ROUTER socket to cfg.bind_endpoint ("tcp://127.0.0.1:*" picks a free port);
  // returns the resolved endpoint. Without CURVE keys a wildcard host is narrowed to 127.0.0.1
  // (logged) and another non-loopback host refused with ff::config::UsageError (see
  // secure_bind_endpoint). Throws zmq::error_t on a bad endpoint. Call before run(),
  // from the thread that will call run().
  std::string bind();

  // Serves until `stop` becomes true, then shuts down gracefully: stops claiming, hands back
  // jobs not yet started, waits up to shutdown_grace_ms for running ones, requeues the rest.
  // Database trouble never ends it: it reconnects with backoff until `stop`. Calling thread.
  void run(const std::atomic<bool>& stop);

  const DispatcherStats& stats() const;
  const ServeConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ff::dispatcher
