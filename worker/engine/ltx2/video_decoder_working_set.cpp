#include "worker/engine/ltx2/video_decoder_working_set.hpp"

#include <algorithm>
#include <set>
#include <tuple>

#include "worker/engine/ltx2/video_decoder.hpp"

namespace ff::ltx2 {

int64_t video_decoder_forward_bytes(const VideoDecoderConfig& c, int64_t frames, int64_t height, int64_t width,
                                    int64_t elem_bytes, bool cpu_unfold) {
  int64_t f = frames, h = height, w = width;
  auto n = [&](int64_t ch) { return ch * f * h * w; };
  auto padded = [&](int64_t ch) { return ch * (f + 2) * h * w; };
  // One temporal chunk of a conv's output (video_decoder.hpp's default chunk_bytes, >= 1 frame).
  const int64_t chunk_limit = VideoDecoderMemory{}.chunk_bytes / std::max<int64_t>(elem_bytes, 1);
  auto chunk = [&](int64_t ch) { return std::min(n(ch), std::max(chunk_limit, ch * h * w)); };
  // The conv's own workspace: the CPU's unfolded chunk input (27 taps) or, on CUDA, one chunk.
  auto workspace = [&](int64_t ch) { return cpu_unfold ? 27 * (chunk(ch) + 2 * ch * h * w) : chunk(ch); };
  int64_t peak = 0;
  auto stage = [&peak](int64_t elems) { peak = std::max(peak, elems); };

  // latent cast, x * std, + mean, its workspace; conv_in's output
  stage(3 * n(c.latent_channels) + padded(c.latent_channels) + n(c.bottleneck_channels()) +
        workspace(c.latent_channels));
  for (const auto& b : c.blocks) {
    if (!b.is_upsample()) {
      // input (summed into in place), workspace, two chunk outputs, the chunk's square (norm)
      if (b.num_layers > 0)
        stage(n(b.in_channels) + padded(b.in_channels) + 3 * chunk(b.in_channels) + workspace(b.in_channels));
      continue;
    }
    // padded input + conv output (+ one chunk), then conv output + depth-to-space copy
    const int64_t mid = b.conv_out_channels() * f * h * w;
    stage(std::max(padded(b.in_channels) + mid + chunk(b.conv_out_channels()) + workspace(b.in_channels), 2 * mid));
    f = f * b.stride_t - (b.stride_t == 2 ? 1 : 0);
    h *= b.stride_s;
    w *= b.stride_s;
  }
  const int64_t fc = c.final_channels();
  stage(padded(fc) + 2 * chunk(fc) + n(c.conv_out_channels()) + workspace(fc));
  stage(2 * n(c.conv_out_channels()));  // unpatchify copy
  return peak * elem_bytes;
}

int64_t video_decoder_working_set_bytes(const VideoDecoderConfig& c, int64_t frames, int64_t height, int64_t width,
                                        const std::optional<VideoTilingConfig>& tiling, int64_t elem_bytes,
                                        bool cpu_unfold) {
  const VideoScale s = c.scale();
  const int64_t out_f = 1 + (frames - 1) * s.time, out_h = height * s.height, out_w = width * s.width;
  const int64_t pixel = c.out_channels * out_h * out_w;  // elements per output frame
  // The uint8 conversion of one chunk of `f` frames: the bytes and their permuted copy.
  auto to_u8 = [&](int64_t f) { return 2 * pixel * f; };
  if (!tiling)
    return video_decoder_forward_bytes(c, frames, height, width, elem_bytes, cpu_unfold) + to_u8(out_f);

  const auto tiles = make_video_tiles(frames, height, width, *tiling, s);
  const bool complementary = video_tile_masks_complementary(tiles, out_f, out_h, out_w);
  std::set<std::tuple<int64_t, int64_t, int64_t>> sizes;
  int64_t group = 0, overlap = 0;
  for (const auto& t : tiles) {
    sizes.emplace(t.t.in_end - t.t.in_start, t.h.in_end - t.h.in_start, t.w.in_end - t.w.in_start);
    group = std::max(group, t.t.out_end - t.t.out_start);
  }
  for (size_t i = 1; i < tiles.size(); ++i)
    if (tiles[i].t.out_start != tiles[i - 1].t.out_start)
      overlap = std::max(overlap, tiles[i - 1].t.out_end - tiles[i].t.out_start);
  int64_t tile_peak = 0;
  for (const auto& [tf, th, tw] : sizes) {
    const int64_t tile_frame = c.out_channels * th * s.height * tw * s.width;
    const int64_t out_tile = tile_frame * (1 + (tf - 1) * s.time);
    // the forward's peak, or its decoded tile beside two float32 slabs of masked frames
    tile_peak = std::max({tile_peak, video_decoder_forward_bytes(c, tf, th, tw, elem_bytes, cpu_unfold),
                          out_tile * elem_bytes + 2 * 8 * tile_frame * 4});
  }
  // one group buffer and the previous group's overlap tail (twice each with weight buffers)
  const int64_t buffers = (complementary ? 1 : 2) * pixel * (group + overlap) * elem_bytes;
  // handing out a chunk: its uint8 copies and the clone of the tail
  const int64_t hand_out = to_u8(group) + (complementary ? 1 : 2) * pixel * overlap * elem_bytes;
  return buffers + std::max(tile_peak, hand_out);
}

}  // namespace ff::ltx2
