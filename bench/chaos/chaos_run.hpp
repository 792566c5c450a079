// The chaos driver: feeds jobs into a Farm at a steady rate while injecting faults one after
// another in a seeded random order, then waits for the queue to drain. What it records (each
// fault's kind, target, window and the leases it hit) is analysed by chaos_report.hpp from the
// database's audit.
//
// Fault kinds (issue 10):
//   kill_worker      kill -9 of a supervisor that runs jobs; restarted after worker_restart_s
//                    (the unit's RestartSec)
//   kill_engine      kill -9 of a worker's engine process (the supervisor restarts it)
//   kill_dispatcher  kill -9 of a dispatcher holding leases; restarted after dispatcher_restart_s (the unit's
//                    RestartSec), every other one after dispatcher_down_s (a host that stays down)
//   pg_restart       pg_ctl restart -m immediate (crash stop, recovery)
//   stop_worker      SIGSTOP of a supervisor for U[stop_min_s, stop_max_s], then SIGCONT
//   stop_dispatcher  the same for a dispatcher
//   table_lock       ACCESS EXCLUSIVE lock on framefarm.jobs held lock_s
//   db_stall         the dispatchers' TCP path to PostgreSQL stops forwarding for stall_s
//   intruder         a plain client, an unknown CURVE key and an authorized key using another
//                    worker's name each register and forge results for every lease
// Faults run one at a time: each waits until the leases the previous one hit are running again
// or finished (at most rescue_wait_s), for pending restarts and gap_s; lock and stall windows are
// followed by settle_s so that a death they cause is attributed to them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bench/chaos/chaos_farm.hpp"
#include "bench/chaos/chaos_intruder.hpp"

namespace ff::chaos {

const std::vector<std::string>& all_fault_kinds();

struct RunConfig {
  int64_t jobs = 300;
  int faults_per_kind = 1;
  uint64_t seed = 1;
  std::vector<std::string> kinds;  // empty = all_fault_kinds()
  double lock_s = 10, stall_s = 10;
  double worker_restart_s = 5;
  double dispatcher_restart_s = 2;
  double dispatcher_down_s = 15;
  double stop_min_s = 1, stop_max_s = 5;
  double gap_s = 1, settle_s = 5;
  double rescue_wait_s = 30;
  double drain_timeout_s = 300;
  int max_attempts = 10;
  bool verbose = true;
};

struct FaultRecord {
  std::string kind, target, note;
  double start = 0, end = 0;  // Unix seconds; end = start for instantaneous faults
  std::vector<std::pair<int64_t, int64_t>> victims;  // (job id, epoch) the fault hit, see chaos_run.cpp
  std::vector<IntruderOutcome> intruders;
};

struct RunData {
  RunConfig cfg;
  std::vector<FaultRecord> faults;
  std::map<std::string, int> skipped;  // kind -> faults not injected (no eligible target in time)
  double t_start = 0, t_faults_done = 0, t_end = 0;
  int64_t jobs_inserted = 0;
  bool drained = false;  // every job terminal before drain_timeout_s
};

// Validates `cfg` (unknown kinds, bad ranges: std::invalid_argument naming the field) and runs.
RunData run_chaos(Farm& farm, const RunConfig& cfg);

double unix_now();

// Asks a running run_chaos()/run_xmin() to stop: their waits throw std::runtime_error
// ("interrupted") so that the farm's destructors stop every process. Async-signal-safe (sets an
// atomic flag): ff_bench_chaos calls it from its SIGINT/SIGTERM handler.
void request_stop();
// Throws std::runtime_error when request_stop() was called.
void throw_if_stopped();

}  // namespace ff::chaos
