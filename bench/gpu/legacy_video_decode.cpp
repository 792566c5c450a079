// The video decode path as it was before the memory work of 2026-11-30 (commit a02bad2's
// video_decoder.cpp forward, video_tiled_decode.cpp loop and decode_video_to_uint8 chunk mapping),
// kept here only so that `ops/bench decode` measures before and after in the same run: textbook
// forward (padding by concatenation, out-of-place norm/SiLU/residual), both group buffers alive,
// whole-tile float32 masked copies, out-of-place [0, 1] and uint8 mappings, one host copy per
// chunk and a final concatenation. Same math and rounding as worker/engine/ltx2's decoder.
#include "bench/gpu/legacy_video_decode.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "worker/engine/layers/layers.hpp"

namespace ff::bench::legacy {
using namespace ff::ltx2;

namespace {

at::Tensor conv(const at::Tensor& x, const VaeConv3d& cv) {
  return ff::layers::conv3d_same(x, cv.weight, cv.bias, /*causal_time=*/false);
}

// PixelNorm (eps from the config) then SiLU, in x's dtype.
at::Tensor norm_silu(const at::Tensor& x, const VideoDecoderConfig& c) {
  return at::silu(ff::layers::pixel_norm(x, 1, c.pixel_norm_eps));
}

// "b (c p1 p2 p3) d h w -> b c (d p1) (h p2) (w p3)" with p1 = t, p2 = p3 = s.
at::Tensor depth_to_space(const at::Tensor& x, int64_t t, int64_t s) {
  const int64_t b = x.size(0), c = x.size(1) / (t * s * s), d = x.size(2), h = x.size(3), w = x.size(4);
  return x.reshape({b, c, t, s, s, d, h, w})
      .permute({0, 1, 5, 2, 6, 3, 7, 4})
      .reshape({b, c, d * t, h * s, w * s});
}

// "b (c r q) f h w -> b c f (h q) (w r)" with q = r = p: the w offset is the slower channel digit.
at::Tensor unpatchify(const at::Tensor& x, int64_t p) {
  if (p == 1) return x;
  const int64_t b = x.size(0), c = x.size(1) / (p * p), f = x.size(2), h = x.size(3), w = x.size(4);
  return x.reshape({b, c, p, p, f, h, w}).permute({0, 1, 4, 5, 3, 6, 2}).reshape({b, c, f, h * p, w * p});
}

void check_latent(const VideoDecoderConfig& c, const at::Tensor& latent) {
  if (latent.dim() != 5 || latent.size(1) != c.latent_channels || latent.size(2) < 1)
    throw std::invalid_argument("video decoder: expected a latent [B, " + std::to_string(c.latent_channels) +
                                ", F, H, W], got " + std::to_string(latent.dim()) + " dims" +
                                (latent.dim() >= 2 ? " with " + std::to_string(latent.size(1)) + " channels" : ""));
}

at::Tensor input(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent) {
  check_latent(c, latent);
  const auto dtype = w.conv_in.weight.scalar_type();
  const auto device = w.conv_in.weight.device();
  const at::Tensor x = latent.to(device, dtype);
  const at::Tensor std = w.std_of_means.to(device, dtype).view({1, -1, 1, 1, 1});
  const at::Tensor mean = w.mean_of_means.to(device, dtype).view({1, -1, 1, 1, 1});
  return conv(x * std + mean, w.conv_in);
}

at::Tensor block(const VideoDecoderBlockWeights& bw, const VideoDecoderConfig& c, size_t i,
                               const at::Tensor& x) {
  if (i >= c.blocks.size())
    throw std::out_of_range("video decoder: block " + std::to_string(i) + " of " + std::to_string(c.blocks.size()));
  const VideoDecoderBlock& b = c.blocks[i];
  if (!b.is_upsample()) {
    if (static_cast<int64_t>(bw.resnets.size()) != b.num_layers)
      throw std::invalid_argument("video decoder: block " + std::to_string(i) + " has " +
                                  std::to_string(bw.resnets.size()) + " resnets, config says " +
                                  std::to_string(b.num_layers));
    at::Tensor y = x;
    for (const auto& r : bw.resnets) {
      at::Tensor h = conv(norm_silu(y, c), r.conv1);
      h = conv(norm_silu(h, c), r.conv2);
      y = y + h;
    }
    return y;
  }
  at::Tensor y = depth_to_space(conv(x, bw.conv), b.stride_t, b.stride_s);
  if (b.stride_t == 2) y = y.narrow(2, 1, y.size(2) - 1);
  return y;
}

at::Tensor output(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& x,
                                at::ScalarType out_dtype) {
  at::Tensor y = conv(norm_silu(x, c), w.conv_out);
  return unpatchify(y, c.patch_size).to(out_dtype);
}

at::Tensor forward_impl(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent) {
  if (w.blocks.size() != c.blocks.size())
    throw std::invalid_argument("video decoder: weights have " + std::to_string(w.blocks.size()) +
                                " blocks, config has " + std::to_string(c.blocks.size()));
  at::Tensor x = input(w, c, latent);
  for (size_t i = 0; i < c.blocks.size(); ++i) x = block(w.blocks[i], c, i, x);
  return output(w, c, x, latent.scalar_type());
}



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
    {
      // bf16 x float32 mask promotes to float32; the in-place add rounds once into the buffer.
      at::Tensor masked = decoded.narrow(2, 0, actual).to(at::kFloat) * vt * vh * vw;
      decoded = at::Tensor();
      region(buffer).add_(masked);
    }
    if (weights.defined()) region(weights).add_(vt * vh * vw);
  }
}

