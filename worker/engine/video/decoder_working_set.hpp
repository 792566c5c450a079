// Device bytes the latent decoder needs beyond its weights while it decodes one latent: an upper
// estimate of the largest phase (input statistics + conv_in, one level, conv_out + frames), with
// the CPU convolution's unfolded input (27 x input) counted as the conv workspace. Used by
// placement planning (how many levels may stay resident) and charged to the meter.
#pragma once

#include <cstdint>

#include "worker/engine/video/decoder_config.hpp"

namespace ff::video {

// For a latent [1, C, frames, height, width] (latent units), computing in `compute_bytes` per
// element (4 for float32). Pure arithmetic; any thread.
int64_t decoder_working_bytes(const DecoderConfig& c, int64_t frames, int64_t height, int64_t width,
                              int64_t compute_bytes);

}  // namespace ff::video
