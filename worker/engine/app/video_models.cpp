#include "worker/engine/app/video_models.hpp"

#include <filesystem>

#include "common/json.hpp"
#include "worker/engine/io/safetensors.hpp"

namespace ff::engine {
namespace {

using io::CheckpointError;

json::Value config_of(const io::SafetensorsFile& f) {
  auto it = f.metadata().find("config");
  if (it == f.metadata().end())
    throw CheckpointError(f.path() + ": safetensors metadata has no 'config' key");
  try {
    return json::parse(it->second);
  } catch (const json::ParseError& e) {
    throw CheckpointError(f.path() + ": metadata 'config' is not valid JSON: " + e.what());
  }
}

const json::Value& section(const json::Value& cfg, const char* key, const std::string& path) {
  const json::Value* s = cfg.find(key);
  if (!s) throw CheckpointError(path + ": metadata 'config' has no '" + key + "' section");
  return *s;
}

// Fetches tensors from `f`, checking presence, shape and a floating dtype shared by the model.
video::TensorFetch fetch_from(const io::SafetensorsFile& f, at::Device device) {
  auto dtype = std::make_shared<c10::optional<at::ScalarType>>();
  return [&f, device, dtype](const std::string& name, const std::vector<int64_t>& shape) {
    const io::TensorInfo* info = f.find(name);
    if (!info) throw CheckpointError(f.path() + ": missing tensor '" + name + "'");
    if (info->shape != shape)
      throw CheckpointError(f.path() + ": tensor '" + name + "' has shape " + io::shape_string(info->shape) +
                            ", expected " + io::shape_string(shape));
    const auto st = info->scalar_type;
    if (st != at::kFloat && st != at::kBFloat16 && st != at::kHalf)
      throw CheckpointError(f.path() + ": tensor '" + name + "' has dtype " + info->dtype +
                            ", expected F32, BF16 or F16");
    if (!dtype->has_value()) *dtype = st;
    if (st != **dtype)
      throw CheckpointError(f.path() + ": tensor '" + name + "' has dtype " + info->dtype +
                            ", other tensors of this model have " + io::safetensors_dtype(**dtype));
    return f.view(name).to(device);
  };
}

video::StageModel load_stage(const std::string& path, at::Device device, json::Value* cfg_out) {
  auto file = io::SafetensorsFile::open(path);
  json::Value cfg = config_of(*file);
  video::StageModel m;
  try {
    m.config = video::transformer_config_from_json(section(cfg, "transformer", path),
                                                   path + " config.transformer");
  } catch (const std::invalid_argument& e) {
    throw CheckpointError(e.what());
  }
  video::load_slots(video::transformer_slots(m.weights, m.config, kTransformerPrefix),
                    fetch_from(*file, device));
  if (cfg_out) *cfg_out = std::move(cfg);
  return m;
}

}  // namespace

VideoModels load_video_models(const std::string& model_dir, at::Device device, StagesOnHost on_host) {
  namespace fs = std::filesystem;
  const std::string ltx = (fs::path(model_dir) / "ltx.safetensors").string();
  const std::string st2 = (fs::path(model_dir) / "stage2.safetensors").string();
  const std::string vae = (fs::path(model_dir) / "vae_decoder.safetensors").string();
  VideoModels m;
  json::Value ltx_cfg;
  m.stage1 = load_stage(ltx, on_host.stage1 ? at::Device(at::kCPU) : device, &ltx_cfg);
  m.stage2 = load_stage(st2, on_host.stage2 ? at::Device(at::kCPU) : device, nullptr);
  try {
    if (const json::Value* s = ltx_cfg.find("sampler"))
      m.sampler = video::sampler_config_from_json(*s, ltx + " config.sampler");
  } catch (const std::invalid_argument& e) {
    throw CheckpointError(e.what());
  }

  auto vfile = io::SafetensorsFile::open(vae);
  try {
    m.decoder_config = video::decoder_config_from_json(section(config_of(*vfile), "vae", vae),
                                                       vae + " config.vae");
  } catch (const std::invalid_argument& e) {
    throw CheckpointError(e.what());
  }
  video::load_slots(video::decoder_slots(m.decoder, m.decoder_config), fetch_from(*vfile, on_host.decoder ? at::Device(at::kCPU) : device));

  const auto& c1 = m.stage1.config;
  const auto& c2 = m.stage2.config;
  if (c1.in_channels != m.decoder_config.latent_channels || c2.in_channels != c1.in_channels)
    throw CheckpointError(model_dir + ": latent channels differ: stage 1 " + std::to_string(c1.in_channels) +
                          ", stage 2 " + std::to_string(c2.in_channels) + ", decoder " +
                          std::to_string(m.decoder_config.latent_channels));
  if (c1.cross_attention_dim != c2.cross_attention_dim)
    throw CheckpointError(model_dir + ": stage 1 and stage 2 cross_attention_dim differ");
  m.latent_format = {c1.in_channels, m.decoder_config.temporal_scale(), m.decoder_config.spatial_scale()};

  m.stage1_bytes = video::slot_bytes(video::transformer_slots(m.stage1.weights, c1, kTransformerPrefix));
  m.stage2_bytes = video::slot_bytes(video::transformer_slots(m.stage2.weights, c2, kTransformerPrefix));
  m.decoder_bytes = video::slot_bytes(video::decoder_slots(m.decoder, m.decoder_config));
  return m;
}

}  // namespace ff::engine
