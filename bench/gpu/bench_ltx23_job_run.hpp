// The measuring half of ff_bench_ltx23_job (bench_ltx23_job.cpp): builds the random encoder and
// the random LTX-2.3 model once, then runs whole jobs through the engine's own functions
// (encode::EncodePipeline::encode as encode_entry calls it, then run_ltx2_job) and records time
// and allocator peaks per phase. Single-threaded (the engine thread's role).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "bench/gpu/bench_report.hpp"
#include "bench/gpu/random_encoder.hpp"
#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/app/ltx2_model.hpp"
#include "worker/engine/encode/encode_pipeline.hpp"
#include "worker/engine/ltx2/published_presets.hpp"

namespace ff::bench {

// printf-style progress line "[  12.3 s] ..." (seconds since the first call), flushed.
void note(const char* fmt, ...);

enum class JobKind { kTwoStagesDelta, kTwoStagesFused, kDistilled };

struct JobResult {
  std::string name;             // two_stages_lora_delta | two_stages_fused | distilled
  double whole_seconds = 0;     // prompt encode + run_ltx2_job - clip write
  double stage1_step = 0;       // median seconds of stage-1 steps after the first
  double stage2_step = 0;
  int64_t peak_bytes = 0;       // the highest component peak of the job
};

class JobBench {
 public:
  // preset "full" (ltx23-22b, bf16, 121 x 1024 x 1536) or "tiny" (float32, 17 x 128 x 192).
  JobBench(const std::string& preset, engine::rt::DeviceBackend& backend, int stage1_steps);
  ~JobBench();

  Json describe() const;
  // The random encoder (pinned slabs, streamed) and the model with stage 2 as a streamed delta.
  void build(Report& rep);
  // One whole job; sets the model's stage 2 for `kind` first (not timed). Call in the order
  // delta, fused, distilled (the distilled job drops stage 2).
  JobResult run_job(JobKind kind, Report& rep);
  // Drops the model and the encoder (device and pinned memory).
  void release();
  // One guided stage-1 step (4 passes in one sweep) on a lone resident stage 1, bf16 and fp8
  // weights: median time of `repeats` after a warm-up, allocator peak, weight bytes.
  void stage1_weights_steps(Report& rep, int repeats);

 private:
  engine::EngineConfig config_for(JobKind kind) const;

  ltx2::PublishedPreset preset_;
  bool full_;
  engine::rt::DeviceBackend& be_;
  int steps_;
  at::ScalarType dtype_;
  int max_length_;
  std::unique_ptr<RandomEncoder> enc_;
  std::unique_ptr<engine::encode::EncodePipeline> pipe_;
  std::optional<engine::Ltx2Model> model_;
  ltx2::Lora lora_;  // host copy
  std::vector<std::vector<int32_t>> prompts_;  // positive, negative
};

}  // namespace ff::bench
