#include "bench/gpu/random_ltx2.hpp"

#include <cmath>
#include <optional>
#include <stdexcept>

#include "worker/engine/app/placed_decoders.hpp"
#include "worker/engine/ltx2/fp8_storage.hpp"
#include "worker/engine/ltx2/upsampler_config.hpp"

namespace ff::bench {
namespace {

// Moves every defined tensor of `slots` to the host (for stream / auto placements).
void to_host(const std::vector<layers::WeightSlot>& slots) {
  for (const auto& slot : slots)
    if (slot.target->defined()) *slot.target = slot.target->cpu();
}

void maybe_fp8(const engine::EngineConfig& config, const char* component, ltx2::AVTransformerWeights& w,
               const ltx2::AVTransformerConfig& c) {
  if (config.weights_fp8(component)) ltx2::cast_linears_to_fp8(ltx2::av_transformer_linears(w, c));
}

// A stage's weights for `mode`: drawn on the device; moved to the host unless resident.
ltx2::AVTransformerWeights stage_weights(const ltx2::AVTransformerConfig& c, engine::rt::Placement mode,
                                         at::Device dev, at::ScalarType dtype) {
  int64_t bytes = 0;
  ltx2::AVTransformerWeights w = random_transformer(c, dev, dtype, bytes);
  if (mode != engine::rt::Placement::kResident) to_host(ltx2::av_transformer_slots(w, c, ""));
  return w;
}

}  // namespace

ltx2::AVTransformerWeights random_transformer(const ltx2::AVTransformerConfig& c, at::Device dev, at::ScalarType dtype,
                                              int64_t& bytes) {
  ltx2::AVTransformerWeights w;
  bytes += layers::randomize_slots(ltx2::av_transformer_slots(w, c, ""), dev, dtype);
  return w;
}

ltx2::Lora random_lora(const ltx2::AVTransformerConfig& c, int64_t rank, at::Device dev, at::ScalarType dtype,
                       int64_t& bytes) {
  static const char* kSuffixes[] = {".to_q.weight", ".to_k.weight", ".to_v.weight", ".to_out.0.weight",
                                    "ff.net.0.proj.weight", "ff.net.2.weight"};
  auto ends_with = [](const std::string& s, const std::string& t) {
    return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
  };
  ltx2::Lora l{"random-rank-" + std::to_string(rank), {}};
  const auto opts = at::TensorOptions().dtype(dtype).device(dev);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    ltx2::AVBlockWeights probe;
    for (const auto& slot : ltx2::av_block_slots(probe, c, "", i)) {
      bool hit = false;
      for (const char* sfx : kSuffixes) hit = hit || ends_with(slot.name, sfx);
      if (!hit || slot.shape.size() != 2) continue;
      const int64_t out = slot.shape[0], in = slot.shape[1];
      ltx2::LoraFactors f;
      f.a = at::empty({rank, in}, opts).normal_(0.0, 1.0 / std::sqrt(static_cast<double>(in)));
      f.b = at::empty({out, rank}, opts).normal_(0.0, 0.1 / std::sqrt(static_cast<double>(rank)));
      bytes += (f.a.numel() + f.b.numel()) * static_cast<int64_t>(f.a.element_size());
      l.pairs.emplace(slot.name.substr(0, slot.name.size() - 7), std::move(f));  // without ".weight"
    }
  }
  return l;
}

ltx2::LtxModelConfig preset_model_config(const ltx2::PublishedPreset& preset) {
  const std::map<std::string, std::string> metadata{{"config", preset.config.dump()},
                                                    {"model_version", preset.model_version}};
  return ltx2::ltx_model_config_from_metadata(metadata, "(in memory) " + preset.name);
}

