#include "worker/engine/text/random_weights.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "worker/engine/io/checkpoint_error.hpp"
#include "worker/engine/io/safetensors_writer.hpp"
#include "worker/engine/layers/weight_spec.hpp"
#include "worker/engine/text/embeddings_processor.hpp"
#include "worker/engine/text/gemma_weights.hpp"

namespace ff::text {

namespace fs = std::filesystem;

namespace {

json::Json processor_keys(int64_t heads, int64_t head_dim, int64_t audio_heads, int64_t audio_head_dim,
                          int64_t connector_layers) {
  return json::Json{
      {"num_attention_heads", heads},
      {"attention_head_dim", head_dim},
      {"audio_num_attention_heads", audio_heads},
      {"audio_attention_head_dim", audio_head_dim},
      {"caption_proj_before_connector", true},
      {"caption_projection_first_linear", false},
      {"caption_proj_input_norm", false},
      {"caption_projection_second_linear", false},
      {"connector_num_attention_heads", heads},
      {"connector_attention_head_dim", head_dim},
      {"connector_num_layers", connector_layers},
      {"audio_connector_num_attention_heads", audio_heads},
      {"audio_connector_attention_head_dim", audio_head_dim},
      {"audio_connector_num_layers", connector_layers},
      {"connector_apply_gated_attention", true},
      {"connector_positional_embedding_max_pos", json::Json::array({4096})},
      {"rope_type", "split"},
      {"frequencies_precision", "float64"},
  };
}

void write_text_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw io::CheckpointError(p.string() + ": cannot write");
}

}  // namespace

TextPreset text_preset(const std::string& name) {
  TextPreset p;
  p.name = name;
  io::GemmaConfig& g = p.gemma;
  g.model_type = "gemma3";
  if (name == "tiny") {
    g.vocab_size = 512;
    g.hidden_size = 64;
    g.intermediate_size = 128;
    g.num_hidden_layers = 6;
    g.num_attention_heads = 4;
    g.num_key_value_heads = 2;
    g.head_dim = 16;
    g.query_pre_attn_scalar = 16;
    g.sliding_window = 16;
    g.torch_dtype = "float32";
    p.transformer_keys = processor_keys(2, 16, 2, 8, 2);
    p.dtype = at::kFloat;
    p.shards = 2;
  } else if (name == "gemma3-12b") {
    g.vocab_size = 262208;
    g.hidden_size = 3840;
    g.intermediate_size = 15360;
    g.num_hidden_layers = 48;
    g.num_attention_heads = 16;
    g.num_key_value_heads = 8;
    g.head_dim = 256;
    g.query_pre_attn_scalar = 256;
    g.sliding_window = 1024;
    g.torch_dtype = "bfloat16";
    p.transformer_keys = processor_keys(32, 128, 32, 64, 8);
    p.dtype = at::kBFloat16;
    p.shards = 5;
  } else {
    throw std::invalid_argument("unknown text preset '" + name + "' (known: tiny, gemma3-12b)");
  }
  g.rope_global = {1e6, 8.0};
  g.rope_local = {1e4, 1.0};
  g.layer_is_sliding.clear();
  for (int64_t i = 0; i < g.num_hidden_layers; ++i) g.layer_is_sliding.push_back((i + 1) % 6 != 0);
  g.validate("text preset " + name);
  return p;
}

at::Tensor random_tensor(const std::string& name, at::IntArrayRef shape, uint64_t seed, at::ScalarType dtype,
                         bool gemma_norm_form) {
  at::Generator gen = layers::tensor_generator(seed, name);
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor t;
  if (name.find("embed_tokens") != std::string::npos) {
    t = at::normal(0.0, 1.0 / std::sqrt(static_cast<double>(shape.back())), shape, gen, f32);
  } else if (name.ends_with("learnable_registers")) {
    t = at::rand(shape, gen, f32) * 2 - 1;
  } else if (name.ends_with(".bias")) {
    t = at::normal(0.0, 0.02, shape, gen, f32);
  } else if (shape.size() == 1) {  // norm weights
    t = gemma_norm_form ? at::normal(0.0, 0.1, shape, gen, f32) : at::normal(1.0, 0.1, shape, gen, f32);
  } else {
    t = at::normal(0.0, 1.0 / std::sqrt(static_cast<double>(shape.back())), shape, gen, f32);
  }
  return t.to(dtype);
}

