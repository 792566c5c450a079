// Tile geometry: configs, latent intervals, output ranges and masks (ltx-core tiling.py and
// video_vae.py map_temporal_slice / map_spatial_slice). The decode loop is in video_tiled_decode.cpp.
#include "worker/engine/ltx2/video_tiling.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

namespace ff::ltx2 {
namespace {

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument("video tiling: " + msg); }

void validate_axis(const TileAxis& a, int64_t factor, const char* name) {
  const std::string n = name;
  if (a.tile_size < 0) bad(n + ".tile_size must be >= 0, got " + std::to_string(a.tile_size));
  if (a.overlap < 0) bad(n + ".overlap must be >= 0, got " + std::to_string(a.overlap));
  if (!a.tiled()) {
    if (a.overlap != 0) bad(n + ": an untiled axis (tile_size 0) must have overlap 0");
    return;
  }
  if (a.overlap >= a.tile_size)
    bad(n + ": overlap " + std::to_string(a.overlap) + " must be less than tile_size " + std::to_string(a.tile_size));
  if (a.tile_size < 2 * factor)
    bad(n + ".tile_size must be at least " + std::to_string(2 * factor) + ", got " + std::to_string(a.tile_size));
  if (a.tile_size % factor != 0)
    bad(n + ".tile_size must be divisible by " + std::to_string(factor) + ", got " + std::to_string(a.tile_size));
  if (a.overlap % factor != 0)
    bad(n + ".overlap must be divisible by " + std::to_string(factor) + ", got " + std::to_string(a.overlap));
}

// Output range and mask of one latent interval (map_temporal_slice / map_spatial_slice).
AxisTile map_interval(const TileInterval& iv, int64_t scale, bool temporal) {
  AxisTile a;
  a.in_start = iv.start;
  a.in_end = iv.end;
  if (temporal) {
    a.out_start = iv.start * scale;
    a.out_end = 1 + (iv.end - 1) * scale;
    const int64_t left = iv.left_ramp == 0 ? 0 : 1 + (iv.left_ramp - 1) * scale;
    a.mask = trapezoid_mask(a.out_end - a.out_start, left, iv.right_ramp * scale, true);
  } else {
    a.out_start = iv.start * scale;
    a.out_end = iv.end * scale;
    a.mask = trapezoid_mask(a.out_end - a.out_start, iv.left_ramp * scale, iv.right_ramp * scale, false);
  }
  return a;
}

std::vector<AxisTile> axis_tiles(const TileAxis& axis, int64_t factor, bool temporal, int64_t dim) {
  std::vector<AxisTile> out;
  // ltx-core maps an untiled spatial axis to the whole output with a [1] mask of ones. Its
  // temporal counterpart (slice stop None) cannot size the group buffer; the whole time axis as
  // one temporal tile without ramps is the same computation.
  if (!axis.tiled() && !temporal) {
    AxisTile a;
    a.in_end = dim;
    a.out_end = dim * factor;
    a.mask = at::ones({1}, at::kFloat);
    out.push_back(std::move(a));
    return out;
  }
  for (const auto& iv : axis_intervals(axis, factor, temporal, dim)) out.push_back(map_interval(iv, factor, temporal));
  return out;
}

}  // namespace

VideoTilingConfig video_tiling_from_long_side(const TileAxis& long_side, int64_t height, int64_t width,
                                              const VideoScale& scale, const TileAxis& frames) {
  if (height < 1 || width < 1) bad("height/width must be >= 1");
  if (!long_side.tiled()) bad("long_side must be tiled (tile_size > 0)");
  const int64_t span = std::max(height, width);
  auto axis_size = [&](int64_t len, int64_t factor) {
    const int64_t axis_lat = len / factor, long_lat = span / factor;
    if (long_lat < 1) bad("video side " + std::to_string(span) + " is shorter than one latent cell");
    const int64_t size_lat = long_side.tile_size / factor, overlap_lat = long_side.overlap / factor;
    const int64_t lower = std::max<int64_t>(2, overlap_lat + 1);
    // Python's round(): half to even, which nearbyint gives in the default rounding mode.
    const double scaled = static_cast<double>(size_lat * axis_lat) / static_cast<double>(long_lat);
    const int64_t tile_lat = std::max(lower, static_cast<int64_t>(std::nearbyint(scaled)));
    const int64_t min_legal = std::max(2 * factor, long_side.overlap + factor);
    return std::max(tile_lat * factor, min_legal);
  };
  VideoTilingConfig c;
  c.frames = frames;
  c.height = {axis_size(height, scale.height), long_side.overlap};
  c.width = {axis_size(width, scale.width), long_side.overlap};
  return c;
}

VideoTilingConfig default_video_tiling(int64_t height, int64_t width, const VideoScale& scale) {
  return video_tiling_from_long_side({768, 64}, height, width, scale, {80, 24});
}

