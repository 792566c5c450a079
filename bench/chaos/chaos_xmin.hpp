// The xmin scenario of issue 10: jobs inserted at a steady high rate into a real dispatcher
// (default settings, plus the retention flags given) served by simulated workers that answer at
// once (tests/dispatcher/sim_worker.hpp: the database and the dispatcher are what is measured, not
// the engine); after `before_s`, a REPEATABLE READ transaction takes a snapshot and holds it (and
// so the xmin horizon: vacuum can remove no row version newer than it) for `hold_s`, then
// commits; the run goes on for `after_s`. Every bucket_s it records the dispatcher's mean claim
// statement time (framefarm_dispatcher_claim_seconds_total / claims_total, from its /metrics),
// INSERT -> leased latency from the rows (leased_at - created_at), throughput, and the table's
// size (rows, dead row versions, bytes with indexes).
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

namespace ff::chaos {

struct XminConfig {
  double rate = 300;            // jobs inserted per second
  double before_s = 60, hold_s = 60, after_s = 90;
  double bucket_s = 5;
  int64_t retention_ms = 60000; // serve --retention-ms
  int64_t retention_interval_ms = 2000;
  int sim_workers = 8;
  int slots = 64;               // credit per simulated worker
  bool verbose = true;
};

// Runs the scenario on a throwaway cluster; returns the timeline and a summary (JSON).
nlohmann::json run_xmin(const XminConfig& cfg);

}  // namespace ff::chaos
