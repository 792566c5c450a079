#include "worker/engine/app/make_weights.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <map>
#include <regex>
#include <stdexcept>

#include "common/json.hpp"
#include "worker/engine/app/video_models.hpp"
#include "worker/engine/app/video_presets.hpp"
#include "worker/engine/io/safetensors_writer.hpp"
#include "worker/engine/text/random_weights.hpp"
#include "worker/engine/video/decoder.hpp"
#include "worker/engine/video/transformer_weights.hpp"

namespace ff::engine {
namespace {

// Random values for each slot, drawn in slot order from `gen`. Block tensors past
// `distinct_blocks` reuse block (i % distinct_blocks)'s values (see VideoPreset).
class SlotFiller {
 public:
  SlotFiller(uint64_t seed, int64_t distinct_blocks, at::ScalarType dtype)
      : gen_(at::detail::createCPUGenerator(seed)), distinct_(distinct_blocks), dtype_(dtype) {}

  at::Tensor operator()(const video::WeightSlot& s) {
    static const std::regex block(R"(transformer_blocks\.(\d+)\.)");
    std::smatch m;
    if (std::regex_search(s.name, m, block)) {
      const int64_t i = std::stoll(m[1].str());
      if (i >= distinct_) {
        const std::string key = std::string(m.prefix()) + "transformer_blocks." +
                                std::to_string(i % distinct_) + "." + std::string(m.suffix());
        return cache_.at(key);
      }
      auto t = video::random_tensor(s, gen_).to(dtype_);
      if (distinct_ < (int64_t{1} << 30)) cache_[s.name] = t;
      return t;
    }
    return video::random_tensor(s, gen_).to(dtype_);
  }

 private:
  at::Generator gen_;
  int64_t distinct_;
  at::ScalarType dtype_;
  std::map<std::string, at::Tensor> cache_;
};

// Writes `extra` tensors (already built) followed by random tensors for `slots`.
void write_file(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& extra,
                const std::vector<video::WeightSlot>& slots, SlotFiller& fill, at::ScalarType dtype,
                const json::Object& config) {
  std::vector<io::TensorSpec> specs;
  for (const auto& [name, t] : extra) specs.push_back({name, t.scalar_type(), t.sizes().vec()});
  for (const auto& s : slots) specs.push_back({s.name, dtype, s.shape});
  io::SafetensorsWriter w(path, specs, {{"config", json::dump(json::Value(config))}});
  for (const auto& [name, t] : extra) w.write(t);
  for (const auto& s : slots) w.write(fill(s));
  w.finish();
}

}  // namespace

void make_weights(const std::string& preset, int64_t seed, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("make-weights: cannot create " + dir + ": " + ec.message());
  // Validates the preset name before anything is written.
  (void)video_preset(preset, 1);

  // Text side first: the text encoder files, and the embeddings processor whose video context
  // width the stage transformers must accept.
  const text::RandomTextSide text =
      text::write_random_text_side(preset == "tiny" ? "tiny" : "gemma3-12b", static_cast<uint64_t>(seed), dir);
  VideoPreset p = video_preset(preset, text.video_dim);
  // In the LTX config the stage transformer's heads x head_dim is also the video context width
  // the embeddings processor reads: take the text side's values when it states them.
  const json::Value* heads = text.transformer_keys.find("num_attention_heads");
  const json::Value* head_dim = text.transformer_keys.find("attention_head_dim");
  if (heads && head_dim) {
    for (auto* s : {&p.stage1, &p.stage2}) {
      s->num_attention_heads = heads->as_int();
      s->attention_head_dim = head_dim->as_int();
    }
  }
  video::validate(p.stage1, "make-weights preset " + preset + " stage 1");

  // ltx.safetensors: embeddings processor + stage 1; "transformer" section shared with the text keys.
  json::Object transformer = text.transformer_keys;
  for (const auto& [k, v] : video::transformer_config_to_json(p.stage1)) transformer.set(k, v);
  {
    video::TransformerWeights w;
    SlotFiller fill(static_cast<uint64_t>(seed) * 1000003u + 1, p.distinct_blocks, p.dtype);
    write_file((fs::path(dir) / "ltx.safetensors").string(), text.processor_tensors,
               video::transformer_slots(w, p.stage1, kTransformerPrefix), fill, p.dtype,
               json::Object{{"transformer", json::Value(transformer)},
                            {"sampler", json::Value(video::sampler_config_to_json(p.sampler))}});
  }
  {
    video::TransformerWeights w;
    SlotFiller fill(static_cast<uint64_t>(seed) * 1000003u + 2, p.distinct_blocks, p.dtype);
    write_file((fs::path(dir) / "stage2.safetensors").string(), {},
               video::transformer_slots(w, p.stage2, kTransformerPrefix), fill, p.dtype,
               json::Object{{"transformer", json::Value(video::transformer_config_to_json(p.stage2))}});
  }
  {
    video::DecoderWeights w;
    SlotFiller fill(static_cast<uint64_t>(seed) * 1000003u + 3, 1 << 30, p.dtype);
    write_file((fs::path(dir) / "vae_decoder.safetensors").string(), {}, video::decoder_slots(w, p.decoder), fill,
               p.dtype, json::Object{{"vae", json::Value(video::decoder_config_to_json(p.decoder))}});
  }
}

}  // namespace ff::engine