void validate_video_tiling(const VideoTilingConfig& cfg, const VideoScale& scale) {
  validate_axis(cfg.frames, scale.time, "frames");
  validate_axis(cfg.height, scale.height, "height");
  validate_axis(cfg.width, scale.width, "width");
}

std::vector<TileInterval> split_by_size(int64_t dim, int64_t size, int64_t overlap) {
  if (size <= 0) bad("split size must be > 0, got " + std::to_string(size));
  if (overlap < 0 || overlap >= size)
    bad("split overlap must satisfy 0 <= overlap < size, got " + std::to_string(overlap) + " and " +
        std::to_string(size));
  if (dim <= size) return {{0, dim, 0, 0}};
  const int64_t step = size - overlap;
  const int64_t amount = (dim + size - 2 * overlap - 1) / step;
  std::vector<TileInterval> out;
  out.push_back({0, size, 0, overlap});
  for (int64_t i = 1; i < amount - 1; ++i) out.push_back({i * step, i * step + size, overlap, overlap});
  out.push_back({(amount - 1) * step, dim, overlap, 0});
  return out;
}

std::vector<TileInterval> split_temporal_causal(int64_t dim, int64_t size, int64_t overlap) {
  if (dim <= size) return {{0, dim, 0, 0}};
  auto out = split_by_size(dim, size, overlap);
  for (size_t i = 1; i < out.size(); ++i) {
    out[i].start -= 1;
    out[i].left_ramp += 1;
  }
  return out;
}

std::vector<TileInterval> axis_intervals(const TileAxis& axis, int64_t factor, bool temporal, int64_t dim) {
  if (!axis.tiled()) return {{0, dim, 0, 0}};
  const int64_t size = axis.tile_size / factor, overlap = axis.overlap / factor;
  const int64_t tile = std::max(std::max<int64_t>(2, overlap + 1), size);
  return temporal ? split_temporal_causal(dim, tile, overlap) : split_by_size(dim, tile, overlap);
}

at::Tensor trapezoid_mask(int64_t length, int64_t ramp_left, int64_t ramp_right, bool left_from_zero) {
  if (length <= 0) bad("mask length must be positive");
  ramp_left = std::clamp<int64_t>(ramp_left, 0, length);
  ramp_right = std::clamp<int64_t>(ramp_right, 0, length);
  at::Tensor mask = at::ones({length}, at::kFloat);
  if (ramp_left > 0) {
    const int64_t n = left_from_zero ? ramp_left + 1 : ramp_left + 2;
    at::Tensor fade = at::linspace(0.0, 1.0, n, at::kFloat).narrow(0, 0, n - 1);
    if (!left_from_zero) fade = fade.narrow(0, 1, n - 2);
    mask.narrow(0, 0, ramp_left).mul_(fade);
  }
  if (ramp_right > 0) {
    at::Tensor fade = at::linspace(1.0, 0.0, ramp_right + 2, at::kFloat).narrow(0, 1, ramp_right);
    mask.narrow(0, length - ramp_right, ramp_right).mul_(fade);
  }
  return mask.clamp_(0.0, 1.0);
}

std::vector<VideoTile> make_video_tiles(int64_t frames, int64_t height, int64_t width, const VideoTilingConfig& cfg,
                                        const VideoScale& scale) {
  validate_video_tiling(cfg, scale);
  const auto ts = axis_tiles(cfg.frames, scale.time, true, frames);
  const auto hs = axis_tiles(cfg.height, scale.height, false, height);
  const auto ws = axis_tiles(cfg.width, scale.width, false, width);
  std::vector<VideoTile> out;
  out.reserve(ts.size() * hs.size() * ws.size());
  for (const auto& t : ts)
    for (const auto& h : hs)
      for (const auto& w : ws) out.push_back({t, h, w});
  return out;
}

bool video_tile_masks_complementary(const std::vector<VideoTile>& tiles, int64_t out_frames, int64_t out_height,
                                    int64_t out_width) {
  auto axis_ok = [&](const AxisTile VideoTile::*axis, int64_t length) {
    at::Tensor acc = at::zeros({length}, at::kFloat);
    std::map<std::pair<int64_t, int64_t>, bool> seen;
    for (const auto& tile : tiles) {
      const AxisTile& a = tile.*axis;
      if (!seen.emplace(std::make_pair(a.out_start, a.out_end), true).second) continue;
      acc.narrow(0, a.out_start, a.out_end - a.out_start).add_(a.mask);
    }
    return (acc - 1.0).abs().max().item<float>() <= 1e-5f;
  };
  return axis_ok(&VideoTile::t, out_frames) && axis_ok(&VideoTile::h, out_height) &&
         axis_ok(&VideoTile::w, out_width);
}

}  // namespace ff::ltx2
