// Device bytes a stage transformer needs beyond its weights while it samples one job: an upper
// estimate of the activations of one velocity evaluation (batch 1: guidance branches run one
// after the other) plus what the stage holds for its whole phase (rotary tables, latents).
// Used by placement planning (how many blocks may stay resident) and charged to the meter.
#pragma once

#include <cstdint>

#include "worker/engine/video/transformer.hpp"

namespace ff::video {

// For latents of `grid`, contexts of up to `context_rows` rows, computing in `compute_bytes`
// per element (2 for bf16). Pure arithmetic; any thread.
int64_t stage_working_bytes(const TransformerConfig& c, const LatentGrid& grid, int64_t context_rows,
                            int64_t compute_bytes);

}  // namespace ff::video
