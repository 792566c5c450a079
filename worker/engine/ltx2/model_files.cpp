#include "worker/engine/ltx2/model_files.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "worker/engine/ltx2/audio_decoder.hpp"
#include "worker/engine/ltx2/av_transformer_weights.hpp"
#include "worker/engine/ltx2/video_decoder_weights.hpp"
#include "worker/engine/ltx2/vocoder.hpp"
#include "worker/engine/text/embeddings_processor.hpp"
#include "worker/engine/text/gemma_weights.hpp"

namespace ff::ltx2 {
namespace {

// Errors read "<what>.<key>: <problem>" like json::Fields' own.
[[noreturn]] void fail(const std::string& what, const std::string& key, const std::string& why) {
  json::fail(json::join(what, key), why);
}

std::string path_of(const json::Json& v, const std::string& what, const std::string& key, const std::string& base) {
  const std::string s = json::decode<std::string>(v, json::join(what, key));
  if (s.empty()) fail(what, key, "must not be empty");
  std::filesystem::path p(s);
  if (p.is_relative() && !base.empty()) p = std::filesystem::path(base) / p;
  return p.lexically_normal().string();
}

std::string with_commas(int64_t n) {
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out = n < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// "12.34 GiB", "3.10 MiB", "512 B".
std::string human_bytes(int64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  else std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[u]);
  return buf;
}

}  // namespace

const char* pipeline_name(PipelineKind p) { return p == PipelineKind::kDistilled ? "distilled" : "two_stages"; }

ModelFiles model_files_from_json(const json::Json& v, const std::string& what, const std::string& base_dir) {
  json::Fields(v, what).allow_only({"checkpoint", "text_encoder", "spatial_upsampler", "distilled_lora",
                                   "distilled_lora_strength", "pipeline"});
  ModelFiles f;
  for (const auto& [key, val] : v.items()) {
    if (key == "checkpoint") f.checkpoint = path_of(val, what, key, base_dir);
    else if (key == "text_encoder") f.text_encoder = path_of(val, what, key, base_dir);
    else if (key == "spatial_upsampler") f.spatial_upsampler = path_of(val, what, key, base_dir);
    else if (key == "distilled_lora") f.distilled_lora = path_of(val, what, key, base_dir);
    else if (key == "distilled_lora_strength") {
      f.lora_strength = json::decode<double>(val, json::join(what, key));
      if (!std::isfinite(f.lora_strength) || f.lora_strength < 0) fail(what, key, "must be a finite number >= 0");
    } else if (key == "pipeline") {
      const std::string name = json::decode<std::string>(val, json::join(what, key));
      if (name == "two_stages") f.pipeline = PipelineKind::kTwoStages;
      else if (name == "distilled") f.pipeline = PipelineKind::kDistilled;
      else fail(what, key, "unknown pipeline '" + name + "' (known: two_stages, distilled)");
    }
  }
  if (f.checkpoint.empty()) fail(what, "checkpoint", "required");
  if (f.text_encoder.empty()) fail(what, "text_encoder", "required");
  return f;
}

json::Json model_files_to_json(const ModelFiles& f) {
  json::Json o{{"checkpoint", f.checkpoint}, {"text_encoder", f.text_encoder}};
  if (!f.spatial_upsampler.empty()) o["spatial_upsampler"] = f.spatial_upsampler;
  if (!f.distilled_lora.empty()) o["distilled_lora"] = f.distilled_lora;
  o["distilled_lora_strength"] = f.lora_strength;
  o["pipeline"] = pipeline_name(f.pipeline);
  return o;
}

std::vector<ComponentInventory> checkpoint_inventory(const LtxModelConfig& c, const io::GemmaConfig& gemma,
                                                     const std::string& file) {
  std::vector<ComponentInventory> out;
  {
    AVTransformerWeights w;
    out.push_back({"transformer", shapes_of(av_transformer_slots(w, c.transformer, "model.diffusion_model.")), true});
  }
  {
    ComponentInventory p{"embeddings_processor", {}, true};
    for (auto& [name, shape] : text::embeddings_processor_tensor_shapes(processor_config(c, gemma, file)))
      p.tensors.push_back({name, shape});
    out.push_back(std::move(p));
  }
  {
    VideoDecoderWeights w;
    out.push_back({"video_decoder", shapes_of(video_decoder_slots(w, c.video_decoder)), true});
  }
  out.push_back({"video_encoder", video_encoder_inventory(c.video_encoder), false});
  {
    AudioDecoderWeights w;
    out.push_back({"audio_decoder", shapes_of(audio_decoder_slots(w, c.audio_decoder)), true});
  }
  out.push_back({"audio_encoder", audio_encoder_inventory(c.audio_encoder), false});
  {
    VocoderWeights w;
    out.push_back({"vocoder", shapes_of(vocoder_slots(w, c.vocoder)), true});
  }
  return out;
}

ComponentInventory text_encoder_inventory(const io::GemmaConfig& g, const std::string& prefix) {
  ComponentInventory inv{"text_encoder", {}, true};
  inv.tensors.push_back({prefix + "embed_tokens.weight", {g.vocab_size, g.hidden_size}});
  const auto layer = text::gemma_layer_shapes(g);
  for (int64_t i = 0; i < g.num_hidden_layers; ++i)
    for (const auto& [suffix, shape] : layer) inv.tensors.push_back({prefix + "layers." + std::to_string(i) + "." + suffix, shape});
  inv.tensors.push_back({prefix + "norm.weight", {g.hidden_size}});
  return inv;
}

const std::vector<std::string>& text_encoder_ignored_prefixes() {
  static const std::vector<std::string> p{"vision_tower.", "multi_modal_projector.", "model.vision_tower.",
                                          "model.multi_modal_projector.", "language_model.lm_head.", "lm_head."};
  return p;
}

std::string format_report(const ModelFilesReport& r) {
  std::string s = "model files ok: LTX-2.3 (model_version " + r.model_version + "), pipeline " +
                  pipeline_name(r.files.pipeline) + "\n";
  char line[512];
  int64_t total_params = 0, total_bytes = 0, loaded_bytes = 0;
  for (const FileSummary& f : r.files_checked) {
    s += f.file + " (" + human_bytes(f.file_bytes) + ")\n";
    for (const ComponentSummary& c : f.components) {
      std::snprintf(line, sizeof line, "  %-32s %7lld tensors %18s params %12s%s\n", c.component.c_str(),
                    static_cast<long long>(c.tensors), with_commas(c.params).c_str(), human_bytes(c.bytes).c_str(),
                    c.loaded ? "" : "  (not loaded)");
      s += line;
      total_params += c.params;
      total_bytes += c.bytes;
      if (c.loaded) loaded_bytes += c.bytes;
    }
  }
  s += "total: " + with_commas(total_params) + " params, " + human_bytes(total_bytes) + " stored, " + human_bytes(loaded_bytes) +
       " loaded\n";
  if (!r.lora_ranks.empty()) {
    s += "distilled LoRA: rank";
    for (int64_t k : r.lora_ranks) s += " " + std::to_string(k);
    char st[64];
    std::snprintf(st, sizeof st, ", strength %g\n", r.files.lora_strength);
    s += st;
  }
  s += "tokenizer: " + r.tokenizer + " (" + with_commas(r.tokenizer_bytes) + " bytes; loaded by the supervisor)\n";
  for (const auto& w : r.warnings) s += "warning: " + w + "\n";
  return s;
}

}  // namespace ff::ltx2
