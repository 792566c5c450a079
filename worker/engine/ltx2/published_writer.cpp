#include "worker/engine/ltx2/published_writer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include "worker/engine/io/checkpoint_error.hpp"
#include "worker/engine/io/safetensors_writer.hpp"
#include "worker/engine/layers/weight_spec.hpp"
#include "worker/engine/ltx2/audio_decoder.hpp"
#include "worker/engine/ltx2/av_transformer_weights.hpp"
#include "worker/engine/ltx2/upsampler.hpp"
#include "worker/engine/ltx2/video_decoder_weights.hpp"
#include "worker/engine/ltx2/vocoder.hpp"
#include "worker/engine/text/embeddings_processor.hpp"
#include "worker/engine/text/gemma_weights.hpp"
#include "worker/engine/text/random_weights.hpp"

namespace ff::ltx2 {
namespace {

namespace fs = std::filesystem;

// Weights of fan-in f: normal(0, 1/sqrt(f)); 1-D tensors (biases): zero.
layers::WeightInit fan_in_init(const std::vector<int64_t>& shape) {
  if (shape.size() < 2) return layers::WeightInit::constant(0.0);
  int64_t fan_in = 1;
  for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
  return layers::WeightInit::normal(1.0 / std::sqrt(static_cast<double>(fan_in)));
}

void add_slots(PlannedFile& f, const std::vector<layers::WeightSlot>& slots) {
  for (const auto& s : slots) f.tensors.push_back({s.name, s.shape, published_dtype(s.name), s.init});
}

void add_shapes(PlannedFile& f, const std::vector<NamedShape>& shapes) {
  for (const auto& s : shapes) f.tensors.push_back({s.name, s.shape, published_dtype(s.name), fan_in_init(s.shape)});
}

PlannedFile checkpoint_file(const PublishedPreset& p, const LtxModelConfig& c, const std::string& name, uint64_t salt) {
  PlannedFile f;
  f.path = name;
  f.seed_salt = salt;
  f.metadata = {{"config", p.config.dump()}, {"model_version", p.model_version}};
  {
    AVTransformerWeights w;
    add_slots(f, av_transformer_slots(w, c.transformer, "model.diffusion_model."));
  }
  for (auto& [n, shape] : text::embeddings_processor_tensor_shapes(processor_config(c, p.gemma, name)))
    f.tensors.push_back({n, shape, published_dtype(n), {}, ValueRule::kTextSide, false});
  {
    VideoDecoderWeights w;
    add_slots(f, video_decoder_slots(w, c.video_decoder));
  }
  add_shapes(f, video_encoder_inventory(c.video_encoder));
  {
    AudioDecoderWeights w;
    add_slots(f, audio_decoder_slots(w, c.audio_decoder));
  }
  add_shapes(f, audio_encoder_inventory(c.audio_encoder));
  {
    VocoderWeights w;
    add_slots(f, vocoder_slots(w, c.vocoder));
  }
  return f;
}

// The 28 Linear weights of every block (the attentions' to_q/k/v/to_out.0, ff, audio_ff).
PlannedFile lora_file(const PlannedFile& ckpt, int64_t rank) {
  static const char* kSuffixes[] = {".to_q.weight", ".to_k.weight", ".to_v.weight", ".to_out.0.weight",
                                    "ff.net.0.proj.weight", "ff.net.2.weight"};
  PlannedFile f;
  f.path = kDistilledLoraName;
  f.seed_salt = 4;
  const std::string prefix = "model.diffusion_model.";
  for (const auto& t : ckpt.tensors) {
    if (t.name.rfind(prefix + "transformer_blocks.", 0) != 0 || t.shape.size() != 2) continue;
    bool hit = false;
    for (const char* s : kSuffixes) hit = hit || t.name.ends_with(s);
    if (!hit) continue;
    const std::string path = "diffusion_model." + t.name.substr(prefix.size(), t.name.size() - prefix.size() - 7);
    const double a_std = 1.0 / std::sqrt(static_cast<double>(t.shape[1]));
    const double b_std = 0.1 / std::sqrt(static_cast<double>(rank));
    f.tensors.push_back({path + ".lora_A.weight", {rank, t.shape[1]}, at::kBFloat16, layers::WeightInit::normal(a_std)});
    f.tensors.push_back({path + ".lora_B.weight", {t.shape[0], rank}, at::kBFloat16, layers::WeightInit::normal(b_std)});
  }
  return f;
}

int64_t as_i(const json::Json& o, const char* k) { return json::Fields(o, "vision_config").required<int64_t>(k); }

// SigLIP tower + projector names as the published Gemma-3 folder stores them.
std::vector<NamedShape> vision_tensors(const PublishedPreset& p) {
  const json::Json& v = p.vision_config;
  const int64_t h = as_i(v, "hidden_size"), inter = as_i(v, "intermediate_size"), layers = as_i(v, "num_hidden_layers");
  const int64_t patch = as_i(v, "patch_size"), side = as_i(v, "image_size") / patch;
  const std::string e = "vision_tower.vision_model.";
  std::vector<NamedShape> out{{e + "embeddings.patch_embedding.weight", {h, 3, patch, patch}},
                              {e + "embeddings.patch_embedding.bias", {h}},
                              {e + "embeddings.position_embedding.weight", {side * side, h}}};
  for (int64_t i = 0; i < layers; ++i) {
    const std::string l = e + "encoder.layers." + std::to_string(i) + ".";
    for (const char* n : {"layer_norm1", "layer_norm2"}) {
      out.push_back({l + n + ".weight", {h}});
      out.push_back({l + n + ".bias", {h}});
    }
    for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      out.push_back({l + "self_attn." + n + ".weight", {h, h}});
      out.push_back({l + "self_attn." + n + ".bias", {h}});
    }
    out.push_back({l + "mlp.fc1.weight", {inter, h}});
    out.push_back({l + "mlp.fc1.bias", {inter}});
    out.push_back({l + "mlp.fc2.weight", {h, inter}});
    out.push_back({l + "mlp.fc2.bias", {h}});
  }
  out.push_back({e + "post_layernorm.weight", {h}});
  out.push_back({e + "post_layernorm.bias", {h}});
  out.push_back({"multi_modal_projector.mm_input_projection_weight", {h, p.gemma.hidden_size}});
  out.push_back({"multi_modal_projector.mm_soft_emb_norm.weight", {h}});
  return out;
}

// Gemma shards: groups (embedding, each layer, final norm, vision tower) split greedily by bytes.
void gemma_files(const PublishedPreset& p, PublishedLayout& l) {
  const io::GemmaConfig& g = p.gemma;
  const ComponentInventory lm = text_encoder_inventory(g, "language_model.model.");
  std::vector<std::vector<PlannedTensor>> groups(1);
  for (const auto& t : lm.tensors) {
    const bool starts_layer = t.name.find(".layers.") != std::string::npos && t.name.ends_with("input_layernorm.weight");
    if (starts_layer || t.name == "language_model.model.norm.weight") groups.emplace_back();
    groups.back().push_back({t.name, t.shape, at::kBFloat16, {}, ValueRule::kTextSide, true});
  }
  groups.emplace_back();
  for (const auto& t : vision_tensors(p))
    groups.back().push_back({t.name, t.shape, at::kBFloat16, layers::WeightInit::normal(0.02)});
  auto bytes = [](const std::vector<PlannedTensor>& grp) {
    uint64_t n = 0;
    for (const auto& t : grp) n += io::TensorSpec{t.name, t.dtype, t.shape}.bytes();
    return n;
  };
  uint64_t total = 0;
  for (const auto& grp : groups) total += bytes(grp);
  const size_t shards = static_cast<size_t>(std::min<int64_t>(p.gemma_shards, static_cast<int64_t>(groups.size())));
  std::vector<PlannedFile> files(shards);
  size_t k = 0;
  uint64_t done = 0;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    if (!files[k].tensors.empty() && k + 1 < shards &&
        (done >= total * (k + 1) / shards || groups.size() - gi < shards - k + 1))
      ++k;
    for (auto& t : groups[gi]) files[k].tensors.push_back(t);
    done += bytes(groups[gi]);
  }
  json::Json weight_map = json::Json::object();
  for (size_t s = 0; s < shards; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards);
    files[s].path = l.gemma_dir + "/" + name;
    files[s].metadata = {{"format", "pt"}};
    files[s].seed_salt = 5;
    for (const auto& t : files[s].tensors) weight_map[t.name] = name;
    l.files.push_back(std::move(files[s]));
  }
  const json::Json index{{"metadata", {{"total_size", total}}}, {"weight_map", std::move(weight_map)}};
  l.gemma_index_json = index.dump(2) + "\n";
  const json::Json config{{"architectures", json::Json::array({"Gemma3ForConditionalGeneration"})},
                      {"model_type", "gemma3"},
                      {"text_config", io::gemma_config_to_json_v4(g)},
                      {"vision_config", p.vision_config},
                      {"mm_tokens_per_image", p.mm_tokens_per_image},
                      {"boi_token_index", 255999},
                      {"eoi_token_index", 256000},
                      {"image_token_index", 262144},
                      {"initializer_range", 0.02},
                      {"torch_dtype", "bfloat16"}};
  l.gemma_config_json = config.dump(2) + "\n";
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw io::CheckpointError(p.string() + ": cannot write");
}

