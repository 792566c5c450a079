// Names and label values of every metric the worker exports (WorkerMetrics registers them).
// Dashboards, alert rules and tests refer to these; keep ops/grafana and ops/prometheus in step.
#pragma once

#include "common/components.hpp"

#include <array>
#include <string_view>

namespace ff::worker::metric {

// ---- per component (label component=<one of kComponents>)
inline constexpr std::string_view kComponentPeakVram = "framefarm_component_peak_vram_bytes";
inline constexpr std::string_view kComponentResident = "framefarm_component_resident_bytes";
inline constexpr std::string_view kComponentPinnedHost = "framefarm_component_pinned_host_bytes";
inline constexpr std::string_view kComponentStreamed = "framefarm_component_streamed_bytes_total";
inline constexpr std::string_view kComponentStreamSeconds = "framefarm_component_stream_seconds_total";
inline constexpr std::string_view kComponentStreamBandwidth =
    "framefarm_component_stream_bandwidth_bytes_per_second";
inline constexpr std::string_view kComponentStall = "framefarm_component_stall_seconds_total";
inline constexpr std::string_view kComponentResidentBlocks = "framefarm_component_resident_blocks";
inline constexpr std::string_view kComponentBlocks = "framefarm_component_blocks";
inline constexpr std::string_view kComponentPlacement = "framefarm_component_placement_info";

// Every series carries the labels worker_id (the config's worker_id) and gpu (the engine's
// device, "cuda:0" / "cpu"), so per-GPU views need no host:port mapping.
inline constexpr std::string_view kWorkerIdLabel = "worker_id";
inline constexpr std::string_view kGpuLabel = "gpu";

// ---- per worker
inline constexpr std::string_view kGpuUsed = "framefarm_gpu_memory_used_bytes";
inline constexpr std::string_view kGpuTotal = "framefarm_gpu_memory_total_bytes";
inline constexpr std::string_view kGpuBudget = "framefarm_gpu_memory_budget_bytes";
// Unix time of the engine's latest EngineStats (the engine sends one after every request and at
// least every 10 s while idle or reporting progress): guards VRAM alerts against stale gauges.
inline constexpr std::string_view kEngineStatsTime = "framefarm_engine_stats_timestamp_seconds";
// 1 while an engine process has said hello and serves; 0 while down, starting or crash-looping.
inline constexpr std::string_view kEngineUp = "framefarm_engine_up";
// 1 while the dispatcher has welcomed this worker's registration; 0 otherwise.
inline constexpr std::string_view kRegistered = "framefarm_worker_registered";
inline constexpr std::string_view kOomsAvoided = "framefarm_ooms_avoided_total";
inline constexpr std::string_view kEngineRestarts = "framefarm_engine_restarts_total";
inline constexpr std::string_view kCacheHits = "framefarm_embedding_cache_hits_total";      // tier
inline constexpr std::string_view kCacheMisses = "framefarm_embedding_cache_misses_total";  // tier
inline constexpr std::string_view kCacheInvalidRows = "framefarm_embedding_cache_invalid_rows_total";
inline constexpr std::string_view kCacheDbErrors = "framefarm_embedding_cache_database_errors_total";
inline constexpr std::string_view kCacheRamBytes = "framefarm_embedding_cache_ram_bytes";
inline constexpr std::string_view kEncodeBatch = "framefarm_encode_batch_prompts";          // histogram
inline constexpr std::string_view kPhaseDuration = "framefarm_job_phase_duration_seconds";  // histogram, phase
// One finished attempt of a job on this worker (the dispatcher may retry it elsewhere: per job
// outcomes are the dispatcher's framefarm_jobs_finished_total). Labels outcome, error_kind.
inline constexpr std::string_view kJobs = "framefarm_job_attempts_total";

inline constexpr auto kComponents = ff::kComponentNames;  // common/components.hpp
inline constexpr std::array<std::string_view, 2> kTiers = {"ram", "database"};
// "mux": the supervisor's MP4 encode of a finished job (worker/mux_stage.hpp), off the engine.
// Phases of a job (GenerateResult::timings_s keys, plus the supervisor's queue_wait, encode, mux).
inline constexpr std::array<std::string_view, 10> kPhases = {
    "queue_wait", "encode", "stage1", "upsample", "stage2", "decode", "decode_audio", "vocode", "write", "mux"};
// error_kind label: "none", then one per proto::ErrorKind except kNone (same order as the enum).
inline constexpr std::array<std::string_view, 7> kErrorKinds = {
    "none",         "bad_input", "out_of_memory", "vram_budget",
    "engine_crash", "cancelled", "internal"};
// outcome label: succeeded (error_kind none); user_error (bad_input: the submitter's input, never
// the operator's problem); cancelled; failed (every other error_kind: the operator's problem).
inline constexpr std::array<std::string_view, 4> kOutcomes = {"succeeded", "user_error", "failed", "cancelled"};
// The outcome of an error_kind label value (above).
constexpr std::string_view outcome_of(std::string_view error_kind) {
  if (error_kind == "none") return "succeeded";
  if (error_kind == "bad_input") return "user_error";
  if (error_kind == "cancelled") return "cancelled";
  return "failed";
}

}  // namespace ff::worker::metric
