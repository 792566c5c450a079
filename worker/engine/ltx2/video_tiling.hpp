// Tiled video decoding as ltx-core does it (tiling.py TileSizeConfig / split ops / trapezoid
// masks, ConvVideoDecoder.tiled_decode): the latent is cut into overlapping tiles along frames,
// height and width; each tile is decoded on its own; the decoded tiles are weighted by separable
// 1-D trapezoid masks and summed into a buffer per temporal group (all tiles sharing one frame
// range), and consecutive temporal groups are blended over their overlap. The result differs from
// an untiled decode by design (different receptive fields), so it must be reproduced exactly.
//
// Units: tile sizes and overlaps are in output pixels / frames, as in ltx-core's TileSizeConfig;
// they are converted to latent cells with the decoder's scale factors. Temporal tiles after the
// first start one latent frame early, and their output mask ramps from 0 (the causal first-frame
// handling). Masks are float32; the group buffers have the latent's dtype (bf16 in the pipeline),
// so every accumulation rounds to it exactly where the reference does.
//
// Memory: one tile's decoder activations + the current and previous temporal group buffers
// ([B, 3, group frames, H, W] each, twice when the masks do not sum to one).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/ltx2/video_decoder_config.hpp"

namespace ff::ltx2 {

// One axis: tile_size 0 = not tiled (overlap must then be 0); else 0 <= overlap < tile_size.
struct TileAxis {
  int64_t tile_size = 0;
  int64_t overlap = 0;
  bool tiled() const { return tile_size > 0; }
  bool operator==(const TileAxis& o) const { return tile_size == o.tile_size && overlap == o.overlap; }
};

struct VideoTilingConfig {
  TileAxis frames, height, width;
};

// The pipelines' AUTO tiling for the conv VAE (ltx-pipelines tiling_config_for_vae ->
// TileSizeConfig.from_long_side): the long side gets 768 px tiles with 64 px overlap, the short
// side a tile scaled by the aspect ratio in latent units (Python round, i.e. half to even),
// frames 80 with 24 overlap. `height`/`width` are the output video's pixels; `scale` is the
// pipeline's VIDEO_SCALE_FACTORS {8, 32, 32} (equal to LTX-2.3's decoder factors).
VideoTilingConfig default_video_tiling(int64_t height, int64_t width, const VideoScale& scale = {});
// The general form: `long_side` applies to the longer axis; both spatial axes share its overlap.
VideoTilingConfig video_tiling_from_long_side(const TileAxis& long_side, int64_t height, int64_t width,
                                              const VideoScale& scale, const TileAxis& frames);

// Throws std::invalid_argument (naming the axis) when `cfg` is illegal for `scale`: as ltx-core's
// DimensionSizeConfig and _validate_size_axis (tiled: tile >= 2 * factor, tile and overlap
// multiples of the factor, overlap < tile).
void validate_video_tiling(const VideoTilingConfig& cfg, const VideoScale& scale);

// A latent interval [start, end) with its blend ramps (latent cells).
struct TileInterval {
  int64_t start = 0, end = 0, left_ramp = 0, right_ramp = 0;
  bool operator==(const TileInterval& o) const {
    return start == o.start && end == o.end && left_ramp == o.left_ramp && right_ramp == o.right_ramp;
  }
};

// ltx-core split_by_size / split_temporal_causal (no minimum tile size) over a latent axis of
// length `dim`, with size and overlap in latent cells (0 <= overlap < size).
std::vector<TileInterval> split_by_size(int64_t dim, int64_t size, int64_t overlap);
std::vector<TileInterval> split_temporal_causal(int64_t dim, int64_t size, int64_t overlap);
// The intervals TileSizeConfig.to_splitters gives one axis (tile/overlap converted with `factor`,
// tile raised to max(2, overlap + 1)); untiled: one interval [0, dim) without ramps.
std::vector<TileInterval> axis_intervals(const TileAxis& axis, int64_t factor, bool temporal, int64_t dim);

// compute_trapezoidal_mask_1d: float32 CPU [length], linear ramps; `left_from_zero` makes the left
// ramp start at 0 (temporal tiles) instead of its first step.
at::Tensor trapezoid_mask(int64_t length, int64_t ramp_left, int64_t ramp_right, bool left_from_zero);

// One axis of one tile: the latent cells it reads, the output range it writes, its mask
// (float32 CPU, length out_end - out_start, or [1] of ones for an untiled axis).
struct AxisTile {
  int64_t in_start = 0, in_end = 0, out_start = 0, out_end = 0;
  at::Tensor mask;
};
struct VideoTile {
  AxisTile t, h, w;
};

// The tiles of a latent with `frames` x `height` x `width` cells, frames slowest then height then
// width (the reference's product order). An untiled time axis is handled as one full temporal tile.
std::vector<VideoTile> make_video_tiles(int64_t frames, int64_t height, int64_t width, const VideoTilingConfig& cfg,
                                        const VideoScale& scale);

// masks_are_complementary: whether on every axis the distinct tiles' masks sum to 1 (atol 1e-5)
// over the output extent; then no weight buffer is needed.
bool video_tile_masks_complementary(const std::vector<VideoTile>& tiles, int64_t out_frames, int64_t out_height,
                                    int64_t out_width);

// Decodes one latent tile [B, C, f, h, w] into [B, out_channels, 1 + (f-1)*t, h*s, w*s] in the
// tile's dtype (e.g. video_decoder_forward bound to resident weights, or a streamed pass).
using TileDecodeFn = std::function<at::Tensor(const at::Tensor& latent_tile)>;

// ConvVideoDecoder.tiled_decode: calls `on_chunk` with consecutive decoded chunks
// [B, out_channels, f, H, W] (latent's dtype and device; f may be 0) covering all output frames.
// Throws std::invalid_argument for an illegal `cfg`. The caller's thread; `decode_tile` and
// `on_chunk` run on it.
void tiled_decode(const at::Tensor& latent, const VideoTilingConfig& cfg, const VideoScale& scale, int64_t out_channels,
                  const TileDecodeFn& decode_tile, const std::function<void(const at::Tensor& chunk)>& on_chunk);

}  // namespace ff::ltx2
