// The dispatcher's one log line per job state change (common/log.hpp format), e.g.
//   ts=... level=info component=dispatcher msg="job dispatched" job_id=42 epoch=7 attempt=1 worker_id=n1/cuda:0
//   ts=... level=warn component=dispatcher msg="job finished" job_id=42 epoch=7 state=retry_wait worker_id=n1/cuda:0 error_kind=engine_crash error="..."
// Levels: success, cancel and user errors (bad_input) are info; retries and other dead jobs warn,
// so `journalctl -p warning` lists exactly the jobs an operator may have to look at.
// Called from the serve loop thread (dispatcher/serve_*.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "dispatcher/job_store.hpp"
#include "dispatcher/registry.hpp"

namespace ff::dispatcher {

inline void log_job_dispatched(const Lease& l, const std::string& worker_id) {
  log::info("dispatcher", "job dispatched", log::kv("job_id", l.job_id), log::kv("epoch", l.epoch),
            log::kv("attempt", l.attempts), log::kv("worker_id", worker_id));
}

inline void log_job_started(int64_t job_id, int64_t epoch, int32_t attempt, const std::string& worker_id) {
  log::info("dispatcher", "job running", log::kv("job_id", job_id), log::kv("epoch", epoch),
            log::kv("attempt", attempt), log::kv("worker_id", worker_id));
}

// A completion the database accepted (not one discarded by fencing).
inline void log_job_finished(const CompletionRow& r) {
  const std::string kind = r.error_kind.value_or("");
  const bool operator_concern = r.state == "retry_wait" || (r.state == "dead" && kind != "bad_input");
  std::vector<log::Field> f{log::kv("job_id", r.job_id), log::kv("epoch", r.epoch), log::kv("state", r.state)};
  if (r.worker_id) f.push_back(log::kv("worker_id", *r.worker_id));
  if (!kind.empty()) f.push_back(log::kv("error_kind", kind));
  if (r.error) f.push_back(log::kv("error", r.error->substr(0, 300)));
  log::write(operator_concern ? log::Level::kWarn : log::Level::kInfo, "dispatcher", "job finished", f);
}

}  // namespace ff::dispatcher
