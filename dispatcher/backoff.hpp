// Exponential backoff with jitter ("equal jitter": half fixed, half random). Pure; any thread.
#pragma once

#include <algorithm>
#include <cstdint>

#include "dispatcher/config.hpp"

namespace ff::dispatcher {

// Delay before attempt `failed_attempts + 1`, given `failed_attempts` >= 1 failures so far and a
// uniform random `u` in [0, 1): d = min(max_ms, base_ms * 2^(failed_attempts-1)); returns
// d/2 + u*d/2, so it lies in [d/2, d).
inline int64_t backoff_delay_ms(int64_t failed_attempts, const BackoffConfig& c, double u) {
  if (failed_attempts < 1) failed_attempts = 1;
  int64_t d = c.base_ms;
  for (int64_t i = 1; i < failed_attempts && d < c.max_ms; ++i) d *= 2;
  d = std::min(d, c.max_ms);
  u = std::clamp(u, 0.0, 1.0);
  return d / 2 + static_cast<int64_t>(u * static_cast<double>(d - d / 2));
}

}  // namespace ff::dispatcher
