#include "worker/engine/ltx2/video_decoder.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "worker/engine/layers/layers.hpp"

namespace ff::ltx2 {
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

}  // namespace

at::Tensor video_decoder_input(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent) {
  check_latent(c, latent);
  const auto dtype = w.conv_in.weight.scalar_type();
  const auto device = w.conv_in.weight.device();
  const at::Tensor x = latent.to(device, dtype);
  const at::Tensor std = w.std_of_means.to(device, dtype).view({1, -1, 1, 1, 1});
  const at::Tensor mean = w.mean_of_means.to(device, dtype).view({1, -1, 1, 1, 1});
  return conv(x * std + mean, w.conv_in);
}

at::Tensor video_decoder_block(const VideoDecoderBlockWeights& bw, const VideoDecoderConfig& c, size_t i,
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

at::Tensor video_decoder_output(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& x,
                                at::ScalarType out_dtype) {
  at::Tensor y = conv(norm_silu(x, c), w.conv_out);
  return unpatchify(y, c.patch_size).to(out_dtype);
}

at::Tensor video_decoder_forward(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent) {
  if (w.blocks.size() != c.blocks.size())
    throw std::invalid_argument("video decoder: weights have " + std::to_string(w.blocks.size()) +
                                " blocks, config has " + std::to_string(c.blocks.size()));
  at::Tensor x = video_decoder_input(w, c, latent);
  for (size_t i = 0; i < c.blocks.size(); ++i) x = video_decoder_block(w.blocks[i], c, i, x);
  return video_decoder_output(w, c, x, latent.scalar_type());
}

at::Tensor decoded_to_frames(const at::Tensor& decoded) {
  if (decoded.dim() != 5) throw std::invalid_argument("decoded_to_frames: expected [B, C, F, H, W]");
  return decoded.select(0, 0).permute({1, 2, 3, 0}).add(1.0).mul(0.5).clamp(0.0, 1.0).contiguous();
}

at::Tensor frames_to_uint8(const at::Tensor& frames) {
  return frames.clamp(0.0, 1.0).mul(255.0).to(at::kByte);
}

namespace {

// decode_video's chunks for a given forward: the whole latent at once, or ltx-core's tiles.
void chunks_of(const TileDecodeFn& forward, const VideoDecoderConfig& c, const at::Tensor& x,
               const std::optional<VideoTilingConfig>& tiling, const std::function<void(const at::Tensor&)>& on_frames) {
  if (!tiling) {
    on_frames(decoded_to_frames(forward(x)));
    return;
  }
  tiled_decode(x, *tiling, c.scale(), c.out_channels, forward,
               [&](const at::Tensor& chunk) { on_frames(decoded_to_frames(chunk)); });
}

at::Tensor uint8_frames(const TileDecodeFn& forward, const VideoDecoderConfig& c, const at::Tensor& x,
                        const std::optional<VideoTilingConfig>& tiling) {
  std::vector<at::Tensor> parts;
  chunks_of(forward, c, x, tiling, [&](const at::Tensor& f) { parts.push_back(frames_to_uint8(f).to(at::kCPU)); });
  return parts.size() == 1 ? parts.front() : at::cat(parts, 0);
}

}  // namespace

void decode_video_latent_chunks(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent,
                                const std::optional<VideoTilingConfig>& tiling,
                                const std::function<void(const at::Tensor& frames)>& on_frames) {
  check_latent(c, latent);
  chunks_of([&](const at::Tensor& t) { return video_decoder_forward(w, c, t); }, c,
            latent.to(w.conv_in.weight.device()), tiling, on_frames);
}

at::Tensor decode_video_latent(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent,
                               const std::optional<VideoTilingConfig>& tiling) {
  std::vector<at::Tensor> parts;
  decode_video_latent_chunks(w, c, latent, tiling, [&](const at::Tensor& f) { parts.push_back(f); });
  return parts.size() == 1 ? parts.front() : at::cat(parts, 0);
}

at::Tensor decode_video_to_uint8(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent,
                                 const std::optional<VideoTilingConfig>& tiling) {
  check_latent(c, latent);
  return uint8_frames([&](const at::Tensor& t) { return video_decoder_forward(w, c, t); }, c,
                      latent.to(w.conv_in.weight.device()), tiling);
}

at::Tensor decode_video_to_uint8(const TileDecodeFn& forward, const VideoDecoderConfig& c, const at::Tensor& latent,
                                 at::Device device, const std::optional<VideoTilingConfig>& tiling) {
  check_latent(c, latent);
  return uint8_frames(forward, c, latent.to(device), tiling);
}

}  // namespace ff::ltx2