void attach_stage2(engine::Ltx2Model& m, const engine::EngineConfig& config, const ltx2::Lora& lora,
                   engine::rt::DeviceBackend& backend) {
  using engine::rt::Placement;
  m.stage2.reset();
  const auto& tc = m.config.transformer;
  const at::Device dev = backend.device();
  const Placement mode2 = config.placement("stage2_transformer");
  if (config.stage2_lora == engine::EngineConfig::LoraMode::kFused) {
    ltx2::AVTransformerWeights w2 = stage_weights(tc, mode2, dev, m.dtype);
    maybe_fp8(config, "stage2_transformer", w2, tc);
    ltx2::LoraApply how;
    how.strength = m.files.lora_strength;
    if (dev.is_cuda()) how.compute_device = dev;
    ltx2::fuse_lora(lora, ltx2::av_transformer_linears(w2, tc), how);
    m.stage2 = std::make_unique<engine::AVStage>("stage2_transformer", tc, std::move(w2), mode2, backend,
                                                 config.plan_limits());
    return;
  }
  // A streamed / auto delta copies host factors into its pinned store.
  ltx2::Lora host{lora.path, {}};
  const ltx2::Lora* use = &lora;
  if (mode2 != Placement::kResident) {
    for (const auto& [name, f] : lora.pairs) host.pairs.emplace(name, ltx2::LoraFactors{f.a.cpu(), f.b.cpu()});
    use = &host;
  }
  m.stage2 = engine::AVStage::lora_delta("stage2_transformer", *m.stage1, *use, m.files.lora_strength, m.dtype, mode2,
                                         backend, config.plan_limits());
}

engine::Ltx2Model make_random_ltx2_model(const ltx2::PublishedPreset& preset, ltx2::PipelineKind pipeline,
                                         const engine::EngineConfig& config, const ltx2::Lora* lora,
                                         at::ScalarType dtype, engine::rt::DeviceBackend& backend) {
  using engine::rt::Placement;
  engine::Ltx2Model m;
  m.files.checkpoint = "(in memory) " + preset.name;
  m.files.text_encoder = "(in memory)";
  m.files.spatial_upsampler = "(in memory)";
  m.files.distilled_lora = pipeline == ltx2::PipelineKind::kTwoStages ? "(in memory)" : "";
  m.files.pipeline = pipeline;
  m.config = preset_model_config(preset);
  m.dtype = dtype;
  const auto& tc = m.config.transformer;
  const at::Device dev = backend.device();
  const engine::PlanLimits limits = config.plan_limits();

  const Placement mode1 = config.placement("stage1_transformer");
  ltx2::AVTransformerWeights w1 = stage_weights(tc, mode1, dev, dtype);
  maybe_fp8(config, "stage1_transformer", w1, tc);
  m.stage1 = std::make_unique<engine::AVStage>("stage1_transformer", tc, std::move(w1), mode1, backend, limits);
  if (pipeline == ltx2::PipelineKind::kTwoStages) {
    if (!lora) throw std::invalid_argument("make_random_ltx2_model: two_stages needs a LoRA for stage 2");
    attach_stage2(m, config, *lora, backend);
  }

  // Upsampler, audio decoder, vocoder (fp32): placed from the slots' random tensors.
  auto placed_fill = [&](const std::vector<layers::WeightSlot>& slots, const char* component, at::ScalarType dt) {
    layers::randomize_slots(slots, dev, dt);
    if (config.placement(component) != Placement::kResident) to_host(slots);
    return engine::fetch_from_slots(slots);
  };
  {
    const ltx2::UpsamplerConfig uc = ltx2::upsampler_config_from_json(preset.upsampler_config, "(in memory) upsampler config");
    ltx2::UpsamplerWeights uw;
    const auto slots = ltx2::upsampler_slots(uw, uc);
    m.upsampler = engine::make_placed_upsampler(uc, placed_fill(slots, "spatial_upsampler", dtype),
                                                config.placement("spatial_upsampler"), backend, limits);
  }
  const Placement vae_mode = config.placement("vae_decoder");
  ltx2::VideoDecoderWeights vw;
  const auto vslots = ltx2::video_decoder_slots(vw, m.config.video_decoder);
  layers::randomize_slots(vslots, dev, dtype);
  if (vae_mode != Placement::kResident) to_host(vslots);
  m.video_decoder =
      std::make_unique<engine::PlacedVideoDecoder>(m.config.video_decoder, std::move(vw), vae_mode, backend, limits);
  {
    ltx2::AudioDecoderWeights aw;
    const auto slots = ltx2::audio_decoder_slots(aw, m.config.audio_decoder);
    m.audio_decoder = engine::make_placed_audio_decoder(m.config.audio_decoder, placed_fill(slots, "audio_decoder", dtype),
                                                        config.placement("audio_decoder"), backend, limits);
  }
  {
    ltx2::VocoderWeights ww;
    const auto slots = ltx2::vocoder_slots(ww, m.config.vocoder);
    m.vocoder = engine::make_placed_vocoder(m.config.vocoder, placed_fill(slots, "vocoder", at::kFloat),
                                            config.placement("vocoder"), backend, limits);
  }
  return m;
}

}  // namespace ff::bench
