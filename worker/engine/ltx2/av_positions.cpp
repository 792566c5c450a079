#include "worker/engine/ltx2/av_positions.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace ff::ltx2 {

at::Tensor patchify_video(const at::Tensor& latent) {
  if (latent.dim() != 5) throw std::invalid_argument("patchify_video: expected [B, C, F, H, W]");
  const int64_t b = latent.size(0), c = latent.size(1);
  return latent.permute({0, 2, 3, 4, 1}).reshape({b, -1, c}).contiguous();
}

at::Tensor unpatchify_video(const at::Tensor& tokens, int64_t frames, int64_t height, int64_t width) {
  if (tokens.dim() != 3 || tokens.size(1) != frames * height * width)
    throw std::invalid_argument("unpatchify_video: expected [B, " + std::to_string(frames * height * width) + ", C]");
  const int64_t b = tokens.size(0), c = tokens.size(2);
  return tokens.view({b, frames, height, width, c}).permute({0, 4, 1, 2, 3}).contiguous();
}

at::Tensor patchify_audio(const at::Tensor& latent) {
  if (latent.dim() != 4) throw std::invalid_argument("patchify_audio: expected [B, C, T, F]");
  const int64_t b = latent.size(0), t = latent.size(2);
  return latent.permute({0, 2, 1, 3}).reshape({b, t, -1}).contiguous();
}

at::Tensor unpatchify_audio(const at::Tensor& tokens, int64_t channels, int64_t mel_bins) {
  if (tokens.dim() != 3 || tokens.size(2) != channels * mel_bins)
    throw std::invalid_argument("unpatchify_audio: expected [B, T, " + std::to_string(channels * mel_bins) + "]");
  const int64_t b = tokens.size(0), t = tokens.size(1);
  return tokens.view({b, t, channels, mel_bins}).permute({0, 2, 1, 3}).contiguous();
}

at::Tensor video_positions(int64_t latent_frames, int64_t latent_h, int64_t latent_w, double fps,
                           VideoScaleFactors scale, bool causal_fix, int64_t batch) {
  if (latent_frames <= 0 || latent_h <= 0 || latent_w <= 0 || batch <= 0 || !(fps > 0))
    throw std::invalid_argument("video_positions: sizes and fps must be positive");
  const auto i64 = at::TensorOptions().dtype(at::kLong);
  // Integer latent bounds [start, start + 1) per axis, frame slowest, width fastest.
  auto grids = at::meshgrid({at::arange(latent_frames, i64), at::arange(latent_h, i64), at::arange(latent_w, i64)},
                            "ij");
  at::Tensor starts = at::stack({grids[0], grids[1], grids[2]}, 0).reshape({3, -1});  // [3, N]
  at::Tensor bounds = at::stack({starts, starts + 1}, -1);                               // [3, N, 2]
  at::Tensor factors = at::tensor(std::vector<int64_t>{scale.time, scale.height, scale.width}, i64).view({3, 1, 1});
  at::Tensor pixel = bounds * factors;
  if (causal_fix) {
    // The causal VAE's first frame covers one pixel frame: shift time so it starts at 0.
    at::Tensor t = (pixel.select(0, 0) + 1 - scale.time).clamp_min(0);
    pixel = at::cat({t.unsqueeze(0), pixel.narrow(0, 1, 2)}, 0);
  }
  at::Tensor pos = pixel.to(at::kFloat);
  pos = at::cat({(pos.select(0, 0) / fps).unsqueeze(0), pos.narrow(0, 1, 2)}, 0);
  return pos.unsqueeze(0).expand({batch, -1, -1, -1}).contiguous();
}

at::Tensor audio_positions(int64_t latent_frames, int64_t batch, AudioTiming timing) {
  if (latent_frames <= 0 || batch <= 0) throw std::invalid_argument("audio_positions: sizes must be positive");
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  auto seconds = [&](int64_t begin, int64_t end) {
    at::Tensor mel = at::arange(begin, end, f32) * timing.latent_downsample;
    if (timing.causal) mel = (mel + 1 - timing.latent_downsample).clamp_min(0);
    return mel * timing.hop_length / timing.sample_rate;
  };
  at::Tensor start = seconds(timing.shift, latent_frames + timing.shift);
  at::Tensor end = seconds(timing.shift + 1, latent_frames + timing.shift + 1);
  return at::stack({start, end}, -1).view({1, 1, latent_frames, 2}).expand({batch, 1, -1, -1}).contiguous();
}

