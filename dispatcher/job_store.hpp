// The dispatcher's PostgreSQL session: one connection, the prepared statements of queries.hpp
// behind typed batch methods, and LISTEN on framefarm_jobs / framefarm_cancel.
// Used only by the dispatcher loop thread. Every method may throw pqxx::broken_connection (or
// another pqxx exception for which is_connection_error() holds): the caller then drops this
// object and reconnects.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "dispatcher/scheduler.hpp"

namespace ff::dispatcher {

struct ProgressRow {
  int64_t job_id = 0;
  int64_t epoch = 0;
  std::string worker_id;
  std::string phase;
  int32_t step = 0;
  int32_t total_steps = 0;
};

struct CompletionRow {
  int64_t job_id = 0;
  int64_t epoch = 0;
  std::string state;                      // succeeded | retry_wait | dead | cancelled
  std::optional<std::string> worker_id;
  std::optional<std::string> result_json;
  std::optional<std::string> error_kind;
  std::optional<std::string> error;
  int64_t retry_delay_ms = 0;             // retry_wait: backoff; -1 = keep run_after (no backoff)
  // Set when the dispatcher decided this outcome itself (worker lost, deadline): applies only
  // while this dispatcher still owns the lease. Unset for a worker's own report, which any
  // dispatcher applies while the epoch matches.
  std::optional<std::string> owner;
  // A worker's report for a lease its session does not hold here (e.g. it finished while this
  // dispatcher restarted and re-sent the result after registering again): applies only if the
  // job's lease_worker (set by its Progress) is worker_id.
  bool foreign = false;
};

struct LeaseRef {
  int64_t job_id = 0;
  int64_t epoch = 0;
  std::optional<std::string> owner;  // hand_back only: as CompletionRow::owner
};

// A lease taken over (adopt_leases) from the worker's re-registration.
struct AdoptedLease {
  int64_t job_id = 0;
  int64_t epoch = 0;
  int32_t attempts = 0, max_attempts = 1;
  bool running = false;
  int64_t deadline_ms = 0;  // the job's, else its model's default (010); 0 = the dispatcher's
};

// A lease released by take_over_dead_dispatchers.
struct TakenOverJob {
  std::string dead_dispatcher;
  int64_t job_id = 0;
  std::string state;  // queued | retry_wait | dead | cancelled
};

struct ReapedJob {
  int64_t job_id = 0;
  std::string state;
  std::string old_owner;
};

// Capabilities stored in framefarm.workers.
struct WorkerInfo {
  std::string worker_id, gpu_name, model, encoder_fingerprint;
  int64_t vram_total_bytes = 0, vram_budget_bytes = 0, credit = 0;
  int32_t max_encode_batch = 1;
  std::vector<std::string> components_resident;
};

// True when `e` means the connection is gone or the statement was cancelled/aborted without
// effect (statement_timeout, deadlock): reconnect and retry; not a bad statement.
bool is_connection_error(const std::exception& e);

class JobStore {
 public:
  // Connects (url "" = libpq environment), prepares statements, LISTENs. on_jobs fires for
  // framefarm_jobs notifications, on_cancel(job_id) for framefarm_cancel ones, both from
  // poll_notifications(). Throws on failure.
  JobStore(const std::string& url, std::function<void()> on_jobs,
           std::function<void(int64_t)> on_cancel);
  ~JobStore();

  // Socket fd to wait on (zmq::poll) for notifications.
  int socket() const;
  // Delivers pending notifications to the callbacks; non-blocking.
  void poll_notifications();

  // claim_jobs: leases up to `limit` ready jobs for `owner`. params are decoded with
  // common/job_params.hpp; a job whose params do not decode is completed dead (bad_input, the
  // message naming the rule) here and not returned.
  std::vector<ClaimedJob> claim(const std::string& owner, int64_t limit,
                                const std::vector<std::string>& models, int64_t lease_ms,
                                const std::vector<std::string>& fingerprints);
  // mark_running; returns ids that applied (epoch matched).
  std::vector<int64_t> mark_running(const std::vector<ProgressRow>& rows);
  // complete_jobs; returns ids that applied (epoch matched).
  std::vector<int64_t> complete(const std::vector<CompletionRow>& rows);
  // hand_back_jobs; returns ids that applied.
  std::vector<int64_t> hand_back(const std::vector<LeaseRef>& rows);
  // adopt_leases: leases a re-registering worker still holds, matched by epoch, become
  // `owner`'s (whoever held them before); returns those adopted.
  std::vector<AdoptedLease> adopt(const std::string& owner, int64_t lease_ms,
                                  const std::vector<LeaseRef>& rows);
  // renew_leases of `owner`; returns ids renewed.
  std::vector<int64_t> renew(const std::string& owner, int64_t lease_ms,
                             const std::vector<LeaseRef>& rows);
  // reap_expired_leases (any owner).
  std::vector<ReapedJob> reap_expired(int64_t backoff_base_ms, int64_t backoff_max_ms);
  // release_orphan_leases of `owner` except `held` epochs; returns ids released.
  std::vector<int64_t> release_orphans(const std::string& owner, const std::vector<int64_t>& held);
  // delete_finished_jobs: at most `batch` terminal jobs finished more than `age_ms` ago; returns
  // how many were deleted.
  int64_t delete_finished(int64_t age_ms, int64_t batch);
  // cancel_requested_among `ids`.
  std::vector<LeaseRef> cancel_requested(const std::vector<int64_t>& ids);

  // take_over_dead_dispatchers: leases of dead dispatchers released; returns the jobs.
  std::vector<TakenOverJob> take_over_dead(const std::string& dispatcher_id);

  struct WorkerRow {
    std::string worker_id;
    int64_t credit = 0;
    int64_t jobs_in_flight = 0;
  };
  void upsert_worker(const std::string& dispatcher_id, const WorkerInfo& info);
  void update_workers(const std::string& dispatcher_id, const std::vector<WorkerRow>& rows);
  void mark_worker(const std::string& worker_id, const std::string& dispatcher_id,
                   const std::string& status);

 private:
  struct Listener;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<Listener> jobs_listener_;
  std::unique_ptr<Listener> cancel_listener_;
};

}  // namespace ff::dispatcher
