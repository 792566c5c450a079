// Names and label values of every metric the dispatcher exports (DispatcherMetrics registers
// them). ops/prometheus and ops/grafana refer to these; tests/worker/metrics checks they name only these.
//
// Queue and worker figures are read from the database, so they describe the whole farm: every
// dispatcher of a farm exports the same values (aggregate them with max(), not sum()). The
// framefarm_dispatcher_* counters are this dispatcher's own.
#pragma once

#include <array>
#include <string_view>

namespace ff::dispatcher::metric {

// ---- farm-wide, from the database (refreshed every metrics interval)
inline constexpr std::string_view kQueueJobs = "framefarm_queue_jobs";  // gauge: state (kStates), model
inline constexpr std::string_view kQueueOldestAge = "framefarm_queue_oldest_job_age_seconds";  // gauge
inline constexpr std::string_view kWorkers = "framefarm_workers";  // gauge: status (alive|dead|gone)
// Per job (not per attempt), observed once when the job is seen finished:
inline constexpr std::string_view kJobE2e = "framefarm_job_end_to_end_seconds";  // histogram: outcome
inline constexpr std::string_view kJobStartDelay = "framefarm_job_start_delay_seconds";  // histogram
inline constexpr std::string_view kJobsFinished = "framefarm_jobs_finished_total";  // counter: outcome

// ---- this dispatcher's serve loop (DispatcherStats)
inline constexpr std::string_view kClaims = "framefarm_dispatcher_claims_total";
inline constexpr std::string_view kJobsSent = "framefarm_dispatcher_jobs_sent_total";
inline constexpr std::string_view kResults = "framefarm_dispatcher_results_total";  // result
inline constexpr std::string_view kWorkersDead = "framefarm_dispatcher_workers_dead_total";
inline constexpr std::string_view kDbReconnects = "framefarm_dispatcher_database_reconnects_total";
// Seconds in claim statements: / kClaims = mean claim latency.
inline constexpr std::string_view kClaimSeconds = "framefarm_dispatcher_claim_seconds_total";
inline constexpr std::string_view kSendsFailed = "framefarm_dispatcher_sends_failed_total";
inline constexpr std::string_view kDeadlinesExceeded = "framefarm_dispatcher_deadlines_exceeded_total";
inline constexpr std::string_view kLeasesAdopted = "framefarm_dispatcher_leases_adopted_total";
inline constexpr std::string_view kLeasesTakenOver = "framefarm_dispatcher_leases_taken_over_total";
inline constexpr std::string_view kFramesDropped = "framefarm_dispatcher_frames_dropped_total";
// Failed attempts by reason (error_kind; bad_input = the submitter's fault, not the farm's).
inline constexpr std::string_view kAttemptsFailed = "framefarm_dispatcher_attempts_failed_total";  // reason
// Serve-loop turns and their busy seconds (poll wait excluded): / turns = mean turn; and the
// longest turn between two metrics refreshes (a loop stalled on SQL shows here).
inline constexpr std::string_view kLoopTurns = "framefarm_dispatcher_loop_turns_total";
inline constexpr std::string_view kLoopBusySeconds = "framefarm_dispatcher_loop_busy_seconds_total";
inline constexpr std::string_view kLoopMaxSeconds = "framefarm_dispatcher_loop_max_turn_seconds";

// ---- the metrics refresh itself
inline constexpr std::string_view kRefreshErrors = "framefarm_dispatcher_metrics_refresh_errors_total";
inline constexpr std::string_view kLastRefresh = "framefarm_dispatcher_metrics_last_refresh_timestamp_seconds";
inline constexpr std::string_view kRefreshDuration = "framefarm_dispatcher_metrics_refresh_duration_seconds";

// The non-terminal job states, in schema order (common/job_state.hpp, schema/001_jobs.sql): the
// queue. Terminal states are counted as they happen (kJobsFinished), not by scanning the table:
// only the few in-flight rows are read every refresh (the partial indexes cover them).
inline constexpr std::array<std::string_view, 4> kStates = {"queued", "leased", "running", "retry_wait"};
inline constexpr std::array<std::string_view, 3> kWorkerStatuses = {"alive", "dead", "gone"};
// Terminal outcomes: user_error = dead with error_kind bad_input (the submitter's fault, never
// the operator's); dead = every other dead job (failures the operator should look at).
inline constexpr std::array<std::string_view, 4> kOutcomes = {"succeeded", "user_error", "dead", "cancelled"};
inline constexpr std::array<std::string_view, 2> kResultKinds = {"applied", "discarded"};
// model label of jobs whose model is '' (any worker).
inline constexpr std::string_view kAnyModel = "any";

}  // namespace ff::dispatcher::metric
