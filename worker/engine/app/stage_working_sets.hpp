// Device bytes the staged decode-side components need beyond their weights, for placement
// planning (PlacedStages::plan): upper estimates from the activation shapes of one eager forward,
// the largest stage's live tensors (its input, the norm/activation outputs, the padded copy, the
// convolution output, a skip or stacked copy). `cpu_unfold` adds the CPU convolution's unfolded
// input (kernel volume x the padded input) as workspace; on CUDA one padded input is assumed.
// Arithmetic over configs; any thread.
#pragma once

#include <cstdint>

#include "worker/engine/ltx2/audio_decoder_config.hpp"
#include "worker/engine/ltx2/upsampler_config.hpp"
#include "worker/engine/ltx2/vocoder_config.hpp"

namespace ff::engine {

// upsample_video_latent over a latent [1, in_channels, frames, height, width] (latent cells),
// `elem_bytes` per element of the compute dtype.
int64_t upsampler_working_bytes(const ltx2::UpsamplerConfig& c, int64_t frames, int64_t height, int64_t width,
                                int64_t elem_bytes, bool cpu_unfold);

// decode_audio_latent over a latent [1, z, frames, mel_bins] (latent frames x latent mel bins).
int64_t audio_decoder_working_bytes(const ltx2::AudioDecoderConfig& c, int64_t frames, int64_t bins,
                                    int64_t elem_bytes, bool cpu_unfold);

// vocode over a mel [1, 2, mel_frames, 64]; the vocoder computes in fp32 whatever its weights.
int64_t vocoder_working_bytes(const ltx2::VocoderConfig& c, int64_t mel_frames, bool cpu_unfold);

}  // namespace ff::engine
