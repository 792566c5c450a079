// One GenerateRequest, start to finish: contexts from the wire, stage 1, stage 2, decode, and the
// Y4M + first-frame PNG under the output directory, named by job id.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "common/protocol.hpp"
#include "worker/engine/app/transformer_stages.hpp"
#include "worker/engine/app/video_models.hpp"
#include "worker/engine/runtime/memory_meter.hpp"
#include "worker/engine/video/sampler.hpp"

namespace ff::engine {

struct GenerateOutcome {
  std::string video_path;    // <dir>/<job_id>.y4m
  std::string preview_path;  // <dir>/<job_id>.png
  std::map<std::string, double> timings_s;          // "stage1", "stage2", "decode", "write"
  std::map<std::string, int64_t> peak_vram_bytes;   // component -> meter peak in its phase
};

// The directory a job's files go to: request.output_dir when set (relative paths resolve under
// output_root), else output_root.
std::string job_output_dir(const proto::GenerateRequest& req, const std::string& output_root);

// Builds the velocity of stage 1 or 2 for a job; called once per stage, at the stage's start,
// on the sampling thread (e.g. TransformerStages::velocity).
using StageVelocity = std::function<video::VelocityFn(int stage, const StageJob& job)>;

// Decodes the final latent [1, C, F, H, W] to frames [F', H', W', 3] uint8 on the CPU; called
// once per job, on the sampling thread (e.g. PlacedDecoder::decode).
using LatentDecode = std::function<at::Tensor(const at::Tensor& latent)>;

// Runs the job on `device` with the stages' velocities from `stages` and the frames from `decode`.
// hooks.cancelled is polled before every denoising step; hooks.progress after each. The meter's
// peak is reset at each component's phase. Throws video::Cancelled, video::InvalidRequest (bad
// params or contexts), c10 errors (OOM...), and whatever `stages` or `decode` throw.
GenerateOutcome run_generate(const VideoModels& models, const StageVelocity& stages, const LatentDecode& decode,
                             const proto::GenerateRequest& req, const std::string& output_root,
                             at::Device device, rt::MemoryMeter& meter, const video::StepHooks& hooks);

// The same with models' resident decoder (video::decode_latent).
GenerateOutcome run_generate(const VideoModels& models, const StageVelocity& stages,
                             const proto::GenerateRequest& req, const std::string& output_root,
                             at::Device device, rt::MemoryMeter& meter, const video::StepHooks& hooks);

// The same with the resident velocities of models.stage1 / models.stage2 (all weights on `device`).
GenerateOutcome run_generate(const VideoModels& models, const proto::GenerateRequest& req,
                             const std::string& output_root, at::Device device,
                             rt::MemoryMeter& meter, const video::StepHooks& hooks);

}  // namespace ff::engine
