#include "worker/log.hpp"

#include <string>
#include <vector>

#include "common/log.hpp"
#include "worker/metrics/names.hpp"

namespace ff::worker {

void log_info(std::string_view line) { ff::log::write(ff::log::Level::kInfo, "worker", line); }
void log_warn(std::string_view line) { ff::log::write(ff::log::Level::kWarn, "worker", line); }
void log_error(std::string_view line) { ff::log::write(ff::log::Level::kError, "worker", line); }

void log_job(const proto::Job& job, std::string_view msg, proto::ErrorKind kind, std::string_view error) {
  using ff::log::kv;
  std::vector<ff::log::Field> f{kv("job_id", job.job_id), kv("epoch", job.epoch), kv("attempt", job.attempt)};
  const size_t k = static_cast<size_t>(kind);
  if (kind != proto::ErrorKind::kNone)
    f.push_back(kv("error_kind", k < metric::kErrorKinds.size() ? metric::kErrorKinds[k] : "internal"));
  if (!error.empty()) f.push_back(kv("error", error));
  const bool operator_concern = kind != proto::ErrorKind::kNone && kind != proto::ErrorKind::kBadInput &&
                                kind != proto::ErrorKind::kCancelled;
  ff::log::write(operator_concern ? ff::log::Level::kWarn : ff::log::Level::kInfo, "worker", msg, f);
}

}  // namespace ff::worker
