#include "worker/engine/ltx2/video_decoder.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "worker/engine/ltx2/video_decoder_workspace.hpp"

namespace ff::ltx2 {
namespace {

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

// res_x: per resnet, y += conv2(silu(pn(conv1(silu(pn(y)))))) with the branch computed in place
// in one workspace; y is x itself when x was handed over, else a new tensor after the first add.
at::Tensor res_x(const VideoDecoderBlockWeights& bw, const VideoDecoderConfig& c, at::Tensor x,
                 const VideoDecoderMemory& m) {
  const at::MemoryFormat fmt = vdws::format_for(x, m);
  bool owned = vdws::exclusively_owned(x);
  at::Tensor ws = at::empty({x.size(0), x.size(1), x.size(2) + 2, x.size(3), x.size(4)}, x.options().memory_format(fmt));
  at::Tensor in = vdws::interior(ws);
  const int64_t frames = vdws::chunk_frames(x, x.size(1), m);
  for (const auto& r : bw.resnets) {
    in.copy_(x);
    vdws::norm_silu_(in, c.pixel_norm_eps, frames);
    vdws::conv_in_place(ws, r.conv1.weight, r.conv1.bias, m);
    vdws::norm_silu_(in, c.pixel_norm_eps, frames);
    vdws::conv_in_place(ws, r.conv2.weight, r.conv2.bias, m);
    if (owned) {
      x.add_(in);
    } else {
      at::Tensor y = at::empty(x.sizes(), x.options().memory_format(fmt));
      at::add_out(y, x, in);
      x = std::move(y);
      owned = true;
    }
  }
  return x;
}

// compress_*: depth-to-space of conv(x), the input released once it is in the workspace.
at::Tensor upsample(const VideoDecoderBlockWeights& bw, const VideoDecoderBlock& b, at::Tensor x,
                    const VideoDecoderMemory& m) {
  const at::MemoryFormat fmt = vdws::format_for(x, m);
  at::Tensor ws = vdws::padded_workspace(x, fmt);
  x = at::Tensor();
  at::Tensor y = vdws::conv_to_new(ws, bw.conv.weight, bw.conv.bias, m);
  ws = at::Tensor();
  y = vdws::depth_to_space(y, b.stride_t, b.stride_s, fmt);
  if (b.stride_t == 2) y = y.narrow(2, 1, y.size(2) - 1);
  return y;
}

}  // namespace

at::Tensor video_decoder_input(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent,
                               const VideoDecoderMemory& m) {
  check_latent(c, latent);
  const auto dtype = w.conv_in.weight.scalar_type();
  const auto device = w.conv_in.weight.device();
  const at::Tensor x = latent.to(device, dtype);
  const at::Tensor std = w.std_of_means.to(device, dtype).view({1, -1, 1, 1, 1});
  const at::Tensor mean = w.mean_of_means.to(device, dtype).view({1, -1, 1, 1, 1});
  at::Tensor ws = vdws::padded_workspace(x * std + mean, vdws::format_for(x, m));
  return vdws::conv_to_new(ws, w.conv_in.weight, w.conv_in.bias, m);
}

at::Tensor video_decoder_block(const VideoDecoderBlockWeights& bw, const VideoDecoderConfig& c, size_t i, at::Tensor x,
                               const VideoDecoderMemory& m) {
  if (i >= c.blocks.size())
    throw std::out_of_range("video decoder: block " + std::to_string(i) + " of " + std::to_string(c.blocks.size()));
  const VideoDecoderBlock& b = c.blocks[i];
  if (!b.is_upsample()) {
    if (static_cast<int64_t>(bw.resnets.size()) != b.num_layers)
      throw std::invalid_argument("video decoder: block " + std::to_string(i) + " has " +
                                  std::to_string(bw.resnets.size()) + " resnets, config says " +
                                  std::to_string(b.num_layers));
    return bw.resnets.empty() ? x : res_x(bw, c, std::move(x), m);
  }
  return upsample(bw, b, std::move(x), m);
}

at::Tensor video_decoder_output(const VideoDecoderWeights& w, const VideoDecoderConfig& c, at::Tensor x,
                                at::ScalarType out_dtype, const VideoDecoderMemory& m) {
  at::Tensor ws = vdws::padded_workspace(x, vdws::format_for(x, m));
  x = at::Tensor();
  vdws::norm_silu_(vdws::interior(ws), c.pixel_norm_eps, vdws::chunk_frames(vdws::interior(ws), ws.size(1), m));
  at::Tensor y = vdws::conv_to_new(ws, w.conv_out.weight, w.conv_out.bias, m);
  ws = at::Tensor();
  return unpatchify(y, c.patch_size).to(out_dtype);
}

at::Tensor video_decoder_forward(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent,
                                 const VideoDecoderMemory& m) {
  if (w.blocks.size() != c.blocks.size())
    throw std::invalid_argument("video decoder: weights have " + std::to_string(w.blocks.size()) +
                                " blocks, config has " + std::to_string(c.blocks.size()));
  at::Tensor x = video_decoder_input(w, c, latent, m);
  for (size_t i = 0; i < c.blocks.size(); ++i) x = video_decoder_block(w.blocks[i], c, i, std::move(x), m);
  return video_decoder_output(w, c, std::move(x), latent.scalar_type(), m);
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

// The RGB24 frames of all chunks in one host tensor [F', H', W', 3]: each chunk (which the decode
// owns: a forward's output or a finished part of a group buffer) is mapped in place with
// decoded_to_frames's and frames_to_uint8's ops, then only its uint8 copy leaves the device.
at::Tensor uint8_frames(const TileDecodeFn& forward, const VideoDecoderConfig& c, const at::Tensor& x,
                        const std::optional<VideoTilingConfig>& tiling) {
  const VideoScale sc = c.scale();
  const int64_t frames = 1 + (x.size(2) - 1) * sc.time;
  at::Tensor out = at::empty({frames, x.size(3) * sc.height, x.size(4) * sc.width, c.out_channels},
                             at::TensorOptions().dtype(at::kByte));
  int64_t pos = 0;
  auto take = [&](const at::Tensor& chunk) {
    at::Tensor v = chunk.select(0, 0);  // [C, f, H, W]
    const int64_t f = v.size(1);
    if (f == 0) return;
    if (pos + f > frames || v.size(2) != out.size(1) || v.size(3) != out.size(2))
      throw std::runtime_error("video decoder: decoded chunks do not match the expected " + std::to_string(frames) +
                               " frames of " + std::to_string(out.size(1)) + "x" + std::to_string(out.size(2)));
    v.add_(1.0).mul_(0.5).clamp_(0.0, 1.0).mul_(255.0);
    out.narrow(0, pos, f).copy_(v.to(at::kByte).permute({1, 2, 3, 0}));
    pos += f;
  };
  if (!tiling) take(forward(x));
  else tiled_decode(x, *tiling, sc, c.out_channels, forward, take);
  if (pos != frames)
    throw std::runtime_error("video decoder: decoded " + std::to_string(pos) + " frames, expected " +
                             std::to_string(frames));
  return out;
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
                                 const std::optional<VideoTilingConfig>& tiling, const VideoDecoderMemory& m) {
  check_latent(c, latent);
  return uint8_frames([&](const at::Tensor& t) { return video_decoder_forward(w, c, t, m); }, c,
                      latent.to(w.conv_in.weight.device()), tiling);
}

at::Tensor decode_video_to_uint8(const TileDecodeFn& forward, const VideoDecoderConfig& c, const at::Tensor& latent,
                                 at::Device device, const std::optional<VideoTilingConfig>& tiling) {
  check_latent(c, latent);
  return uint8_frames(forward, c, latent.to(device), tiling);
}

}  // namespace ff::ltx2
