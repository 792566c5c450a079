#include "worker/restart_backoff.hpp"

#include <algorithm>

namespace ff::worker {

RestartBackoff::RestartBackoff(RestartPolicy p)
    : p_(p), delay_(std::chrono::milliseconds(std::max<int32_t>(0, p.initial_ms))) {}

void RestartBackoff::started(Clock::time_point now) {
  up_ = true;
  up_since_ = now;
  start_failures_ = 0;
}

std::chrono::milliseconds RestartBackoff::failed(Clock::time_point now) {
  const std::chrono::milliseconds initial(std::max<int32_t>(0, p_.initial_ms));
  const std::chrono::milliseconds cap(std::max(p_.max_ms, p_.initial_ms));
  if (up_ && now - up_since_ >= cap) delay_ = initial;  // it ran long enough: a fresh start
  if (!up_) ++start_failures_;
  up_ = false;
  const std::chrono::milliseconds wait = delay_;
  delay_ = std::min(cap, std::max(delay_ * 2, std::chrono::milliseconds(1)));
  return wait;
}

bool RestartBackoff::exhausted() const {
  return p_.max_start_failures > 0 && start_failures_ >= p_.max_start_failures;
}

}  // namespace ff::worker
