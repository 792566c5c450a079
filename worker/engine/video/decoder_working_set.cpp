#include "worker/engine/video/decoder_working_set.hpp"

#include <algorithm>

namespace ff::video {

int64_t decoder_working_bytes(const DecoderConfig& c, int64_t frames, int64_t height, int64_t width,
                              int64_t compute_bytes) {
  const int64_t e = compute_bytes;
  int64_t n = frames * height * width;  // voxels at the current level's input
  // Input: the latent in float32 twice (scaled, shifted), its compute copy, conv_in's workspace
  // and output.
  const int64_t ch0 = c.block_out_channels.empty() ? 0 : c.block_out_channels[0];
  int64_t worst = 2 * c.latent_channels * n * 4 + 28 * c.latent_channels * n * e + ch0 * n * e;
  for (size_t i = 0; i < c.block_out_channels.size(); ++i) {
    const int64_t ch = c.block_out_channels[i], t = c.temporal_upsample[i], s = c.spatial_upsample[i];
    const int64_t up = c.level_out(i) * t * s * s;
    // x, normed, activated, residual, sum; three float32 norm temporaries; conv workspace; the
    // upsampling conv's output and its depth-to-space copy.
    worst = std::max(worst, 5 * ch * n * e + 3 * ch * n * 4 + 27 * ch * n * e + 2 * up * n * e);
    n = (1 + t * (frames - 1)) * (height * s) * (width * s);
    frames = 1 + t * (frames - 1);
    height *= s;
    width *= s;
  }
  // Output: x, its norm temporaries and activation, conv_out's workspace, RGB in float32 and the
  // clamp/scale/round/uint8 copies.
  const int64_t last = c.block_out_channels.empty() ? c.latent_channels : c.level_out(c.block_out_channels.size() - 1);
  worst = std::max(worst, 2 * last * n * e + 3 * last * n * 4 + 27 * last * n * e + 3 * n * (e + 4 * 4 + 2));
  return worst;
}

}  // namespace ff::video
