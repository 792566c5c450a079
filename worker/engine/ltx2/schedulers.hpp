// LTX-2.3's sigma schedules (ltx-core components/schedulers.py LTX2Scheduler; ltx-pipelines
// utils/constants.py DISTILLED_SIGMA_VALUES, STAGE_2_DISTILLED_SIGMA_VALUES).
//
// A schedule is a decreasing list of float32 sigmas ending at 0; a sampler runs size() - 1 steps.
// Every value is computed in float32 with the operations (and rounding points) ltx-core uses, so
// the default 30-step schedule starts at 0.99999994, not 1.0. Torch-free; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace ff::ltx2 {

// LTX2Scheduler.execute's keyword arguments, with its defaults.
struct LTX2SchedulerOptions {
  double max_shift = 2.05;             // shift at 4096 tokens
  double base_shift = 0.95;            // shift at 1024 tokens (linear in the token count)
  bool stretch = true;                 // stretch so the last non-zero sigma equals `terminal`
  double terminal = 0.1;
  int64_t default_tokens = 4096;       // used when no latent is given (what the pipelines do)
};

// The token count LTX2Scheduler derives from a latent: the product of the UNPATCHIFIED latent's
// dims after batch and channels ([B, C, F, H, W] -> F*H*W). Throws std::invalid_argument for
// fewer than 3 dims or a non-positive dim.
int64_t scheduler_tokens(const std::vector<int64_t>& unpatchified_latent_shape);

// LTX2Scheduler.execute(steps, latent): steps + 1 sigmas. `tokens` = scheduler_tokens(latent
// shape), or nullopt for "no latent" (options.default_tokens). Shift
// s = tokens * (max - base) / 3072 + base - 1024 * (max - base) / 3072 (double);
// sigma' = e^s / (e^s + 1/sigma - 1) for sigma != 0 over linspace(1, 0, steps + 1); then, with
// stretch, z -> 1 - (1 - z) / ((1 - z_last) / (1 - terminal)) over the non-zero entries.
// Throws std::invalid_argument for steps < 1 or tokens < 1.
std::vector<float> ltx2_sigmas(int64_t steps, std::optional<int64_t> tokens = std::nullopt,
                               const LTX2SchedulerOptions& options = {});

// DISTILLED_SIGMA_VALUES: the distilled pipeline's stage-1 schedule (8 steps).
const std::vector<float>& distilled_sigmas();
// STAGE_2_DISTILLED_SIGMA_VALUES: {0.909375, 0.725, 0.421875, 0} (3 steps), both pipelines' stage 2.
const std::vector<float>& stage2_sigmas();

}  // namespace ff::ltx2
