// Device bytes LTX-2.3's video decoder needs beyond its weights, for placement planning: an upper
// estimate from the activation shapes (eager libtorch, one forward alive at a time). Arithmetic
// (plus the tile masks for the tiled case); any thread.
#pragma once

#include <cstdint>
#include <optional>

#include "worker/engine/ltx2/video_decoder_config.hpp"
#include "worker/engine/ltx2/video_tiling.hpp"

namespace ff::ltx2 {

// One forward (video_decoder_forward) over a latent [1, C, frames, height, width] (latent cells),
// computing with `elem_bytes` per element (2 for bf16), the default VideoDecoderMemory. Counts, per
// stage, the tensors alive at its peak: a resnet holds its input, the time-padded workspace, two
// temporal chunks of conv output and a chunk's square; an upsampler its padded input and the conv
// output, then the conv output and the depth-to-space copy. `cpu_unfold` adds the CPU
// convolution's unfolded chunk input (27 x) as conv workspace; on CUDA one chunk is assumed.
int64_t video_decoder_forward_bytes(const VideoDecoderConfig& c, int64_t frames, int64_t height, int64_t width,
                                    int64_t elem_bytes, bool cpu_unfold = false);

// decode_video_to_uint8 over a latent of frames x height x width cells: untiled, one forward plus
// the uint8 frames; tiled, one group buffer and the previous group's overlap tail (doubled by
// weight buffers when the masks do not sum to one) plus the larger of the largest tile's forward
// (or its decoded tile with two float32 slabs) and a chunk's hand-out (uint8 copies, tail clone).
int64_t video_decoder_working_set_bytes(const VideoDecoderConfig& c, int64_t frames, int64_t height, int64_t width,
                                        const std::optional<VideoTilingConfig>& tiling, int64_t elem_bytes,
                                        bool cpu_unfold = false);

}  // namespace ff::ltx2
