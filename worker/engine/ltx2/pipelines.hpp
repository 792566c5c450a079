// LTX-2.3's two sampling drivers, as ltx-pipelines runs them at HEAD:
//   two_stages (ti2vid_two_stages.py): stage 1 at half size with multi-modal guidance over
//     LTX2Scheduler(params.steps) (no latent: 4096 tokens), upsample the video latent, stage 2 at
//     full size without guidance over {0.909375, 0.725, 0.421875, 0} from
//     lerp(latent, noise, 0.909375) for both the upsampled video and the stage-1 audio. HEAD
//     DISCARDS stage 2's audio: the audio to decode is stage 1's (stage 2 still denoises audio,
//     since the video attends to it).
//   distilled (distilled.py, 2.3: deterministic Euler): stage 1 at half size without guidance over
//     DISTILLED_SIGMA_VALUES, upsample, stage 2 as above; stage 2's audio is kept.
// A stage (ltx-pipelines DiffusionStage): initial states video then audio (noise drawn in that
// order), then per step: the denoiser callback runs the transformer passes, X0 = x - v * sigma
// (to_denoised), the guider (stage 1 of two_stages) combines the passes, then the masked blend and
// the Euler step (diffusion_step.hpp) for each stream.
//
// The transformer is behind a callback, so the drivers do not care where weights live
// (resident, streamed, LoRA fused or not). Noise is behind a callback too: the default draws
// at::randn on the run's device from ONE generator seeded with params.seed, in the order stage-1
// video, stage-1 audio, stage-2 video, stage-2 audio (patchified shapes [1, N, C], state dtype),
// like ltx-pipelines; parity tests inject the reference's tensors instead.
// Threads: a run is single-threaded (the caller's thread; hooks and callbacks run on it).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/ltx2/av_transformer.hpp"
#include "worker/engine/ltx2/guider.hpp"
#include "worker/engine/ltx2/pipeline_params.hpp"
#include "worker/engine/ltx2/step_hooks.hpp"

namespace ff::ltx2 {

// One transformer pass of a step: the perturbation and the text contexts it runs with.
struct PassRequest {
  PassKind kind = PassKind::kCond;
  PassConfig perturbation;                  // STG: self-attn skipped in the guider's stg_blocks
                                            // (video and audio lists separately); isolated:
                                            // skip_cross_modal
  at::Tensor video_context, audio_context;  // [1, T, D] (negative ones for kUncond)
};

// Everything a denoiser needs for one step. video/audio carry the positive contexts; the passes
// say which contexts and perturbations to run. Passes of one step share the latents, sigmas and
// positions, so a denoiser may share work between them (e.g. the STG pass equals the cond pass
// up to its first perturbed block).
struct StepRequest {
  int stage = 1;             // 1 or 2
  int64_t step = 0;          // 0-based within the stage
  int64_t total_steps = 0;
  ModalityInput video, audio;
  std::vector<PassRequest> passes;  // cond first
};
// Returns one velocity pair per pass, in the order of req.passes (not denoised: the driver
// applies to_denoised). Velocities in the latents' dtype, shapes of the latents.
using DenoiseFn = std::function<std::vector<AVVelocity>(const StepRequest& req)>;

// The spatial upsampler between the stages: normalized unpatchified video latent
// [1, C, F, H, W] -> [1, C, F, 2H, 2W] (upsampler.hpp upsample_video_latent), same dtype.
using UpsampleFn = std::function<at::Tensor(const at::Tensor& video_latent)>;

enum class NoiseDraw { kStage1Video = 0, kStage1Audio = 1, kStage2Video = 2, kStage2Audio = 3 };
using NoiseFn = std::function<at::Tensor(NoiseDraw which, at::IntArrayRef shape, at::ScalarType dtype,
                                         at::Device device)>;
// at::randn on `device` from one generator (the device's generator type, cloned from its default
// and seeded with `seed`); draws in call order. Equals torch.randn(..., generator=
// torch.Generator(device).manual_seed(seed)) on the same device and kernels (the CUDA Philox
// layout depends on the launch geometry, so only the same GPU model / libtorch gives the same
// numbers).
NoiseFn seeded_noise(int64_t seed, at::Device device);

// Text contexts (embeddings-processor output), [1, T, D] each. The negative ones are needed only
// by guided passes (two_stages' stage 1 with cfg != 1).
struct PromptContexts {
  at::Tensor video, audio;
  at::Tensor video_negative, audio_negative;
};

struct PipelineRun {
  PipelineParams params;
  LatentLayout layout;
  at::ScalarType dtype = at::kBFloat16;  // state dtype (the reference: bf16)
  at::Device device = at::kCPU;
  NoiseFn noise;                         // empty: seeded_noise(params.seed, device)
  StepHooks hooks;            // phases "stage1" and "stage2"; Cancelled between steps
  int64_t num_layers = 0;                // > 0: STG blocks are checked against it
};

struct SampleResult {
  at::Tensor video;         // [1, C, F, H, W] stage-2 video latent (normalized), to decode
  at::Tensor audio;         // [1, Ca, T, mel] the audio latent to decode (two_stages: stage 1's;
                            // distilled: stage 2's)
  at::Tensor stage1_video;  // [1, C, F, H/2, W/2]
  at::Tensor stage1_audio;  // [1, Ca, T, mel]
  at::Tensor upsampled;     // [1, C, F, H, W] stage 2's starting video latent (before noise)
  at::Tensor stage2_audio;  // [1, Ca, T, mel]
};

// Throws std::invalid_argument (params, context shapes, callback results of the wrong count or
// shape), Cancelled, and whatever the callbacks throw.
SampleResult run_two_stages(const PipelineRun& run, const PromptContexts& contexts, const DenoiseFn& stage1,
                            const UpsampleFn& upsample, const DenoiseFn& stage2);
SampleResult run_distilled(const PipelineRun& run, const PromptContexts& contexts, const DenoiseFn& denoise,
                           const UpsampleFn& upsample);

}  // namespace ff::ltx2
