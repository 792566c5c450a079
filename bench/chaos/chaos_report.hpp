// Analysis of a chaos run, from the database (framefarm.jobs and the chaos.* audit) and the
// engine double's execution logs; the floors of issue 10's "Done when" as pass/fail rows.
//
// Definitions (all times from the audit's clock_timestamp(), relative to the fault's start):
//   lost            jobs inserted (idempotency keys chaos-1..N) with no row
//   stuck           rows not terminal (succeeded/dead/cancelled) when the run ended
//   completed twice rows that entered `succeeded` more than once
//   lease epochs    distinct (job, epoch) pairs that entered `leased`, per job
//   rescue          for each lease a kill hit: until the job next enters `running` under another
//                   epoch, or `succeeded` (a lease kept across a restart finishes under its own)
//   in a window     [fault start, min(fault end + settle_s, next fault start)]: workers whose status became `dead`,
//                   leases released (leased/running -> queued/retry_wait/dead), and of those that
//                   were running, the ones that ran again (executed twice)
//   executions      "result <id>" lines of the engines' logs (engine runs that finished a job)
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/chaos/chaos_farm.hpp"
#include "bench/chaos/chaos_run.hpp"

namespace ff::chaos {

struct KindStats {
  std::string kind;
  int count = 0;
  std::vector<double> rescue_s;     // one per lease hit (kills only)
  int unrescued = 0;                // leases hit that never ran again nor succeeded
  int workers_dead_in_window = 0;
  int leases_released_in_window = 0;
  int executed_twice_in_window = 0;
  int intruder_welcomed = 0, intruder_jobs = 0, intruder_messages = 0, identity_taken = 0;
  // The slowest rescues (kills only, at most 3): job, epoch, seconds, the fault's target and the
  // job's audit trail from the fault on (t_s, state, epoch, worker, error_kind).
  std::vector<nlohmann::json> slowest;
};

struct Floor {
  std::string name;
  double value = 0;
  std::string op;    // "<=" or ">="
  double limit = 0;
  bool pass() const { return op == "<=" ? value <= limit : value >= limit; }
};

struct Report {
  int64_t jobs = 0, rows = 0, succeeded = 0, dead = 0, cancelled = 0;
  int64_t lost = 0, stuck = 0, completed_twice = 0, forged_applied = 0;
  int64_t lease_epochs = 0;
  double epochs_per_job = 0;
  int64_t max_epochs_one_job = 0;
  std::map<int64_t, int64_t> executions_histogram;  // engine results per job -> jobs
  std::map<std::string, int64_t> error_kinds;       // attempts failed by error_kind (audit)
  std::vector<KindStats> kinds;
  std::vector<Floor> floors;
  double duration_s = 0, fault_phase_s = 0;
  bool drained = false;
  bool pass() const;
  nlohmann::json to_json() const;
  std::string table() const;  // fixed-width text: one row per fault kind, then the floors
};

Report analyze(Farm& farm, const RunData& run);

double percentile(std::vector<double> v, double p);

}  // namespace ff::chaos