void tiled_decode_impl(const at::Tensor& latent, const VideoTilingConfig& cfg, const VideoScale& scale, int64_t out_channels,
                  const TileDecodeFn& decode_tile, const std::function<void(const at::Tensor& chunk)>& on_chunk) {
  if (latent.dim() != 5) throw std::invalid_argument("tiled_decode: expected a latent [B, C, F, H, W]");
  const int64_t batch = latent.size(0), frames = latent.size(2), height = latent.size(3), width = latent.size(4);
  const int64_t out_frames = 1 + (frames - 1) * scale.time, out_h = height * scale.height,
                out_w = width * scale.width;
  const auto tiles = make_video_tiles(frames, height, width, cfg, scale);
  const bool complementary = video_tile_masks_complementary(tiles, out_frames, out_h, out_w);

  at::Tensor prev, prev_weights;
  int64_t prev_start = 0, prev_stop = 0;
  size_t first = 0;
  while (first < tiles.size()) {
    size_t last = first;
    while (last < tiles.size() && tiles[last].t.out_start == tiles[first].t.out_start &&
           tiles[last].t.out_end == tiles[first].t.out_end)
      ++last;
    const int64_t start = tiles[first].t.out_start, stop = tiles[first].t.out_end;
    at::Tensor buffer = at::zeros({batch, out_channels, stop - start, out_h, out_w}, latent.options());
    at::Tensor weights = complementary ? at::Tensor() : at::zeros_like(buffer);
    accumulate_group(tiles, first, last, latent, decode_tile, buffer, weights);

    if (prev.defined()) {
      if (prev_stop > start) {
        const int64_t overlap = prev_stop - start, off = start - prev_start;
        at::Tensor prev_tail = prev.narrow(2, off, overlap);
        prev_tail.add_(buffer.narrow(2, 0, overlap));
        if (!complementary) {
          at::Tensor prev_wtail = prev_weights.narrow(2, off, overlap);
          prev_wtail.add_(weights.narrow(2, 0, overlap));
          buffer.narrow(2, 0, overlap).copy_(prev_tail);
          weights.narrow(2, 0, overlap).copy_(prev_wtail);
        } else {
          buffer.narrow(2, 0, overlap).copy_(prev_tail);
        }
      }
      const int64_t yield_len = std::min(start - prev_start, prev.size(2));
      if (complementary)
        on_chunk(prev.narrow(2, 0, yield_len));
      else
        on_chunk(prev.narrow(2, 0, yield_len) / prev_weights.narrow(2, 0, yield_len).clamp_min(1e-8));
    }
    prev = std::move(buffer);
    prev_weights = std::move(weights);
    prev_start = start;
    prev_stop = stop;
    first = last;
  }
  if (prev.defined()) on_chunk(complementary ? prev : prev / prev_weights.clamp_min(1e-8));
}


}  // namespace

at::Tensor forward(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent) {
  return forward_impl(w, c, latent);
}

at::Tensor decode_to_uint8(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent,
                           const std::optional<VideoTilingConfig>& tiling) {
  const at::Tensor x = latent.to(w.conv_in.weight.device());
  auto fwd = [&](const at::Tensor& t) { return forward_impl(w, c, t); };
  auto to_frames = [](const at::Tensor& d) {
    return d.select(0, 0).permute({1, 2, 3, 0}).add(1.0).mul(0.5).clamp(0.0, 1.0).contiguous();
  };
  std::vector<at::Tensor> parts;
  auto take = [&](const at::Tensor& chunk) {
    parts.push_back(to_frames(chunk).clamp(0.0, 1.0).mul(255.0).to(at::kByte).to(at::kCPU));
  };
  if (!tiling) take(fwd(x));
  else tiled_decode_impl(x, *tiling, c.scale(), c.out_channels, fwd, take);
  return parts.size() == 1 ? parts.front() : at::cat(parts, 0);
}

}  // namespace ff::bench::legacy