// Fills and streams one planned file. Transformer blocks past `distinct` reuse the values of
// block (i % distinct) (cached while the file is written).
void write_file(const PlannedFile& f, uint64_t seed, const std::string& dir, int64_t distinct) {
  static const std::regex block(R"(transformer_blocks\.(\d+)\.)");
  std::vector<io::TensorSpec> specs;
  for (const auto& t : f.tensors) specs.push_back({t.name, t.dtype, t.shape});
  const fs::path path = fs::path(dir) / f.path;
  fs::create_directories(path.parent_path());
  io::SafetensorsWriter w(path.string(), specs, f.metadata);
  std::map<std::string, at::Tensor> cache;
  const uint64_t file_seed = seed * 1000003u + f.seed_salt;
  for (const auto& t : f.tensors) {
    std::string key = t.name;
    std::smatch m;
    bool cacheable = false;
    if (distinct < (int64_t{1} << 30) && std::regex_search(t.name, m, block)) {
      const int64_t i = std::stoll(m[1].str());
      key = std::string(m.prefix()) + "transformer_blocks." + std::to_string(i % distinct) + "." + std::string(m.suffix());
      cacheable = true;
      if (auto it = cache.find(key); it != cache.end()) {
        w.write(it->second);
        continue;
      }
    }
    at::Tensor v;
    if (t.rule == ValueRule::kTextSide) {
      v = text::random_tensor(key, t.shape, file_seed, t.dtype, t.gemma_norm_form);
    } else {
      at::Generator gen = layers::tensor_generator(file_seed, key);
      layers::WeightSlot s{key, t.shape, t.init, nullptr};
      v = layers::random_tensor(s, gen).to(t.dtype);
    }
    if (cacheable) cache[key] = v;
    w.write(v);
  }
  w.finish();
}

}  // namespace

