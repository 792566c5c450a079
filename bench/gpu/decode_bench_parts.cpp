#include "bench/gpu/decode_bench_parts.hpp"

#include <chrono>
#include <cstdio>
#include <vector>

#include <ATen/Context.h>

#include "bench/gpu/bench_report.hpp"
#include "worker/engine/ltx2/model_config.hpp"
#include "worker/engine/ltx2/published_presets.hpp"
#include "worker/engine/ltx2/upsampler_config.hpp"
#include "worker/engine/ltx2/video_decoder_weights.hpp"

namespace ff::bench {

DecodeParts make_decode_parts(bool full, at::Device dev, at::ScalarType dtype) {
  const ltx2::PublishedPreset preset = ltx2::published_preset(full ? "ltx23-22b" : "tiny");
  const ltx2::LtxModelConfig mc = ltx2::ltx_model_config_from_metadata(
      {{"config", preset.config.dump()}, {"model_version", preset.model_version}}, preset.name);
  DecodeParts p;
  p.full = full;
  p.device = dev;
  p.dtype = dtype;
  p.video = mc.video_decoder;
  p.audio.config = mc.audio_decoder;
  p.vocoder.config = mc.vocoder;
  p.upsampler.config = ltx2::upsampler_config_from_json(preset.upsampler_config, preset.name + " upsampler");

  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(dev);
  const int64_t c = p.video.latent_channels;
  at::manual_seed(2303);
  p.video_latent = (full ? at::randn({1, c, 16, 32, 48}, f32) : at::randn({1, c, 3, 4, 6}, f32)).to(dtype);
  p.stage1_latent = (full ? at::randn({1, c, 16, 16, 24}, f32) : at::randn({1, c, 3, 2, 3}, f32)).to(dtype);
  const int64_t z = p.audio.config.z_channels, bins = p.audio.config.ch / z;
  p.audio_latent = at::randn({1, z, 126, bins}, f32).to(dtype);
  p.stats_std = (at::rand({c}, f32) + 0.5).to(dtype);
  p.stats_mean = (at::randn({c}, f32) * 0.5).to(dtype);
  return p;
}

void build_video(DecodeParts& p) {
  p.video_weights = ltx2::VideoDecoderWeights{};
  p.video_weight_bytes = layers::randomize_slots(ltx2::video_decoder_slots(p.video_weights, p.video), p.device, p.dtype);
  p.video_weights.std_of_means = p.stats_std;
  p.video_weights.mean_of_means = p.stats_mean;
}
void drop_video(DecodeParts& p) { p.video_weights = ltx2::VideoDecoderWeights{}; }

void build_audio(DecodeParts& p) {
  p.audio.weights = ltx2::AudioDecoderWeights{};
  p.vocoder.weights = ltx2::VocoderWeights{};
  layers::randomize_slots(ltx2::audio_decoder_slots(p.audio.weights, p.audio.config), p.device, p.dtype);
  layers::randomize_slots(ltx2::vocoder_slots(p.vocoder.weights, p.vocoder.config), p.device, at::kFloat);
}
void drop_audio(DecodeParts& p) {
  p.audio.weights = ltx2::AudioDecoderWeights{};
  p.vocoder.weights = ltx2::VocoderWeights{};
}

void build_upsampler(DecodeParts& p) {
  p.upsampler.weights = ltx2::UpsamplerWeights{};
  layers::randomize_slots(ltx2::upsampler_slots(p.upsampler.weights, p.upsampler.config), p.device, p.dtype);
}
void drop_upsampler(DecodeParts& p) { p.upsampler.weights = ltx2::UpsamplerWeights{}; }

Measured time_it(engine::rt::DeviceBackend& be, const std::function<at::Tensor()>& fn, int repeats,
                 const std::string& label) {
  using Clock = std::chrono::steady_clock;
  Measured m;
  const auto w0 = Clock::now();
  m.out = fn();  // warm-up: kernel/algorithm selection, allocator growth
  be.synchronize();
  const double warm = std::chrono::duration<double>(Clock::now() - w0).count();
  m.out = at::Tensor();
  m.base_bytes = be.meter().snapshot().allocated_bytes;
  be.meter().reset_peak();
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    if (r + 1 == repeats) m.out = at::Tensor();
    const auto t0 = Clock::now();
    at::Tensor out = fn();
    be.synchronize();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    m.out = std::move(out);
  }
  m.seconds = median(t);
  m.peak_bytes = be.meter().peak_bytes();
  std::printf("  %-40s %8.4f s  peak %7.3f GiB  base %7.3f GiB  (warm-up %.2f s)\n", label.c_str(), m.seconds,
              m.peak_bytes / 1073741824.0, m.base_bytes / 1073741824.0, warm);
  std::fflush(stdout);
  return m;
}

at::Tensor decode_audio_to_host(const DecodeParts& p) {
  const at::Tensor mel = ltx2::decode_audio_latent(p.audio, p.audio_latent);
  return ltx2::vocode(p.vocoder, mel).to(at::kCPU, at::kFloat);  // as ltx2_job hands the mel over
}

at::Tensor upsample(const DecodeParts& p) {
  return ltx2::upsample_video_latent(p.stage1_latent, p.upsampler, p.stats_mean, p.stats_std);
}

void set_cudnn_benchmark(bool on) { at::globalContext().setBenchmarkCuDNN(on); }

}  // namespace ff::bench
