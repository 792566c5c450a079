#include "worker/engine/app/ltx2_model.hpp"

#include <iostream>

#include "common/log.hpp"
#include "worker/engine/app/placed_decoders.hpp"
#include "worker/engine/io/checkpoint.hpp"
#include "worker/engine/ltx2/checkpoint_inventory.hpp"
#include "worker/engine/ltx2/fp8_storage.hpp"
#include "worker/engine/ltx2/lora.hpp"

namespace ff::engine {
namespace {

constexpr const char* kTransformerPrefix = "model.diffusion_model.";

// The transformer's weights from the checkpoint, in `dtype`: on the device for a resident stage,
// host views of the file mapping otherwise (zero copy when the stored dtype is `dtype`).
ltx2::AVTransformerWeights load_transformer(const io::Checkpoint& ckpt, const ltx2::AVTransformerConfig& c,
                                            at::ScalarType dtype, at::Device where) {
  ltx2::AVTransformerWeights w;
  layers::load_slots(ltx2::av_transformer_slots(w, c, kTransformerPrefix), ltx2::checkpoint_fetch(ckpt, where, dtype));
  return w;
}


}  // namespace

std::map<std::string, proto::ComponentStats> Ltx2Model::stats() const {
  std::map<std::string, proto::ComponentStats> out;
  out[stage1->component()] = stage1->stats();
  if (stage2) out[stage2->component()] = stage2->stats();
  out["vae_decoder"] = video_decoder->stats();
  out["spatial_upsampler"] = upsampler->stages().stats();
  out["audio_decoder"] = audio_decoder->stages().stats();
  out["vocoder"] = vocoder->stages().stats();
  return out;
}

Ltx2Model load_ltx2_model(const EngineConfig& config, rt::DeviceBackend& backend) {
  Ltx2Model m;
  m.files = ltx2::model_files_from_json(config.model, "engine config: key 'model'");
  const ltx2::ModelFilesReport report = ltx2::check_model_files(m.files);
  for (const auto& w : report.warnings) ff::log::warn("engine", "model files: ", w);

  const at::Device dev = backend.device();
  const auto ckpt = io::Checkpoint::open(m.files.checkpoint);
  m.config = ltx2::ltx_model_config_from_metadata(ckpt.metadata(), m.files.checkpoint);
  const auto& tc = m.config.transformer;
  const PlanLimits limits = config.plan_limits();
  if (config.vae_tiling) {
    // The tile sizes were checked against LTX-2.3's cells; check them against this decoder's.
    const ltx2::VideoScale s = m.config.video_decoder.scale();
    try {
      (void)config.vae_tiling.for_video(8 * s.height, 8 * s.width, s);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("engine config: key 'vae_tiling' does not fit the checkpoint's video decoder: ") +
                                  e.what());
    }
  }
  const bool two_stages = m.files.pipeline == ltx2::PipelineKind::kTwoStages;

  auto load_stage = [&](const char* name) {
    const rt::Placement mode = config.placement(name);
    auto w = load_transformer(ckpt, tc, m.dtype, mode == rt::Placement::kResident ? dev : at::Device(at::kCPU));
    return std::pair{std::move(w), mode};
  };
  auto fp8 = [&](const char* name, ltx2::AVTransformerWeights& w) {
    if (config.weights_fp8(name)) ltx2::cast_linears_to_fp8(ltx2::av_transformer_linears(w, tc));
  };

  auto [w1, mode1] = load_stage("stage1_transformer");
  fp8("stage1_transformer", w1);
  const bool fused = two_stages && config.stage2_lora == EngineConfig::LoraMode::kFused;
  std::optional<ltx2::AVTransformerWeights> w2;
  rt::Placement mode2 = config.placement("stage2_transformer");
  if (fused) {
    auto [w, mode] = load_stage("stage2_transformer");
    w2 = std::move(w);
    fp8("stage2_transformer", *w2);
  }
  m.stage1 = std::make_unique<AVStage>("stage1_transformer", tc, std::move(w1), mode1, backend, limits);
  if (two_stages) {
    const ltx2::Lora lora = ltx2::open_lora(m.files.distilled_lora);
    if (fused) {
      ltx2::LoraApply how;
      how.strength = m.files.lora_strength;
      if (dev.is_cuda()) how.compute_device = dev;
      ltx2::fuse_lora(lora, ltx2::av_transformer_linears(*w2, tc), how);
      m.stage2 = std::make_unique<AVStage>("stage2_transformer", tc, std::move(*w2), mode2, backend, limits);
    } else {
      m.stage2 = AVStage::lora_delta("stage2_transformer", *m.stage1, lora, m.files.lora_strength, m.dtype, mode2,
                                     backend, limits);
    }
  }

  m.upsampler = load_placed_upsampler(m.files.spatial_upsampler, m.dtype, config.placement("spatial_upsampler"),
                                      backend, limits);
  const rt::Placement vae_mode = config.placement("vae_decoder");
  m.video_decoder = std::make_unique<PlacedVideoDecoder>(
      m.config.video_decoder,
      ltx2::load_video_decoder(ckpt, m.config.video_decoder, vae_mode == rt::Placement::kResident ? dev : at::Device(at::kCPU),
                               m.dtype),
      vae_mode, backend, limits);
  const auto& file = *ckpt.files().front();
  m.audio_decoder = load_placed_audio_decoder(file, m.dtype, config.placement("audio_decoder"), backend, limits);
  m.vocoder = load_placed_vocoder(file, config.placement("vocoder"), backend, limits);
  return m;
}

}  // namespace ff::engine
