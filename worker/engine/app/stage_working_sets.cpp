#include "worker/engine/app/stage_working_sets.hpp"

#include <algorithm>

namespace ff::engine {
namespace {

constexpr int64_t kFloatBytes = 4;

// Live elements of one generator's largest stage: mel [2 x 64, frames] in, the AMP stages'
// kernels-many outputs, their stacked copy and mean, and the anti-aliased activation's x2 signal
// (padded, transposed-conv output, SnakeBeta temporaries, then the low-pass input).
int64_t generator_elements(const ltx2::BigVganConfig& c, int64_t frames, bool cpu_unfold) {
  int64_t length = frames;
  int64_t peak = (2 * ltx2::VocoderConfig::kMelBins + c.upsample_initial_channel) * frames;
  int64_t widest_kernel = 1;
  for (int64_t k : c.resblock_kernel_sizes) widest_kernel = std::max(widest_kernel, k);
  for (int64_t i = 0; i < c.stages(); ++i) {
    length *= c.upsample_rates[static_cast<size_t>(i)];
    const int64_t cl = c.stage_channels(i) * length;
    const int64_t stage = (2 * c.kernels() + 2) * cl + 8 * cl + (cpu_unfold ? widest_kernel * cl : cl);
    peak = std::max(peak, stage);
  }
  return peak;
}

}  // namespace

int64_t upsampler_working_bytes(const ltx2::UpsamplerConfig& c, int64_t frames, int64_t height, int64_t width,
                                int64_t elem_bytes, bool cpu_unfold) {
  const int64_t cells = frames * height * width;
  const int64_t in = c.in_channels * cells;        // the latent, and each of its normalized copies
  const int64_t mid = c.mid_channels * cells;      // before the x2 step
  const int64_t mid_x2 = 4 * mid;                  // after it
  const int64_t conv3d_ws = cpu_unfold ? 27 : 1;   // 3x3x3 unfold on the CPU, one input on CUDA
  const int64_t res_before = 5 * mid + conv3d_ws * mid;
  const int64_t x2 = mid + 4 * mid + 2 * mid_x2 + (cpu_unfold ? 9 : 1) * mid;
  const int64_t res_after = 5 * mid_x2 + conv3d_ws * mid_x2;
  const int64_t final_conv = mid_x2 + 4 * in + conv3d_ws * mid_x2;
  // The un-normalized latent and the output with its normalized copy outlive the network.
  return elem_bytes * (std::max({res_before, x2, res_after, final_conv}) + in + 8 * in);
}

int64_t audio_decoder_working_bytes(const ltx2::AudioDecoderConfig& c, int64_t frames, int64_t bins,
                                    int64_t elem_bytes, bool cpu_unfold) {
  const int64_t conv2d_ws = cpu_unfold ? 9 : 1;  // 3x3 im2col on the CPU
  int64_t peak = 3 * c.z_channels * frames * bins;
  int64_t t = frames, f = bins;
  for (int64_t level = c.levels() - 1; level >= 0; --level) {
    const int64_t e = c.level_channels(level) * t * f;
    // A ResnetBlock: input, PixelNorm and SiLU outputs, padded copy, conv output, skip path.
    peak = std::max(peak, (6 + conv2d_ws) * e + e);
    if (level != 0) {
      // Nearest x2 (4e), its padded copy and the conv output, beside the input.
      peak = std::max(peak, e + 3 * 4 * e + conv2d_ws * 4 * e);
      t *= 2;
      f *= 2;
    }
  }
  const int64_t out = c.out_ch * std::max<int64_t>(4 * frames, 1) * std::max<int64_t>(c.mel_bins, bins);
  return elem_bytes * (peak + 2 * out);
}

int64_t vocoder_working_bytes(const ltx2::VocoderConfig& c, int64_t mel_frames, bool cpu_unfold) {
  const int64_t base = generator_elements(c.vocoder, mel_frames, cpu_unfold);
  // The base waveform [2, L] (padded to the hop) stays alive through the BWE, whose log-mel has
  // L / hop frames; the x3 resampled skip and the residual meet at the end.
  const int64_t wave = 2 * (mel_frames * c.vocoder.total_upsample() + c.hop_length);
  const int64_t bwe_frames = wave / 2 / std::max<int64_t>(c.hop_length, 1) + 1;
  const int64_t bwe = generator_elements(c.bwe, bwe_frames, cpu_unfold);
  const int64_t stft = 2 * (c.n_fft / 2 + 1) * 2 * bwe_frames * 3;
  const int64_t out = 3 * wave * c.resample_ratio();
  return kFloatBytes * (std::max(base, wave + std::max(bwe, stft)) + out);
}

}  // namespace ff::engine
