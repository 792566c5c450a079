// check_model_files: the header-only check of every file named by ModelFiles (model_files.hpp).
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include "worker/engine/io/checkpoint_error.hpp"
#include "worker/engine/ltx2/ltx2_json.hpp"
#include "worker/engine/ltx2/model_files.hpp"
#include "worker/engine/ltx2/upsampler.hpp"
#include "worker/engine/text/gemma_weights.hpp"

namespace ff::ltx2 {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxListed = 12;

void require_file(const std::string& path, const std::string& key) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw io::CheckpointError(path + ": no such file (model key '" + key + "')");
}

// The pipeline's needs, before any file is opened.
void check_pipeline_needs(const ModelFiles& f, std::vector<std::string>& warnings) {
  const std::string p = pipeline_name(f.pipeline);
  if (f.spatial_upsampler.empty())
    throw std::invalid_argument("model: key 'spatial_upsampler': required by pipeline " + p +
                                " (stage 2 runs on the x2-upsampled stage-1 latent)");
  if (f.pipeline == PipelineKind::kTwoStages && f.distilled_lora.empty())
    throw std::invalid_argument("model: key 'distilled_lora': required by pipeline two_stages (stage 2 runs the "
                                "dev weights with the distilled LoRA)");
  if (f.pipeline == PipelineKind::kDistilled && !f.distilled_lora.empty())
    warnings.push_back("distilled_lora is not used by pipeline distilled (the distilled checkpoint needs no LoRA)");
  // Dev and distilled checkpoints carry the same config and model_version; only the file name
  // tells them apart (ltx-pipelines does not check either).
  const std::string name = fs::path(f.checkpoint).filename().string();
  if (f.pipeline == PipelineKind::kDistilled && name.find("distilled") == std::string::npos)
    warnings.push_back("pipeline distilled with checkpoint '" + name +
                       "': the distilled pipeline expects the distilled checkpoint (" + kDistilledCheckpointName +
                       "); dev and distilled files cannot be told apart by their metadata");
  if (f.pipeline == PipelineKind::kTwoStages && name.find("distilled") != std::string::npos)
    warnings.push_back("pipeline two_stages with checkpoint '" + name + "': two_stages expects the dev checkpoint (" +
                       kDevCheckpointName + ") plus the distilled LoRA");
}

// The LoRA: every tensor is diffusion_model.<path>.lora_{A,B}.weight, in pairs, A [r, in] and
// B [out, r] for a 2-D model.diffusion_model.<path>.weight [out, in] of the checkpoint.
FileSummary check_lora(const io::Checkpoint& ck, const std::vector<ComponentInventory>& inv,
                       std::vector<int64_t>& ranks, std::vector<std::string>& warnings) {
  std::map<std::string, const std::vector<int64_t>*> transformer, other;
  for (const auto& c : inv)
    for (const auto& t : c.tensors)
      if (t.shape.size() == 2 && t.name.ends_with(".weight"))
        (c.component == "transformer" ? transformer : other)[t.name] = &t.shape;

  std::vector<std::string> problems;
  size_t count = 0;
  auto problem = [&](const std::string& p) {
    if (problems.size() < kMaxListed) problems.push_back(p);
    ++count;
  };
  struct Pair {
    const io::TensorInfo* a = nullptr;
    const io::TensorInfo* b = nullptr;
  };
  std::map<std::string, Pair> pairs;  // <path> -> factors
  FileSummary sum{ck.source(), 0, {{"distilled_lora", 0, 0, 0, true}}};
  for (const auto& f : ck.files()) sum.file_bytes += static_cast<int64_t>(f->file_size());
  const std::string prefix = "diffusion_model.";
  for (const std::string& name : ck.names()) {
    const io::TensorInfo& ti = ck.info(name);
    const bool is_a = name.ends_with(".lora_A.weight"), is_b = name.ends_with(".lora_B.weight");
    if (name.rfind(prefix, 0) != 0 || !(is_a || is_b)) {
      problem(ck.file_of(name) + ": unexpected tensor '" + name + "' (expected diffusion_model.<path>.lora_{A,B}.weight)");
      continue;
    }
    if (!is_float_dtype(ti.dtype)) {
      problem(ck.file_of(name) + ": tensor '" + name + "' has dtype " + ti.dtype + ", expected a floating dtype");
      continue;
    }
    const std::string path = name.substr(prefix.size(), name.size() - prefix.size() - 14);
    (is_a ? pairs[path].a : pairs[path].b) = &ti;
    ComponentSummary& cs = sum.components[0];
    ++cs.tensors;
    cs.params += ti.numel();
    cs.bytes += static_cast<int64_t>(ti.end - ti.begin);
  }
  std::set<int64_t> rank_set;
  size_t outside = 0;
  for (const auto& [path, p] : pairs) {
    const std::string where = ck.source() + ": LoRA for '" + path + "'";
    if (!p.a || !p.b) {
      problem(where + ": missing tensor 'diffusion_model." + path + (p.a ? ".lora_B" : ".lora_A") + ".weight'");
      continue;
    }
    const std::string target = "model.diffusion_model." + path + ".weight";
    auto it = transformer.find(target);
    if (it == transformer.end()) {
      if (other.count(target)) {
        ++outside;
        continue;
      }
      problem(where + ": no 2-D checkpoint tensor '" + target + "' to apply it to");
      continue;
    }
    const std::vector<int64_t>& w = *it->second;
    const auto& a = p.a->shape;
    const auto& b = p.b->shape;
    if (a.size() != 2 || b.size() != 2 || a[1] != w[1] || b[0] != w[0] || a[0] != b[1]) {
      problem(where + ": lora_A " + io::shape_string(a) + " and lora_B " + io::shape_string(b) +
              " do not factor the weight " + io::shape_string(w) + " (expected A [r, " + std::to_string(w[1]) +
              "], B [" + std::to_string(w[0]) + ", r])");
      continue;
    }
    rank_set.insert(a[0]);
  }
  if (count) {
    std::string msg = problems.front();
    for (size_t i = 1; i < problems.size(); ++i) msg += "\n  " + problems[i];
    if (count > problems.size()) msg += "\n  ... and " + std::to_string(count - problems.size()) + " more problems";
    throw io::CheckpointError(msg);
  }
  if (pairs.empty()) throw io::CheckpointError(ck.source() + ": the LoRA file holds no lora_A/lora_B pairs");
  if (outside)
    warnings.push_back(std::to_string(outside) + " LoRA pairs target the embeddings connectors, outside the "
                       "transformer; ltx-core fuses LoRAs into the transformer only, so they are not applied");
  ranks.assign(rank_set.begin(), rank_set.end());
  return sum;
}

}  // namespace

