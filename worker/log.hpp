// Supervisor logging: the common logfmt logger (common/log.hpp) with component=worker.
// Thread-safe. New code may call ff::log::info("worker", ..., ff::log::kv("job_id", id)) directly.
#pragma once

#include <string_view>

namespace ff::worker {

void log_info(std::string_view line);
void log_warn(std::string_view line);
void log_error(std::string_view line);

}  // namespace ff::worker
