// Worker registry of one dispatcher: sessions keyed by ROUTER identity, their credit, the leases
// they hold, liveness. Pure bookkeeping (no I/O); owned and used by the dispatcher loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/protocol.hpp"

namespace ff::dispatcher {

using Clock = std::chrono::steady_clock;

// One job this dispatcher sent to a worker.
struct Lease {
  int64_t job_id = 0;
  int64_t epoch = 0;
  int32_t attempts = 1;      // attempts used including this one
  int32_t max_attempts = 1;
  bool started = false;      // a Progress arrived (state running)
  bool cancel_sent = false;
  // Past this the attempt fails with deadline_exceeded (max() = no deadline).
  Clock::time_point deadline = Clock::time_point::max();
};

struct WorkerSession {
  std::string identity;      // ROUTER routing id
  proto::Register caps;
  int64_t credit = 0;        // jobs we may still send
  Clock::time_point last_heard;
  std::map<int64_t, Lease> leases;  // job_id -> lease
  // A frame to it could not be delivered (connection gone): no jobs for it until the link hears
  // from it after suspect_since.
  bool suspect = false;
  Clock::time_point suspect_since{};
};

class WorkerRegistry {
 public:
  // Registers (or re-registers) a worker. If the same worker_id was registered from another
  // identity, that old session is removed and returned (its leases must be requeued).
  std::optional<WorkerSession> register_worker(const std::string& identity,
                                               const proto::Register& caps, Clock::time_point now);
  // Session of a ROUTER identity, or nullptr.
  WorkerSession* find(const std::string& identity);
  // Removes and returns a session (Goodbye, death).
  std::optional<WorkerSession> remove(const std::string& identity);
  // Removes and returns every session silent for longer than `silence`.
  std::vector<WorkerSession> take_silent(Clock::time_point now, Clock::duration silence);
  // Which session holds job_id under epoch (nullptr if none).
  WorkerSession* holder(int64_t job_id);

  int64_t total_credit() const;
  size_t size() const { return sessions_.size(); }
  std::map<std::string, WorkerSession>& sessions() { return sessions_; }

 private:
  std::map<std::string, WorkerSession> sessions_;   // identity -> session
  std::map<int64_t, std::string> job_holder_;      // job_id -> identity (kept in sync lazily)

 public:
  // Records that `identity` now holds `lease` (call after sending the Job).
  void add_lease(const std::string& identity, const Lease& lease);
  // Forgets a lease (result/handback/requeue); returns it if held by that identity.
  std::optional<Lease> drop_lease(const std::string& identity, int64_t job_id);
};

}  // namespace ff::dispatcher
