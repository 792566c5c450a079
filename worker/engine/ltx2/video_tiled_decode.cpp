// The tiled decode loop (ConvVideoDecoder.tiled_decode and _accumulate_temporal_group_into_buffer):
// per temporal group a zeroed buffer in the latent's dtype; each tile's decoded frames times its
// float32 masks (time, then height, then width) added into it; consecutive groups blended over
// their frame overlap; the finished frames of the previous group handed out.
//
// Memory, against the reference's order of work (same values, same rounding): the previous
// group's frames that no later tile touches are handed out BEFORE the next group's tiles are
// decoded, and only its overlap tail is kept, so one group buffer (not two) is alive beside a
// tile's decode; the float32 masked copy of a tile is made a few frames at a time (the
// reference's x * m_t * m_h * m_w, in that order, per slab) instead of for the whole tile.
#include <algorithm>
#include <stdexcept>

#include "worker/engine/ltx2/video_tiling.hpp"

namespace ff::ltx2 {
namespace {

// Frames of a tile masked (as float32) at a time.
constexpr int64_t kSlabFrames = 8;

at::Tensor axis_view(const at::Tensor& m, int dim, const at::Device& device) {
  std::vector<int64_t> shape(5, 1);
  shape[static_cast<size_t>(dim)] = m.size(0);
  return m.to(device).view(shape);
}

// Decodes and accumulates the tiles [first, last) of one temporal group into `buffer` (and the
// mask sums into `weights` when defined).
void accumulate_group(const std::vector<VideoTile>& tiles, size_t first, size_t last, const at::Tensor& latent,
                      const TileDecodeFn& decode_tile, at::Tensor& buffer, at::Tensor& weights) {
  const int64_t group_start = tiles[first].t.out_start;
  for (size_t k = first; k < last; ++k) {
    const VideoTile& tile = tiles[k];
    at::Tensor part = latent.narrow(2, tile.t.in_start, tile.t.in_end - tile.t.in_start)
                          .narrow(3, tile.h.in_start, tile.h.in_end - tile.h.in_start)
                          .narrow(4, tile.w.in_start, tile.w.in_end - tile.w.in_start);
    at::Tensor decoded = decode_tile(part);
    const int64_t offset = tile.t.out_start - group_start;
    const int64_t expected = tile.t.out_end - tile.t.out_start;
    const int64_t actual = std::min({expected, decoded.size(2), buffer.size(2) - offset});
    const int64_t hl = tile.h.out_end - tile.h.out_start, wl = tile.w.out_end - tile.w.out_start;
    if (decoded.size(3) != hl || decoded.size(4) != wl)
      throw std::runtime_error("tiled_decode: a tile decoded to " + std::to_string(decoded.size(3)) + "x" +
                               std::to_string(decoded.size(4)) + " pixels, expected " + std::to_string(hl) + "x" +
                               std::to_string(wl));
    const at::Device dev = buffer.device();
    at::Tensor mt = tile.t.mask.size(0) == 1 ? tile.t.mask : tile.t.mask.narrow(0, 0, actual);
    at::Tensor vt = axis_view(mt, 2, dev), vh = axis_view(tile.h.mask, 3, dev), vw = axis_view(tile.w.mask, 4, dev);
    auto region = [&](const at::Tensor& b) {
      return b.narrow(2, offset, actual).narrow(3, tile.h.out_start, hl).narrow(4, tile.w.out_start, wl);
    };
    // bf16 x float32 masks promote to float32; the in-place add rounds once into the buffer.
    at::Tensor dst = region(buffer);
    for (int64_t s = 0; s < actual; s += kSlabFrames) {
      const int64_t n = std::min(kSlabFrames, actual - s);
      const at::Tensor mt_s = vt.size(2) == 1 ? vt : vt.narrow(2, s, n);
      dst.narrow(2, s, n).add_(decoded.narrow(2, s, n).to(at::kFloat).mul_(mt_s).mul_(vh).mul_(vw));
    }
    decoded = at::Tensor();
    if (weights.defined()) region(weights).add_(vt * vh * vw);
  }
}

}  // namespace

void tiled_decode(const at::Tensor& latent, const VideoTilingConfig& cfg, const VideoScale& scale, int64_t out_channels,
                  const TileDecodeFn& decode_tile, const std::function<void(const at::Tensor& chunk)>& on_chunk) {
  if (latent.dim() != 5) throw std::invalid_argument("tiled_decode: expected a latent [B, C, F, H, W]");
  const int64_t batch = latent.size(0), frames = latent.size(2), height = latent.size(3), width = latent.size(4);
  const int64_t out_frames = 1 + (frames - 1) * scale.time, out_h = height * scale.height,
                out_w = width * scale.width;
  const auto tiles = make_video_tiles(frames, height, width, cfg, scale);
  const bool complementary = video_tile_masks_complementary(tiles, out_frames, out_h, out_w);

  // The previous group: its not yet handed-out frames [prev_start + done, prev_stop) in `prev`
  // (and `prev_weights`), which after the early hand-out are only its overlap with this group.
  at::Tensor prev, prev_weights;
  int64_t prev_start = 0, prev_stop = 0;
  auto emit = [&](const at::Tensor& values, const at::Tensor& w) {
    on_chunk(complementary ? values : values / w.clamp_min(1e-8));
  };
  size_t first = 0;
  while (first < tiles.size()) {
    size_t last = first;
    while (last < tiles.size() && tiles[last].t.out_start == tiles[first].t.out_start &&
           tiles[last].t.out_end == tiles[first].t.out_end)
      ++last;
    const int64_t start = tiles[first].t.out_start, stop = tiles[first].t.out_end;
    if (prev.defined()) {
      // Frames before `start` are final: hand them out now, keep only the overlap.
      const int64_t yield_len = std::min(start - prev_start, prev.size(2));
      emit(prev.narrow(2, 0, yield_len), complementary ? at::Tensor() : prev_weights.narrow(2, 0, yield_len));
      const int64_t rest = prev.size(2) - yield_len;
      prev = rest > 0 ? prev.narrow(2, yield_len, rest).clone() : at::Tensor();
      if (!complementary) prev_weights = rest > 0 ? prev_weights.narrow(2, yield_len, rest).clone() : at::Tensor();
      prev_start += yield_len;
    }
    at::Tensor buffer = at::zeros({batch, out_channels, stop - start, out_h, out_w}, latent.options());
    at::Tensor weights = complementary ? at::Tensor() : at::zeros_like(buffer);
    accumulate_group(tiles, first, last, latent, decode_tile, buffer, weights);

    if (prev.defined() && prev_stop > start) {
      const int64_t overlap = prev_stop - start;  // == prev.size(2): prev starts at `start` now
      prev.add_(buffer.narrow(2, 0, overlap));
      buffer.narrow(2, 0, overlap).copy_(prev);
      if (!complementary) {
        prev_weights.add_(weights.narrow(2, 0, overlap));
        weights.narrow(2, 0, overlap).copy_(prev_weights);
      }
    }
    prev = std::move(buffer);
    prev_weights = std::move(weights);
    prev_start = start;
    prev_stop = stop;
    first = last;
  }
  if (prev.defined()) emit(prev, prev_weights);
}

}  // namespace ff::ltx2
