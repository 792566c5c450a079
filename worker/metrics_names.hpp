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

// ---- per worker
inline constexpr std::string_view kGpuUsed = "framefarm_gpu_memory_used_bytes";
inline constexpr std::string_view kGpuTotal = "framefarm_gpu_memory_total_bytes";
inline constexpr std::string_view kGpuBudget = "framefarm_gpu_memory_budget_bytes";
inline constexpr std::string_view kOomsAvoided = "framefarm_ooms_avoided_total";
inline constexpr std::string_view kEngineRestarts = "framefarm_engine_restarts_total";
inline constexpr std::string_view kCacheHits = "framefarm_embedding_cache_hits_total";      // tier
inline constexpr std::string_view kCacheMisses = "framefarm_embedding_cache_misses_total";  // tier
inline constexpr std::string_view kCacheInvalidRows = "framefarm_embedding_cache_invalid_rows_total";
inline constexpr std::string_view kCacheDbErrors = "framefarm_embedding_cache_database_errors_total";
inline constexpr std::string_view kCacheRamBytes = "framefarm_embedding_cache_ram_bytes";
inline constexpr std::string_view kEncodeBatch = "framefarm_encode_batch_prompts";          // histogram
inline constexpr std::string_view kPhaseDuration = "framefarm_job_phase_duration_seconds";  // histogram, phase
inline constexpr std::string_view kJobs = "framefarm_jobs_total";                          // outcome

inline constexpr auto kComponents = ff::kComponentNames;  // common/components.hpp
inline constexpr std::array<std::string_view, 2> kTiers = {"ram", "database"};
// "mux": the supervisor's MP4 encode of a finished job (worker/mux_stage.hpp), off the engine.
// Phases of a job (GenerateResult::timings_s keys, plus the supervisor's queue_wait, encode, mux).
inline constexpr std::array<std::string_view, 10> kPhases = {
    "queue_wait", "encode", "stage1", "upsample", "stage2", "decode", "decode_audio", "vocode", "write", "mux"};
// "succeeded", then one per proto::ErrorKind except kNone (same order as the enum).
inline constexpr std::array<std::string_view, 7> kOutcomes = {
    "succeeded",   "bad_input", "out_of_memory", "vram_budget",
    "engine_crash", "cancelled", "internal"};

}  // namespace ff::worker::metric
