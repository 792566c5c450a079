// BigVGAN v2 (ltx-core Vocoder with AMPBlock1 and anti-aliased SnakeBeta), in fp32.
#include <stdexcept>
#include <vector>

#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/vocoder.hpp"

namespace ff::ltx2 {
namespace {

constexpr double kSnakeEps = 1e-9;  // ltx-core SnakeBeta.eps
constexpr int64_t kActRatio = 2;    // Activation1d: x2 up, x2 down

at::Tensor f32(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() ? t.to(like.device(), at::kFloat) : t;
}

at::Tensor conv1d(const at::Tensor& x, const VocoderConv& c, int64_t padding, int64_t dilation = 1) {
  const std::vector<int64_t> stride{1}, pad{padding}, dil{dilation};
  return at::conv1d(x, f32(c.weight, x), f32(c.bias, x), stride, pad, dil);
}

// Anti-aliased SnakeBeta (ltx-core Activation1d(SnakeBeta)): x [B, C, L] -> [B, C, L].
at::Tensor snake_beta_act(const at::Tensor& x, const SnakeBetaAct& a) {
  const int64_t C = x.size(1);
  // UpSample1d(2, kaiser): pad = K/2 - 1 replicated samples on each side, transposed conv with
  // stride 2, times 2, then drop pad*2 + (K-2)/2 leading and pad*2 + (K-1)/2 trailing samples.
  const at::Tensor up_f = f32(a.up_filter, x);
  const int64_t K = up_f.size(-1);
  const int64_t pad = K / kActRatio - 1;
  const int64_t cut_left = pad * kActRatio + (K - kActRatio) / 2;
  const int64_t cut_right = pad * kActRatio + (K - kActRatio + 1) / 2;
  at::Tensor y = at::replication_pad1d(x, {pad, pad});
  y = at::conv_transpose1d(y, up_f.expand({C, -1, -1}), {}, {kActRatio}, {0}, {0}, C);
  y = kActRatio * y;
  y = y.slice(2, cut_left, y.size(2) - cut_right);

  // SnakeBeta with log-scale parameters.
  const at::Tensor alpha = at::exp(f32(a.alpha, x).unsqueeze(0).unsqueeze(-1));
  const at::Tensor beta = at::exp(f32(a.beta, x).unsqueeze(0).unsqueeze(-1));
  y = y + (1.0 / (beta + kSnakeEps)) * at::pow(at::sin(y * alpha), 2);

  // DownSample1d(2): LowPassFilter1d, even K: replicate pad K/2-1 before and K/2 after, stride 2.
  const at::Tensor down_f = f32(a.down_filter, x);
  const int64_t Kd = down_f.size(-1);
  const int64_t even = Kd % 2 == 0 ? 1 : 0;
  y = at::replication_pad1d(y, {Kd / 2 - even, Kd / 2});
  const std::vector<int64_t> stride{kActRatio}, no_pad{0}, unit{1};
  return at::conv1d(y, down_f.expand({C, -1, -1}), at::Tensor(), stride, no_pad, unit, C);
}

int64_t same_padding(int64_t k, int64_t d) { return (k * d - d) / 2; }

at::Tensor amp_block(at::Tensor x, const AmpBlock& b, int64_t k, const std::vector<int64_t>& dilations) {
  for (int m = 0; m < 3; ++m) {
    const int64_t d = dilations[static_cast<size_t>(m)];
    at::Tensor t = snake_beta_act(x, b.acts1[m]);
    t = conv1d(t, b.convs1[m], same_padding(k, d), d);
    t = snake_beta_act(t, b.acts2[m]);
    t = conv1d(t, b.convs2[m], same_padding(k, 1));
    x = x + t;
  }
  return x;
}

}  // namespace

std::vector<std::vector<std::string>> bigvgan_stage_prefixes(const BigVganConfig& c, const std::string& prefix) {
  std::vector<std::vector<std::string>> out = {{prefix + "conv_pre."}};
  for (int64_t i = 0; i < c.stages(); ++i) {
    std::vector<std::string> stage = {prefix + "ups." + std::to_string(i) + "."};
    for (int64_t j = 0; j < c.kernels(); ++j) stage.push_back(prefix + "resblocks." + std::to_string(i * c.kernels() + j) + ".");
    out.push_back(std::move(stage));
  }
  out.push_back({prefix + "act_post.", prefix + "conv_post."});
  return out;
}

at::Tensor bigvgan_forward(const BigVganWeights& w, const BigVganConfig& c, const at::Tensor& mel,
                           const StageHooks& hooks) {
  if (mel.dim() != 4 || mel.size(1) != 2 || mel.size(3) != VocoderConfig::kMelBins)
    throw std::invalid_argument("vocoder: mel must be [B, 2, T, 64], got " + io::shape_string(mel.sizes()));
  const int64_t B = mel.size(0), T = mel.size(2);
  // (b, s, t, c) -> (b, s*64 + c, t): stereo channel-major mel channels.
  at::Tensor x = mel.to(at::kFloat).transpose(2, 3).reshape({B, 2 * VocoderConfig::kMelBins, T});
  int stage = 0;
  hooks.begin(stage);
  x = conv1d(x, w.conv_pre, 3);
  hooks.end(stage++);
  for (int64_t i = 0; i < c.stages(); ++i) {
    hooks.begin(stage);
    const auto& up = w.ups[static_cast<size_t>(i)];
    const int64_t r = c.upsample_rates[static_cast<size_t>(i)], k = c.upsample_kernel_sizes[static_cast<size_t>(i)];
    x = at::conv_transpose1d(x, f32(up.weight, x), f32(up.bias, x), {r}, {(k - r) / 2});
    std::vector<at::Tensor> outs;
    for (int64_t j = 0; j < c.kernels(); ++j)
      outs.push_back(amp_block(x, w.resblocks[static_cast<size_t>(i * c.kernels() + j)],
                               c.resblock_kernel_sizes[static_cast<size_t>(j)],
                               c.resblock_dilation_sizes[static_cast<size_t>(j)]));
    x = at::stack(outs, 0).mean(0);
    hooks.end(stage++);
  }
  hooks.begin(stage);
  x = snake_beta_act(x, w.act_post);
  x = conv1d(x, w.conv_post, 3);
  hooks.end(stage);
  if (c.apply_final_activation) x = c.use_tanh_at_final ? at::tanh(x) : at::clamp(x, -1.0, 1.0);
  return x;
}

}  // namespace ff::ltx2