void write_random_text_encoder(const std::string& dir, const io::GemmaConfig& c, uint64_t seed,
                               at::ScalarType dtype, int64_t num_shards) {
  if (num_shards < 2) throw std::invalid_argument("write_random_text_encoder: num_shards must be >= 2");
  const fs::path root(dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw io::CheckpointError(dir + ": cannot create directory: " + ec.message());

  // Groups that must stay in one shard: the embedding, each layer, the final norm.
  const std::string prefix = "language_model.model.";
  using Entry = std::pair<std::string, std::vector<int64_t>>;
  std::vector<std::vector<Entry>> groups;
  groups.push_back({{prefix + "embed_tokens.weight", {c.vocab_size, c.hidden_size}}});
  const auto layer = gemma_layer_shapes(c);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    std::vector<Entry> g;
    for (const auto& [suffix, shape] : layer) g.push_back({prefix + "layers." + std::to_string(i) + "." + suffix, shape});
    groups.push_back(std::move(g));
  }
  groups.push_back({{prefix + "norm.weight", {c.hidden_size}}});
  auto bytes_of = [&](const std::vector<Entry>& g) {
    uint64_t n = 0;
    for (const auto& [_, shape] : g) n += io::TensorSpec{"", dtype, shape}.bytes();
    return n;
  };
  uint64_t total = 0;
  for (const auto& g : groups) total += bytes_of(g);
  num_shards = std::min<int64_t>(num_shards, static_cast<int64_t>(groups.size()));

  // Greedy split by bytes: shard k closes once it reaches its share of the total, leaving at
  // least one group for each remaining shard.
  std::vector<std::vector<Entry>> shards(static_cast<size_t>(num_shards));
  size_t k = 0;
  uint64_t done = 0;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const size_t groups_left = groups.size() - gi;
    const size_t shards_left = shards.size() - k;
    if (!shards[k].empty() && k + 1 < shards.size() &&
        (done >= total * (k + 1) / shards.size() || groups_left < shards_left + 1))
      ++k;
    for (auto& e : groups[gi]) shards[k].push_back(e);
    done += bytes_of(groups[gi]);
  }

  json::Json weight_map = json::Json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    std::vector<io::TensorSpec> specs;
    for (const auto& [n, shape] : shards[s]) {
      specs.push_back({n, dtype, shape});
      weight_map[n] = name;
    }
    io::SafetensorsWriter w((root / name).string(), specs, {{"format", "pt"}});
    for (const auto& [n, shape] : shards[s]) w.write(random_tensor(n, shape, seed, dtype, /*gemma_norm_form=*/true));
    w.finish();
  }
  const json::Json index{{"metadata", {{"total_size", total}}}, {"weight_map", std::move(weight_map)}};
  write_text_file(root / "model.safetensors.index.json", index.dump(2) + "\n");

  const json::Json config{{"architectures", json::Json::array({"Gemma3ForConditionalGeneration"})},
                          {"model_type", "gemma3"},
                          {"text_config", io::gemma_config_to_json_v4(c)},
                          {"torch_dtype", dtype == at::kBFloat16 ? "bfloat16" : dtype == at::kHalf ? "float16" : "float32"},
                          {"framefarm_random_seed", seed}};
  write_text_file(root / "config.json", config.dump(2) + "\n");
}

std::vector<std::pair<std::string, at::Tensor>> random_embeddings_processor(const EmbeddingsProcessorConfig& c,
                                                                            uint64_t seed, at::ScalarType dtype) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [name, shape] : embeddings_processor_tensor_shapes(c))
    out.emplace_back(name, random_tensor(name, shape, seed, dtype, /*gemma_norm_form=*/false));
  return out;
}

RandomTextSide write_random_text_side(const std::string& preset, uint64_t seed, const std::string& model_dir) {
  const TextPreset p = text_preset(preset);
  write_random_text_encoder((fs::path(model_dir) / "text_encoder").string(), p.gemma, seed, p.dtype, p.shards);
  const json::Json ltx_config{{"transformer", p.transformer_keys}};
  const EmbeddingsProcessorConfig pc =
      parse_embeddings_processor_config(ltx_config, p.gemma, "text preset " + preset);
  RandomTextSide out;
  out.processor_tensors = random_embeddings_processor(pc, seed ^ 0x5bd1e995ull, p.dtype);
  out.transformer_keys = p.transformer_keys;
  out.video_dim = pc.video_dim;
  out.audio_dim = pc.audio_dim;
  return out;
}

}  // namespace ff::text
