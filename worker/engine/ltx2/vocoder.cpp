// The vocoder's weight layout (slots) and loader; the math is in vocoder_amp.cpp (BigVGAN) and
// vocoder_bwe.cpp (bandwidth extension).
#include "worker/engine/ltx2/vocoder.hpp"

#include <cmath>

#include "worker/engine/ltx2/audio_decoder.hpp"
#include "worker/engine/ltx2/ltx2_json.hpp"

namespace ff::ltx2 {
namespace {

constexpr int64_t kActFilterTaps = 12;  // ltx-core Activation1d: up/down kernel size 12

using layers::WeightInit;
using layers::WeightSlot;

void conv_slots(std::vector<WeightSlot>& out, VocoderConv& conv, const std::string& name,
                std::vector<int64_t> weight_shape, int64_t out_channels, bool bias, double fan_in) {
  out.push_back({name + ".weight", std::move(weight_shape), WeightInit::normal(1.0 / std::sqrt(fan_in)), &conv.weight});
  if (bias) out.push_back({name + ".bias", {out_channels}, WeightInit::constant(0.0), &conv.bias});
}

void act_slots(std::vector<WeightSlot>& out, SnakeBetaAct& a, const std::string& name, int64_t channels) {
  // Log-scale parameters: 0 means alpha = beta = 1. Filters: a box as a stand-in for random weights.
  out.push_back({name + ".act.alpha", {channels}, WeightInit::constant(0.0), &a.alpha});
  out.push_back({name + ".act.beta", {channels}, WeightInit::constant(0.0), &a.beta});
  out.push_back({name + ".upsample.filter", {1, 1, kActFilterTaps}, WeightInit::constant(1.0 / kActFilterTaps), &a.up_filter});
  out.push_back({name + ".downsample.lowpass.filter", {1, 1, kActFilterTaps}, WeightInit::constant(1.0 / kActFilterTaps),
                 &a.down_filter});
}

void bigvgan_slots(std::vector<WeightSlot>& out, BigVganWeights& w, const BigVganConfig& c, const std::string& p) {
  const int64_t c0 = c.upsample_initial_channel;
  const int64_t mel_channels = 2 * VocoderConfig::kMelBins;
  conv_slots(out, w.conv_pre, p + "conv_pre", {c0, mel_channels, 7}, c0, true, mel_channels * 7.0);
  w.ups.assign(static_cast<size_t>(c.stages()), {});
  w.resblocks.assign(static_cast<size_t>(c.stages() * c.kernels()), {});
  for (int64_t i = 0; i < c.stages(); ++i) {
    const int64_t ci = c.stage_channels(i - 1), co = c.stage_channels(i);
    const int64_t k = c.upsample_kernel_sizes[static_cast<size_t>(i)];
    conv_slots(out, w.ups[static_cast<size_t>(i)], p + "ups." + std::to_string(i), {ci, co, k}, co, true,
               static_cast<double>(ci * k) / static_cast<double>(c.upsample_rates[static_cast<size_t>(i)]));
    for (int64_t j = 0; j < c.kernels(); ++j) {
      const int64_t n = i * c.kernels() + j;
      const int64_t kj = c.resblock_kernel_sizes[static_cast<size_t>(j)];
      auto& b = w.resblocks[static_cast<size_t>(n)];
      const std::string rb = p + "resblocks." + std::to_string(n);
      for (int m = 0; m < 3; ++m) {
        const std::string ms = std::to_string(m);
        conv_slots(out, b.convs1[m], rb + ".convs1." + ms, {co, co, kj}, co, true, static_cast<double>(co * kj));
        conv_slots(out, b.convs2[m], rb + ".convs2." + ms, {co, co, kj}, co, true, static_cast<double>(co * kj));
        act_slots(out, b.acts1[m], rb + ".acts1." + ms, co);
        act_slots(out, b.acts2[m], rb + ".acts2." + ms, co);
      }
    }
  }
  const int64_t cf = c.final_channels();
  act_slots(out, w.act_post, p + "act_post", cf);
  conv_slots(out, w.conv_post, p + "conv_post", {2, cf, 7}, 2, c.use_bias_at_final, cf * 7.0);
}

}  // namespace

std::vector<WeightSlot> vocoder_slots(VocoderWeights& w, const VocoderConfig& c, const std::string& prefix) {
  std::vector<WeightSlot> out;
  bigvgan_slots(out, w.vocoder, c.vocoder, prefix + "vocoder.");
  bigvgan_slots(out, w.bwe_generator, c.bwe, prefix + "bwe_generator.");
  const int64_t nf = c.n_fft / 2 + 1;
  const std::string m = prefix + "mel_stft.";
  out.push_back({m + "mel_basis", {c.num_mels, nf}, WeightInit::constant(1.0 / static_cast<double>(nf)), &w.mel_stft.mel_basis});
  out.push_back({m + "stft_fn.forward_basis", {2 * nf, 1, c.n_fft}, WeightInit::normal(0.1), &w.mel_stft.forward_basis});
  out.push_back({m + "stft_fn.inverse_basis", {2 * nf, 1, c.n_fft}, WeightInit::normal(0.1), &w.mel_stft.inverse_basis});
  return out;
}

VocoderModel load_vocoder(const io::SafetensorsFile& file, at::Device device, at::ScalarType dtype) {
  VocoderModel m;
  const json::Json cfg = config_from_metadata(file.metadata(), file.path());
  m.config = vocoder_config_from_json(config_section(cfg, "vocoder", file.path()), file.path() + " config.vocoder");
  layers::load_slots(vocoder_slots(m.weights, m.config), layers::file_fetch(file, device, dtype));
  return m;
}

}  // namespace ff::ltx2