ModelFilesReport check_model_files(const ModelFiles& files) {
  ModelFilesReport r;
  r.files = files;
  check_pipeline_needs(files, r.warnings);

  // The text encoder's config first: it sizes the text projection inside the checkpoint.
  std::error_code ec;
  if (!fs::is_directory(files.text_encoder, ec))
    throw io::CheckpointError(files.text_encoder + ": not a directory (model key 'text_encoder', the HF Gemma-3 folder)");
  const io::GemmaConfig gemma = io::load_gemma_config(files.text_encoder);
  if (gemma.model_type != "gemma3")
    throw io::CheckpointError((fs::path(files.text_encoder) / "config.json").string() + ": key 'model_type': '" +
                              gemma.model_type + "' but LTX-2.3 expects Gemma3ForConditionalGeneration ('gemma3')");

  require_file(files.checkpoint, "checkpoint");
  const io::Checkpoint ck = io::Checkpoint::open(files.checkpoint);
  const LtxModelConfig cfg = ltx_model_config_from_metadata(ck.metadata(), files.checkpoint);
  r.model_version = cfg.model_version;
  const std::vector<ComponentInventory> inv = checkpoint_inventory(cfg, gemma, files.checkpoint);
  r.files_checked.push_back(check_inventory(ck, inv));

  const io::Checkpoint te = io::Checkpoint::open(files.text_encoder);
  r.files_checked.push_back(
      check_inventory(te, {text_encoder_inventory(gemma, text::gemma_weight_prefix(te))}, text_encoder_ignored_prefixes()));
  r.tokenizer = (fs::path(files.text_encoder) / "tokenizer.model").string();
  if (!fs::is_regular_file(r.tokenizer, ec))
    throw io::CheckpointError(r.tokenizer + ": missing (the supervisor tokenizes prompts with it)");
  r.tokenizer_bytes = static_cast<int64_t>(fs::file_size(r.tokenizer, ec));
  if (ec || r.tokenizer_bytes == 0) throw io::CheckpointError(r.tokenizer + ": empty or unreadable");

  if (!files.spatial_upsampler.empty()) {
    require_file(files.spatial_upsampler, "spatial_upsampler");
    const io::Checkpoint up = io::Checkpoint::open(files.spatial_upsampler);
    const UpsamplerConfig uc = upsampler_config_from_json(config_from_metadata(up.metadata(), files.spatial_upsampler),
                                                          files.spatial_upsampler + ": config");
    if (uc.in_channels != cfg.video_decoder.latent_channels)
      throw std::invalid_argument(files.spatial_upsampler + ": config: key 'in_channels': " +
                                  std::to_string(uc.in_channels) + " != the checkpoint's latent channels " +
                                  std::to_string(cfg.video_decoder.latent_channels));
    UpsamplerWeights w;
    r.files_checked.push_back(check_inventory(up, {{"spatial_upsampler", shapes_of(upsampler_slots(w, uc)), true}}));
  }
  if (!files.distilled_lora.empty()) {
    require_file(files.distilled_lora, "distilled_lora");
    const io::Checkpoint lora = io::Checkpoint::open(files.distilled_lora);
    r.files_checked.push_back(check_lora(lora, inv, r.lora_ranks, r.warnings));
  }
  return r;
}

}  // namespace ff::ltx2
