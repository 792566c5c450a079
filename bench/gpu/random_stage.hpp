// A video stage transformer with random weights, initialised directly on the device (no files,
// no host copy): every slot of video::transformer_slots is allocated in `dtype` on `device` and
// drawn from its WeightInit (normal(0, std) or a constant) by the device's generator.
#pragma once

#include <ATen/ATen.h>

#include "worker/engine/video/transformer_config.hpp"
#include "worker/engine/video/transformer_weights.hpp"

namespace ff::bench {

struct RandomStage {
  video::TransformerConfig config;
  video::TransformerWeights weights;
  int64_t bytes = 0;  // device bytes of all weights
};

// Builds one stage of `config` on `device`. Throws what the allocator throws when it does not fit.
RandomStage make_random_stage(const video::TransformerConfig& config, at::Device device, at::ScalarType dtype);

// Device bytes a stage of `config` needs in `dtype` (shapes only, nothing allocated).
int64_t stage_bytes(const video::TransformerConfig& config, at::ScalarType dtype);

}  // namespace ff::bench
