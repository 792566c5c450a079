// Supervisor logging: the common logfmt logger (common/log.hpp) with component=worker; every
// line also carries worker_id (set_context at start-up). Thread-safe.
#pragma once

#include <string_view>

#include "common/protocol.hpp"

namespace ff::worker {

void log_info(std::string_view line);
void log_warn(std::string_view line);
void log_error(std::string_view line);

// One line about a job: `msg` with job_id, epoch, attempt, plus error_kind and error when `kind`
// is not kNone. Level info for success, cancels and the submitter's bad input (bad_input); warn
// for every other failure, so `journalctl -p warning` lists what the operator should look at.
void log_job(const proto::Job& job, std::string_view msg, proto::ErrorKind kind = proto::ErrorKind::kNone,
             std::string_view error = "");

}  // namespace ff::worker