at::Tensor rope_freq_grid(double theta, int64_t n_pos_dims, int64_t dim, bool double_precision) {
  const int64_t n = dim / (2 * n_pos_dims);
  if (n <= 0) throw std::invalid_argument("rope_freq_grid: dim " + std::to_string(dim) + " too small");
  if (double_precision) {
    // numpy: theta ** linspace(log(1)/log(theta), log(theta)/log(theta), n) * pi / 2 in float64.
    const double start = std::log(1.0) / std::log(theta), stop = std::log(theta) / std::log(theta);
    std::vector<float> out(static_cast<size_t>(n));
    const double step = n > 1 ? (stop - start) / static_cast<double>(n - 1) : 0.0;
    for (int64_t i = 0; i < n; ++i) {
      double y = (n > 1 ? static_cast<double>(i) * step : 0.0) + start;
      if (n > 1 && i == n - 1) y = stop;
      out[static_cast<size_t>(i)] = static_cast<float>(std::pow(theta, y) * M_PI / 2);
    }
    return at::tensor(out, at::TensorOptions().dtype(at::kFloat));
  }
  const double start = std::log(1.0) / std::log(theta), stop = std::log(theta) / std::log(theta);
  at::Tensor lin = at::linspace(start, stop, n, at::TensorOptions().dtype(at::kFloat));
  return at::pow(theta, lin) * M_PI / 2;
}

RopeTables rope_tables(const at::Tensor& positions, int64_t dim, int64_t heads, const std::vector<int64_t>& max_pos,
                       double theta, bool double_precision, bool use_middle, at::ScalarType dtype) {
  at::Tensor grid = positions;
  if (use_middle) {
    if (grid.dim() != 4 || grid.size(-1) != 2)
      throw std::invalid_argument("rope_tables: positions must be [B, P, N, 2] with midpoint positions");
    grid = (grid.select(-1, 0) + grid.select(-1, 1)) / 2.0;
  } else if (grid.dim() == 4) {
    grid = grid.select(-1, 0);
  }
  if (grid.dim() != 3) throw std::invalid_argument("rope_tables: positions must be [B, P, N(, 2)]");
  const int64_t p = grid.size(1);
  if (static_cast<int64_t>(max_pos.size()) != p)
    throw std::invalid_argument("rope_tables: " + std::to_string(p) + " position axes but " +
                                std::to_string(max_pos.size()) + " max_pos entries");
  std::vector<at::Tensor> frac;
  for (int64_t i = 0; i < p; ++i) frac.push_back(grid.select(1, i) / max_pos[static_cast<size_t>(i)]);
  at::Tensor fractional = at::stack(frac, -1);  // [B, N, P]
  at::Tensor freq_grid = rope_freq_grid(theta, p, dim, double_precision).to(positions.device());
  // [B, N, P, n] -> [B, N, n, P] -> [B, N, n*P]: frequency slowest, axis fastest.
  at::Tensor freqs = (freq_grid * (fractional.unsqueeze(-1) * 2 - 1)).transpose(-1, -2).flatten(2);
  at::Tensor cos = freqs.cos(), sin = freqs.sin();
  const int64_t pad = dim / 2 - freqs.size(-1);
  if (pad < 0) throw std::invalid_argument("rope_tables: more frequencies than dim / 2");
  if (pad > 0) {
    // Identity rotation on the first `pad` entries of the flattened table (left pad).
    cos = at::cat({at::ones({cos.size(0), cos.size(1), pad}, cos.options()), cos}, -1);
    sin = at::cat({at::zeros({sin.size(0), sin.size(1), pad}, sin.options()), sin}, -1);
  }
  const int64_t b = cos.size(0), n = cos.size(1);
  if ((dim / 2) % heads != 0) throw std::invalid_argument("rope_tables: dim / 2 not divisible by heads");
  cos = cos.reshape({b, n, heads, -1}).transpose(1, 2).to(dtype).contiguous();
  sin = sin.reshape({b, n, heads, -1}).transpose(1, 2).to(dtype).contiguous();
  return {cos, sin};
}

}  // namespace ff::ltx2
