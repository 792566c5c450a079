#include "worker/engine/ltx2/video_decoder_workspace.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace ff::ltx2::vdws {
namespace {

void check_kernel(const at::Tensor& weight) {
  if (weight.dim() != 5 || weight.size(2) != 3 || weight.size(3) != 3 || weight.size(4) != 3)
    throw std::invalid_argument("video decoder: expected a 3x3x3 convolution weight, got " +
                                std::to_string(weight.dim()) + " dims");
}

// The chunk [s, s + len) of the interior's output reads workspace frames [s, s + len + 2).
at::Tensor conv_chunk(const at::Tensor& ws, const at::Tensor& w, const at::Tensor& bias, int64_t s, int64_t len) {
  return at::conv3d(ws.narrow(2, s, len + 2), w, bias, {1, 1, 1}, {0, 1, 1});
}

}  // namespace

at::MemoryFormat format_for(const at::Tensor& x, const VideoDecoderMemory& m) {
  const bool cl = m.channels_last < 0 ? x.is_cuda() : m.channels_last > 0;
  return cl ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::Contiguous;
}

bool exclusively_owned(const at::Tensor& x) {
  return x.defined() && x.use_count() == 1 && x.storage().use_count() == 1;
}

int64_t chunk_frames(const at::Tensor& like, int64_t channels, const VideoDecoderMemory& m) {
  const int64_t frames = like.size(2);
  if (m.chunk_bytes <= 0) return std::max<int64_t>(frames, 1);
  const int64_t frame = like.size(0) * channels * like.size(3) * like.size(4) * static_cast<int64_t>(like.element_size());
  return std::clamp<int64_t>(m.chunk_bytes / std::max<int64_t>(frame, 1), 1, std::max<int64_t>(frames, 1));
}

void pad_edges(at::Tensor& ws) {
  const int64_t last = ws.size(2) - 1;
  ws.narrow(2, 0, 1).copy_(ws.narrow(2, 1, 1));
  ws.narrow(2, last, 1).copy_(ws.narrow(2, last - 1, 1));
}

at::Tensor padded_workspace(const at::Tensor& x, at::MemoryFormat fmt) {
  at::Tensor ws = at::empty({x.size(0), x.size(1), x.size(2) + 2, x.size(3), x.size(4)},
                            x.options().memory_format(fmt));
  interior(ws).copy_(x);
  pad_edges(ws);
  return ws;
}

void norm_silu_(const at::Tensor& x, double eps, int64_t frames) {
  const int64_t total = x.size(2);
  frames = std::max<int64_t>(frames, 1);
  for (int64_t s = 0; s < total; s += frames) {
    at::Tensor part = x.narrow(2, s, std::min(frames, total - s));
    // x / sqrt(mean(x * x) + eps): the textbook ops, only the square is chunk-sized.
    const at::Tensor rms = at::mean(part * part, {1}, /*keepdim=*/true).add_(eps).sqrt_();
    part.div_(rms);
    at::silu_(part);
  }
}

void conv_in_place(at::Tensor& ws, const at::Tensor& weight, const at::Tensor& bias, const VideoDecoderMemory& m) {
  check_kernel(weight);
  if (weight.size(0) != ws.size(1))
    throw std::invalid_argument("video decoder: in-place convolution needs as many outputs as inputs");
  pad_edges(ws);
  const at::Tensor w = weight.contiguous(ws.suggest_memory_format());
  const int64_t frames = ws.size(2) - 2, n = chunk_frames(interior(ws), ws.size(1), m);
  // Chunk k's output goes back only after chunk k + 1 has been computed: chunk k + 1 reads the
  // input frame just before its range, which is chunk k's last output frame.
  at::Tensor pending;
  int64_t pending_start = 0;
  for (int64_t s = 0; s < frames; s += n) {
    at::Tensor out = conv_chunk(ws, w, bias, s, std::min(n, frames - s));
    if (pending.defined()) ws.narrow(2, 1 + pending_start, pending.size(2)).copy_(pending);
    pending = std::move(out);
    pending_start = s;
  }
  ws.narrow(2, 1 + pending_start, pending.size(2)).copy_(pending);
}

at::Tensor conv_to_new(at::Tensor& ws, const at::Tensor& weight, const at::Tensor& bias, const VideoDecoderMemory& m) {
  check_kernel(weight);
  pad_edges(ws);
  const at::MemoryFormat fmt = ws.suggest_memory_format();
  const at::Tensor w = weight.contiguous(fmt);
  const int64_t frames = ws.size(2) - 2, n = chunk_frames(interior(ws), weight.size(0), m);
  if (n >= frames) return conv_chunk(ws, w, bias, 0, frames).contiguous(fmt);
  at::Tensor out = at::empty({ws.size(0), weight.size(0), frames, ws.size(3), ws.size(4)},
                             ws.options().memory_format(fmt));
  for (int64_t s = 0; s < frames; s += n) {
    const int64_t len = std::min(n, frames - s);
    out.narrow(2, s, len).copy_(conv_chunk(ws, w, bias, s, len));
  }
  return out;
}

at::Tensor depth_to_space(const at::Tensor& x, int64_t t, int64_t s, at::MemoryFormat fmt) {
  const int64_t b = x.size(0), c = x.size(1) / (t * s * s), d = x.size(2), h = x.size(3), w = x.size(4);
  at::Tensor y = at::empty({b, c, d * t, h * s, w * s}, x.options().memory_format(fmt));
  const auto st = y.strides();
  // y as [b, c, d, p1, h, p2, w, p3]; x's channels split as (c p1 p2 p3), moved to that order.
  at::Tensor yv = y.as_strided({b, c, d, t, h, s, w, s},
                               {st[0], st[1], st[2] * t, st[2], st[3] * s, st[3], st[4] * s, st[4]},
                               y.storage_offset());
  yv.copy_(x.view({b, c, t, s, s, d, h, w}).permute({0, 1, 5, 2, 6, 3, 7, 4}));
  return y;
}

}  // namespace ff::ltx2::vdws
