// Embedding-cache-aware assignment of claimed jobs to workers with credit. Pure; caller's thread.
//
// Rules: jobs are taken in priority order. A job whose prompt AND negative prompt embeddings are
// cached for some eligible worker's encoder fingerprint goes to such a worker (the one with most
// credit), marked embedding_cached. The other jobs (misses) are grouped: the eligible worker with
// most credit gets up to min(credit, max_encode_batch) of them sharing one new nonzero
// encode_group, so one encoder pass serves them all. Eligible = credit > 0 and job.model is ''
// or equals the worker's model. Jobs no worker can take are returned in `unassigned`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/protocol.hpp"

namespace ff::dispatcher {

struct ClaimedJob {
  proto::Job job;                        // epoch/attempt/params filled from the claim
  int32_t max_attempts = 1;
  int32_t priority = 0;
  std::vector<std::string> cached_fps;   // fingerprints with both prompts cached
  int64_t deadline_ms = 0;               // the job's, else its model's default (010); 0 = the dispatcher's
};

struct WorkerSlot {
  std::string identity;      // ROUTER routing id
  std::string model;
  std::string encoder_fingerprint;
  int64_t credit = 0;        // decremented by schedule()
  int32_t max_encode_batch = 1;
};

struct Assignment {
  std::string identity;
  ClaimedJob job;            // job.embedding_cached / job.encode_group set
};

struct ScheduleResult {
  std::vector<Assignment> assignments;
  std::vector<ClaimedJob> unassigned;
};

// Assigns `jobs` to `slots` (credits consumed in place); `next_group` supplies encode groups
// (incremented per group, never 0).
ScheduleResult schedule(std::vector<ClaimedJob> jobs, std::vector<WorkerSlot>& slots,
                        int64_t& next_group);

}  // namespace ff::dispatcher
