// When to start the engine again after it went down, and when to stop trying.
//
// The delay starts at `initial_ms` and doubles with every failure up to `max_ms`; it falls back to
// `initial_ms` once an engine has stayed up (EngineHello received) for `max_ms` or longer, so a
// rare crash is restarted at once while a crash loop slows down to one try per `max_ms`.
// A failure before EngineHello is a start failure: after `max_start_failures` of them in a row
// (0 = never) the engine cannot start (bad model files, no GPU, a broken install) and the worker
// stops and says so instead of restarting forever. Pure: the caller passes the clock.
#pragma once

#include <chrono>
#include <cstdint>

namespace ff::worker {

struct RestartPolicy {
  int32_t initial_ms = 1000;       // first wait (config engine_restart_backoff_ms)
  int32_t max_ms = 60000;          // cap (engine_restart_backoff_max_ms)
  int32_t max_start_failures = 5;  // engine_max_start_failures; 0 = retry forever
};

class RestartBackoff {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RestartBackoff(RestartPolicy p);

  // The engine said EngineHello at `now`: it started.
  void started(Clock::time_point now);
  // The engine went down at `now` (crash, hang, failed start). Returns the wait before the next
  // spawn and advances the delay.
  std::chrono::milliseconds failed(Clock::time_point now);
  // max_start_failures start failures in a row (never true when max_start_failures is 0).
  bool exhausted() const;

  int32_t start_failures() const { return start_failures_; }
  std::chrono::milliseconds next_delay() const { return delay_; }

 private:
  RestartPolicy p_;
  std::chrono::milliseconds delay_;
  int32_t start_failures_ = 0;
  bool up_ = false;
  Clock::time_point up_since_{};
};

}  // namespace ff::worker
