// The vocoder's bandwidth extension (ltx-core VocoderWithBWE, MelSTFT, UpSample1d "hann"), in fp32.
#include <cmath>
#include <stdexcept>

#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/vocoder.hpp"

namespace ff::ltx2 {
namespace {

constexpr double kRolloff = 0.99;         // torchaudio resample defaults, as ltx-core hard-codes them
constexpr int64_t kZeroCrossings = 6;     // lowpass_filter_width
constexpr double kMelFloor = 1e-5;

int64_t hann_width() { return static_cast<int64_t>(std::ceil(static_cast<double>(kZeroCrossings) / kRolloff)); }

}  // namespace

at::Tensor hann_resampler_filter(int64_t ratio) {
  // Tensor ops in the reference's order and dtype (fp32, scalars applied one by one), so the
  // filter matches bit for bit up to libm differences.
  const int64_t width = hann_width();
  const int64_t taps = 2 * width * ratio + 1;
  const at::Tensor time = (at::arange(taps, at::TensorOptions().dtype(at::kLong)) / ratio - width) * kRolloff;
  const at::Tensor clamped = time.clamp(-static_cast<double>(kZeroCrossings), static_cast<double>(kZeroCrossings));
  const at::Tensor window = at::pow(at::cos(clamped * M_PI / kZeroCrossings / 2), 2);
  return (at::sinc(time) * window * kRolloff / ratio).view({1, 1, -1});
}

at::Tensor hann_upsample(const at::Tensor& x, const at::Tensor& filter, int64_t ratio) {
  const int64_t C = x.size(1);
  const int64_t width = hann_width();
  const int64_t taps = filter.size(-1);
  const int64_t cut_left = 2 * width * ratio, cut_right = taps - ratio;
  at::Tensor y = at::replication_pad1d(x, {width, width});
  const at::Tensor f = filter.to(x.device(), x.scalar_type()).expand({C, -1, -1});
  y = ratio * at::conv_transpose1d(y, f, {}, {ratio}, {0}, {0}, C);
  return y.slice(2, cut_left, y.size(2) - cut_right);
}

at::Tensor bwe_log_mel(const MelStftWeights& w, const VocoderConfig& c, const at::Tensor& wave) {
  const int64_t B = wave.size(0), C = wave.size(1), L = wave.size(2);
  at::Tensor y = wave.to(at::kFloat).reshape({B * C, 1, L});
  // Causal STFT: left-only zero padding of win - hop samples (win = n_fft).
  const int64_t left = std::max<int64_t>(0, c.n_fft - c.hop_length);
  y = at::constant_pad_nd(y, {left, 0}, 0.0);
  const std::vector<int64_t> stride{c.hop_length}, no_pad{0};
  const at::Tensor spec = at::conv1d(y, w.forward_basis.to(y.device(), at::kFloat), at::Tensor(), stride, no_pad);
  const int64_t nf = spec.size(1) / 2;
  const at::Tensor re = spec.slice(1, 0, nf), im = spec.slice(1, nf);
  const at::Tensor magnitude = at::sqrt(at::pow(re, 2) + at::pow(im, 2));
  const at::Tensor mel = at::matmul(w.mel_basis.to(y.device(), at::kFloat), magnitude);
  const at::Tensor log_mel = at::log(at::clamp_min(mel, kMelFloor));
  return log_mel.reshape({B, C, log_mel.size(1), log_mel.size(2)});
}

std::vector<std::vector<std::string>> vocoder_stage_prefixes(const VocoderConfig& c, const std::string& prefix) {
  auto out = bigvgan_stage_prefixes(c.vocoder, prefix + "vocoder.");
  for (auto& stage : bigvgan_stage_prefixes(c.bwe, prefix + "bwe_generator.")) out.push_back(std::move(stage));
  return out;
}

at::Tensor vocode(const VocoderModel& m, const at::Tensor& mel, const StageHooks& hooks) {
  const auto& c = m.config;
  const auto& w = m.weights;
  const at::ScalarType out_dtype = mel.scalar_type();
  at::Tensor x = bigvgan_forward(w.vocoder, c.vocoder, mel, hooks);  // [B, 2, L] at the input rate, fp32
  const int64_t length = x.size(2);
  const int64_t out_length = length * c.output_sampling_rate / c.input_sampling_rate;
  const int64_t rem = length % c.hop_length;
  if (rem != 0) x = at::constant_pad_nd(x, {0, c.hop_length - rem}, 0.0);

  const at::Tensor log_mel = bwe_log_mel(w.mel_stft, c, x);  // [B, 2, 64, frames]
  const auto base_stages = static_cast<int>(c.vocoder.stages()) + 2;  // bigvgan_stage_prefixes(c.vocoder).size()
  const at::Tensor residual = bigvgan_forward(w.bwe_generator, c.bwe, log_mel.transpose(2, 3), hooks.shifted(base_stages));
  const at::Tensor skip = hann_upsample(x, hann_resampler_filter(c.resample_ratio()).to(x.device()), c.resample_ratio());
  if (residual.sizes() != skip.sizes())
    throw std::invalid_argument("vocoder: BWE residual " + io::shape_string(residual.sizes()) +
                                " and resampled signal " + io::shape_string(skip.sizes()) +
                                " differ; the BWE upsample rates must multiply to hop_length x ratio");
  return at::clamp(residual + skip, -1.0, 1.0).slice(2, 0, out_length).to(out_dtype).contiguous();
}

}  // namespace ff::ltx2
