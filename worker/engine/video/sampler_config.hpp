// Sampler settings of a model, decoded from the checkpoint config's "sampler" section
// (ltx.safetensors metadata "config"). Torch-free. Unknown keys are rejected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json.hpp"

namespace ff::video {

struct SamplerConfig {
  // Stage 1 time shift grows with the token count: mu = lerp(base_shift, max_shift) over
  // [base_tokens, max_tokens], sigma' = e^mu / (e^mu + 1/sigma - 1).
  double base_shift = 0.95;
  double max_shift = 2.05;
  int64_t base_tokens = 1024;
  int64_t max_tokens = 4096;
  // Stage 2 starts from the upsampled stage-1 latent noised to stage2_sigmas[0] and steps through
  // the rest (last must be 0). Stage 2 runs without guidance (positive context only).
  std::vector<double> stage2_sigmas = {0.909375, 0.725, 0.421875, 0.0};
};

// Throws std::invalid_argument naming `what` and the key.
SamplerConfig sampler_config_from_json(const json::Value& section, const std::string& what);
json::Object sampler_config_to_json(const SamplerConfig& c);

// Stage-1 sigma schedule: steps+1 values from 1 down to 0, shifted for `tokens` video tokens.
std::vector<double> stage1_sigmas(int64_t steps, int64_t tokens, const SamplerConfig& c);

}  // namespace ff::video
