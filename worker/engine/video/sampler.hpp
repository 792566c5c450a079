// Flow-matching Euler sampling with classifier-free guidance, and the two-stage schedule
// (stage 1 at half the output resolution, stage 2 refining the 2x upsampled latent).
//
// Convention: x_sigma = (1 - sigma) * x0 + sigma * noise; the model predicts the velocity
// v = noise - x0; an Euler step is x += (sigma_next - sigma) * v. With guidance g and a negative
// context: v = v_neg + g * (v_pos - v_neg) (g == 1 skips the negative pass).
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/video/sampler_config.hpp"
#include "worker/engine/video/transformer.hpp"

namespace ff::video {

// Thrown by the samplers when the cancel hook answers true at a step boundary.
struct Cancelled : std::runtime_error {
  explicit Cancelled(const std::string& phase, int step)
      : std::runtime_error("cancelled in " + phase + " before step " + std::to_string(step)),
        phase(phase), step(step) {}
  std::string phase;
  int step;  // the step that did not run (0-based)
};

// Hooks called on the sampling thread: `cancelled` before every step (true stops with
// Cancelled), `progress` after every step with (phase, steps done, total steps).
struct StepHooks {
  std::function<bool()> cancelled;
  std::function<void(const std::string& phase, int done, int total)> progress;
};

// Velocity for a latent [B, C, F, H, W] (float32) at time sigma under `context` [B, T, Cctx].
using VelocityFn =
    std::function<at::Tensor(const at::Tensor& latent, double sigma, const at::Tensor& context)>;

// Euler over `sigmas` (decreasing, ends at 0) from x. `negative` may be undefined (no guidance).
// Returns the final latent (float32). Throws Cancelled.
at::Tensor euler_sample(const VelocityFn& velocity, at::Tensor x, const std::vector<double>& sigmas,
                        const at::Tensor& positive, const at::Tensor& negative, double guidance,
                        const std::string& phase, const StepHooks& hooks);

// A stage transformer with its sizes.
struct StageModel {
  TransformerConfig config;
  TransformerWeights weights;
};

// The resident velocity function of `model` for latents of `grid` (patchify, forward, unpatchify).
VelocityFn resident_velocity(const StageModel& model, const LatentGrid& grid);

// What a job asks for, in output pixels/frames.
struct VideoRequest {
  int64_t width = 0, height = 0, num_frames = 0;
  int64_t steps = 0;
  double guidance = 1.0;
  int64_t seed = 0;
};

// Latent geometry of the decoder.
struct LatentFormat {
  int64_t channels = 0;
  int64_t temporal_scale = 1;  // frames = 1 + temporal_scale * (latent_frames - 1)
  int64_t spatial_scale = 1;
};

// Thrown for requests the models cannot serve (sizes not multiples, steps out of range): the job
// is bad input, not an engine failure.
struct InvalidRequest : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Latent grids of the two stages for `req`; throws InvalidRequest naming the offending field.
struct StageGrids {
  LatentGrid stage1, stage2;
};
StageGrids stage_grids(const VideoRequest& req, const LatentFormat& fmt, const TransformerConfig& s1,
                       const TransformerConfig& s2);

// Velocity functions per stage, built by the caller for the grid it is given (resident or streamed).
using VelocityFactory = std::function<VelocityFn(const LatentGrid& grid)>;

// Runs both stages on `device`: stage-1 noise and stage-2 noise come, in that order, from one CPU
// generator seeded with req.seed, so a seed gives the same latent on every device.
// positive/negative: [1, T, Cctx] contexts (negative undefined = no guidance).
// Returns the stage-2 latent [1, C, F, 2H, 2W] (float32). Throws Cancelled, InvalidRequest.
at::Tensor sample_two_stage(const VelocityFactory& stage1, const VelocityFactory& stage2,
                            const StageGrids& grids, const SamplerConfig& sampler,
                            const LatentFormat& fmt, const VideoRequest& req,
                            const TransformerConfig& s1_config, const at::Tensor& positive,
                            const at::Tensor& negative, at::Device device, const StepHooks& hooks);

}  // namespace ff::video
