// Job states. The single source of truth for C++; schema/001_jobs.sql defines the same enum type
// framefarm.job_state and a pg test checks the two lists are identical, in order.
//
//   queued      waiting to be claimed (run_after <= now()); the initial state.
//   leased      claimed by a dispatcher and sent to a worker under a fencing epoch; not started.
//   running     the worker reported progress: it is executing the job.
//   retry_wait  failed with a retryable error; queued again once run_after passes (backoff).
//   succeeded   terminal: result recorded.
//   dead        terminal: failed with a non-retryable error, or attempts reached max_attempts.
//   cancelled   terminal: cancelled by an operator (queued jobs at once, running ones at the next
//               step boundary).
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace ff {

enum class JobState { kQueued, kLeased, kRunning, kRetryWait, kSucceeded, kDead, kCancelled };

inline constexpr std::array<std::string_view, 7> kJobStateNames = {
    "queued", "leased", "running", "retry_wait", "succeeded", "dead", "cancelled"};

inline constexpr std::string_view to_string(JobState s) {
  return kJobStateNames[static_cast<size_t>(s)];
}

inline constexpr std::optional<JobState> parse_job_state(std::string_view s) {
  for (size_t i = 0; i < kJobStateNames.size(); ++i)
    if (kJobStateNames[i] == s) return static_cast<JobState>(i);
  return std::nullopt;
}

inline constexpr bool is_terminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kDead || s == JobState::kCancelled;
}

}  // namespace ff
