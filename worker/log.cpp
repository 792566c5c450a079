#include "worker/log.hpp"

#include "common/log.hpp"

namespace ff::worker {

void log_info(std::string_view line) { ff::log::write(ff::log::Level::kInfo, "worker", line); }
void log_warn(std::string_view line) { ff::log::write(ff::log::Level::kWarn, "worker", line); }
void log_error(std::string_view line) { ff::log::write(ff::log::Level::kError, "worker", line); }

}  // namespace ff::worker
