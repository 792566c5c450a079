#include "worker/engine/ltx2/video_decoder_working_set.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace ff::ltx2 {

int64_t video_decoder_forward_bytes(const VideoDecoderConfig& c, int64_t frames, int64_t height, int64_t width,
                                    int64_t elem_bytes, bool cpu_unfold) {
  int64_t f = frames, h = height, w = width;
  auto n = [&](int64_t ch) { return ch * f * h * w; };
  auto padded = [&](int64_t ch) { return ch * (f + 2) * h * w; };
  auto workspace = [&](int64_t ch) { return cpu_unfold ? 27 * n(ch) : padded(ch); };
  int64_t peak = 0;
  auto stage = [&peak](int64_t elems) { peak = std::max(peak, elems); };

  // latent cast, x * std, + mean; conv_in
  stage(2 * n(c.latent_channels) + padded(c.latent_channels) + n(c.bottleneck_channels()) +
        workspace(c.latent_channels));
  for (const auto& b : c.blocks) {
    if (!b.is_upsample()) {
      if (b.num_layers > 0) stage(4 * n(b.in_channels) + padded(b.in_channels) + workspace(b.in_channels));
      continue;
    }
    const int64_t mid = b.conv_out_channels() * f * h * w;
    stage(n(b.in_channels) + padded(b.in_channels) + 2 * mid + workspace(b.in_channels));
    f = f * b.stride_t - (b.stride_t == 2 ? 1 : 0);
    h *= b.stride_s;
    w *= b.stride_s;
  }
  const int64_t fc = c.final_channels();
  stage(3 * n(fc) + padded(fc) + 2 * n(c.conv_out_channels()) + workspace(fc));
  return peak * elem_bytes;
}

int64_t video_decoder_working_set_bytes(const VideoDecoderConfig& c, int64_t frames, int64_t height, int64_t width,
                                        const std::optional<VideoTilingConfig>& tiling, int64_t elem_bytes,
                                        bool cpu_unfold) {
  const VideoScale s = c.scale();
  const int64_t out_f = 1 + (frames - 1) * s.time, out_h = height * s.height, out_w = width * s.width;
  const int64_t pixel = c.out_channels * out_h * out_w;  // elements per output frame
  if (!tiling)
    return video_decoder_forward_bytes(c, frames, height, width, elem_bytes, cpu_unfold) +
           3 * pixel * out_f * elem_bytes;

  const auto tiles = make_video_tiles(frames, height, width, *tiling, s);
  const bool complementary = video_tile_masks_complementary(tiles, out_f, out_h, out_w);
  std::set<std::tuple<int64_t, int64_t, int64_t>> sizes;
  int64_t group = 0;
  for (const auto& t : tiles) {
    sizes.emplace(t.t.in_end - t.t.in_start, t.h.in_end - t.h.in_start, t.w.in_end - t.w.in_start);
    group = std::max(group, t.t.out_end - t.t.out_start);
  }
  int64_t tile_peak = 0;
  for (const auto& [tf, th, tw] : sizes) {
    const int64_t out_tile = c.out_channels * (1 + (tf - 1) * s.time) * th * s.height * tw * s.width;
    tile_peak = std::max(tile_peak, video_decoder_forward_bytes(c, tf, th, tw, elem_bytes, cpu_unfold) +
                                        2 * out_tile * 4);  // float32 masked copy and its product
  }
  const int64_t buffers = (complementary ? 2 : 4) * pixel * group * elem_bytes;
  const int64_t chunk = 2 * pixel * group * elem_bytes;  // division result / frames of one chunk
  return tile_peak + buffers + chunk;
}

}  // namespace ff::ltx2