at::ScalarType published_dtype(const std::string& name) {
  return name.find("scale_shift_table") != std::string::npos ? at::kFloat : at::kBFloat16;
}

PublishedLayout published_layout(const PublishedPreset& p, const std::string& dir) {
  PublishedLayout l;
  l.gemma_dir = kTextEncoderName;
  const std::map<std::string, std::string> md{{"config", p.config.dump()}, {"model_version", p.model_version}};
  const LtxModelConfig c = ltx_model_config_from_metadata(md, "preset " + p.name);
  l.files.push_back(checkpoint_file(p, c, kDevCheckpointName, 1));
  if (p.write_distilled) l.files.push_back(checkpoint_file(p, c, kDistilledCheckpointName, 2));
  {
    PlannedFile f;
    f.path = kUpsamplerName;
    f.seed_salt = 3;
    f.metadata = {{"config", p.upsampler_config.dump()}};
    UpsamplerWeights w;
    add_slots(f, upsampler_slots(w, upsampler_config_from_json(p.upsampler_config, "preset " + p.name + " upsampler")));
    l.files.push_back(std::move(f));
  }
  l.files.push_back(lora_file(l.files.front(), p.lora_rank));
  gemma_files(p, l);
  const fs::path root = fs::absolute(dir).lexically_normal();
  l.model.checkpoint = (root / kDevCheckpointName).string();
  l.model.text_encoder = (root / l.gemma_dir).string();
  l.model.spatial_upsampler = (root / kUpsamplerName).string();
  l.model.distilled_lora = (root / kDistilledLoraName).string();
  l.model.lora_strength = 1.0;
  l.model.pipeline = PipelineKind::kTwoStages;
  return l;
}

void write_published_json(const PublishedLayout& layout, const std::string& dir) {
  const fs::path root(dir);
  fs::create_directories(root / layout.gemma_dir);
  write_text(root / layout.gemma_dir / "config.json", layout.gemma_config_json);
  write_text(root / layout.gemma_dir / "model.safetensors.index.json", layout.gemma_index_json);
  write_text(root / "model.json", model_files_to_json(layout.model).dump(2) + "\n");
}

void write_published_model(const PublishedPreset& p, uint64_t seed, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw io::CheckpointError(dir + ": cannot create: " + ec.message());
  const PublishedLayout l = published_layout(p, dir);
  for (const auto& f : l.files) {
    const bool transformer_file = f.path == kDevCheckpointName || f.path == kDistilledCheckpointName;
    write_file(f, seed, dir, transformer_file ? p.distinct_blocks : int64_t{1} << 30);
  }
  write_published_json(l, dir);
}

}  // namespace ff::ltx2
