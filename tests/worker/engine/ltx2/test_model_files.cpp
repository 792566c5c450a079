// check_model_files on files: it accepts header-only sparse copies of the real 2.3 layout and the
// tiny preset's real files, and refuses each kind of broken file naming the file and the tensor or
// key; the model object's keys and paths. The inventory itself (against ltx-core's):
// test_model_inventory.cpp.
#include "tests/worker/engine/doctest_torch.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <unistd.h>

#include "common/json_fields.hpp"
#include "tests/worker/engine/temp_dir.hpp"
#include "tests/worker/engine/ltx2/model_files_support.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/av_transformer_weights.hpp"
#include "worker/engine/ltx2/checkpoint_inventory.hpp"
#include "worker/engine/ltx2/model_files.hpp"
#include "worker/engine/ltx2/published_writer.hpp"
#include "worker/engine/ltx2/upsampler.hpp"

namespace {

using namespace ff::ltx2;
using ff::ltx2::model_files_test::checkpoint_metadata;
using ff::ltx2::model_files_test::read_json;
namespace json = ff::json;
namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = "/tmp/ff_model_files_" + tag + "_" + std::to_string(::getpid());
    ff::test::remove_tree(path.string());
    fs::create_directories(path);
  }
  ~TempDir() { ff::test::remove_tree(path.string()); }
};

std::vector<DeclaredTensor> declared(const PlannedFile& f) {
  std::vector<DeclaredTensor> out;
  for (const auto& t : f.tensors) out.push_back({t.name, ff::io::safetensors_dtype(t.dtype), t.shape});
  return out;
}

// Writes every file of the layout header-only (sparse), its JSON files and a stand-in tokenizer.
void write_sparse(const PublishedLayout& l, const fs::path& dir) {
  for (const auto& f : l.files) {
    fs::create_directories((dir / f.path).parent_path());
    write_header_only_safetensors((dir / f.path).string(), declared(f), f.metadata);
  }
  write_published_json(l, dir.string());
  std::ofstream(dir / l.gemma_dir / "tokenizer.model") << "stand-in";
}

std::string files_error(const ModelFiles& files) {
  try {
    check_model_files(files);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("check-model accepts a header-only sparse copy of the real layout") {
  TempDir dir("real");
  const PublishedLayout l = published_layout(published_preset("ltx23-22b"), dir.path.string());
  write_sparse(l, dir.path);
  const ModelFilesReport r = check_model_files(model_files_from_json(read_json((dir.path / "model.json").string()), "model.json"));
  REQUIRE(r.files_checked.size() == 4);
  const FileSummary& ck = r.files_checked[0];
  int64_t tensors = 0, params = 0;
  for (const auto& c : ck.components) {
    tensors += c.tensors;
    params += c.params;
    if (c.component == "transformer") CHECK(c.tensors == 4186);
    if (c.component == "video_encoder" || c.component == "audio_encoder") CHECK_FALSE(c.loaded);
  }
  CHECK(tensors == 5947);
  CHECK(params == 23069505387LL);
  CHECK(r.lora_ranks == std::vector<int64_t>{384});
  CHECK(r.model_version == "2.3.0");
  // The vision tower is accepted and reported as not loaded.
  bool vision = false;
  for (const auto& c : r.files_checked[1].components) vision |= (c.component == "ignored:vision_tower." && !c.loaded);
  CHECK(vision);
  const std::string text = format_report(r);
  CHECK(contains(text, "transformer"));
  CHECK(contains(text, "18,988,838,144"));
}

TEST_CASE("check-model refuses broken files, naming the file and the tensor or key") {
  TempDir dir("bad");
  // The tiny preset with 2 transformer layers: a tenth of the tensors, same coverage.
  static const PublishedPreset p = [] {
    PublishedPreset q = published_preset("tiny");
    q.config.at("transformer")["num_layers"] = 2;
    return q;
  }();
  static const PublishedLayout good = published_layout(p, dir.path.string());  // same path every subcase
  write_sparse(good, dir.path);
  const ModelFiles files = good.model;
  REQUIRE(files_error(files).empty());
  const std::string ck = files.checkpoint;
  const PlannedFile& dev = good.files.front();

  auto rewrite = [&](std::vector<DeclaredTensor> t, std::map<std::string, std::string> md) {
    write_header_only_safetensors(ck, t, md);
  };
  SUBCASE("missing tensor") {
    auto t = declared(dev);
    const std::string gone = t[5].name;
    t.erase(t.begin() + 5);
    rewrite(t, dev.metadata);
    const std::string e = files_error(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "missing tensor '" + gone + "'"));
  }
  SUBCASE("unexpected tensor") {
    auto t = declared(dev);
    t.push_back({"model.diffusion_model.extra_head.weight", "BF16", {4, 4}});
    rewrite(t, dev.metadata);
    const std::string e = files_error(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "unexpected tensor 'model.diffusion_model.extra_head.weight'"));
  }
  SUBCASE("mis-shaped tensor") {
    auto t = declared(dev);
    t[0].shape.back() += 1;
    rewrite(t, dev.metadata);
    const std::string e = files_error(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "tensor '" + t[0].name + "' has shape"));
  }
  SUBCASE("integer tensor") {
    auto t = declared(dev);
    t[0].dtype = "I64";
    rewrite(t, dev.metadata);
    const std::string e = files_error(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "tensor '" + t[0].name + "' has dtype I64"));
  }
  SUBCASE("LTX-2 19B: V1 feature extractor") {
    json::Json c = p.config;
    for (const char* k : {"caption_proj_before_connector", "caption_projection_first_linear", "caption_proj_input_norm",
                          "caption_projection_second_linear"})
      c.at("transformer").erase(k);
    rewrite(declared(dev), checkpoint_metadata(c, "2.3.0"));
    const std::string e = files_error(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "caption_proj_before_connector"));
    CHECK(contains(e, "V1"));
  }
  SUBCASE("LTX-2.5: newer model_version, Gemma-4 source checkpoint") {
    rewrite(declared(dev), checkpoint_metadata(p.config, "2.5.0"));
    std::string e = files_error(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "model_version"));
    auto md = checkpoint_metadata(p.config, "2.3.0");
    md["gemma_source_checkpoint"] = R"({"gemma_version": "gemma-4-12b"})";
    rewrite(declared(dev), md);
    e = files_error(files);
    CHECK(contains(e, "gemma_source_checkpoint"));
    rewrite(declared(dev), {{"config", (p.config).dump()}});
    CHECK(contains(files_error(files), "'model_version': absent"));
  }
  SUBCASE("diffusion VAE decoder") {
    json::Json c = p.config;
    c.at("vae")["_class_name"] = "CausalDiffusionVAE";
    rewrite(declared(dev), checkpoint_metadata(c, "2.3.0"));
    const std::string e = files_error(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "_class_name"));
  }
  SUBCASE("Gemma-4 text encoder") {
    const fs::path cfg = fs::path(files.text_encoder) / "config.json";
    std::ofstream(cfg) << R"({"model_type": "gemma4", "text_config": {"model_type": "gemma4_text"}})";
    const std::string e = files_error(files);
    CHECK(contains(e, cfg.string()));
    CHECK(contains(e, "gemma4"));
  }
  SUBCASE("text encoder: missing layer tensor, missing tokenizer") {
    const PlannedFile& shard = good.files.back();
    auto t = declared(shard);
    std::string gone;
    for (size_t i = 0; i < t.size(); ++i)
      if (t[i].name.rfind("language_model.", 0) == 0) {
        gone = t[i].name;
        t.erase(t.begin() + static_cast<long>(i));
        break;
      }
    REQUIRE(!gone.empty());
    write_header_only_safetensors((dir.path / shard.path).string(), t, shard.metadata);
    std::string e = files_error(files);
    CHECK(contains(e, gone));  // the index promises it: named with the shard and the index
    fs::remove(fs::path(files.text_encoder) / "tokenizer.model");
    write_header_only_safetensors((dir.path / shard.path).string(), declared(shard), shard.metadata);
    e = files_error(files);
    CHECK(contains(e, "tokenizer.model"));
  }
  SUBCASE("LoRA: mis-shaped factor, stray tensor") {
    const PlannedFile* lora = nullptr;
    for (const auto& f : good.files)
      if (f.path == kDistilledLoraName) lora = &f;
    REQUIRE(lora);
    auto t = declared(*lora);
    t[0].shape[1] += 1;
    write_header_only_safetensors(files.distilled_lora, t, {});
    std::string e = files_error(files);
    CHECK(contains(e, files.distilled_lora));
    CHECK(contains(e, "do not factor"));
    t = declared(*lora);
    t.push_back({"diffusion_model.transformer_blocks.0.attn1.to_q.alpha", "F32", {}});
    write_header_only_safetensors(files.distilled_lora, t, {});
    e = files_error(files);
    CHECK(contains(e, "unexpected tensor 'diffusion_model.transformer_blocks.0.attn1.to_q.alpha'"));
  }
  SUBCASE("pipeline needs") {
    ModelFiles f = files;
    f.distilled_lora.clear();
    CHECK(contains(files_error(f), "'distilled_lora': required by pipeline two_stages"));
    f.spatial_upsampler.clear();
    f.pipeline = PipelineKind::kDistilled;
    CHECK(contains(files_error(f), "'spatial_upsampler': required"));
    f = files;
    f.pipeline = PipelineKind::kDistilled;
    f.distilled_lora.clear();
    const ModelFilesReport r = check_model_files(f);  // a dev-named file: accepted with a warning
    REQUIRE(!r.warnings.empty());
    CHECK(contains(r.warnings.front(), "cannot be told apart"));
  }
}

TEST_CASE("model object: keys, paths, refusals") {
  const json::Json v = json::parse(R"({"checkpoint": "a.safetensors", "text_encoder": "/abs/gemma",
      "spatial_upsampler": "up.safetensors", "distilled_lora": "l.safetensors", "distilled_lora_strength": 0.8,
      "pipeline": "distilled"})", "test");
  const ModelFiles f = model_files_from_json(v, "model.json", "/models");
  CHECK(f.checkpoint == "/models/a.safetensors");
  CHECK(f.text_encoder == "/abs/gemma");
  CHECK(f.lora_strength == doctest::Approx(0.8));
  CHECK(f.pipeline == PipelineKind::kDistilled);
  CHECK(model_files_from_json(json::Json(model_files_to_json(f)), "x").checkpoint == f.checkpoint);
  CHECK_THROWS_WITH_AS(model_files_from_json(json::parse(R"({"checkpoint": "a", "text_encoder": "b", "vae": "c"})", "test"), "m"),
                       doctest::Contains("m.vae: unknown key"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(model_files_from_json(json::parse(R"({"text_encoder": "b"})", "test"), "m"),
                       doctest::Contains("m.checkpoint: required"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(model_files_from_json(json::parse(R"({"checkpoint": "a", "text_encoder": "b", "pipeline": "x"})", "test"), "m"),
                       doctest::Contains("unknown pipeline 'x'"), std::invalid_argument);
  CHECK(parse_model_version("2.3.0") == std::vector<int64_t>{2, 3, 0});
  CHECK(parse_model_version("2.3.rc1") == std::vector<int64_t>{2, 3});
  CHECK(parse_model_version("2.4-rc2") == std::vector<int64_t>{2, 4});
  CHECK(parse_model_version("").empty());
}

TEST_CASE("the tiny preset's real files pass check-model") {
  TempDir dir("tiny");
  write_published_model(published_preset("tiny"), 7, dir.path.string());
  const PublishedLayout l = published_layout(published_preset("tiny"), dir.path.string());
  std::ofstream(dir.path / l.gemma_dir / "tokenizer.model") << "stand-in";
  const ModelFilesReport r = check_model_files(model_files_from_json(read_json((dir.path / "model.json").string()), "model.json"));
  CHECK(r.lora_ranks == std::vector<int64_t>{4});
  CHECK(r.warnings.empty());
  // The engine's way in: the checkpoint's config, then each component's slots through the fetch
  // (shape checked, any float dtype converted: the F32 tables and the BF16 rest).
  {
    const ff::io::Checkpoint ck = ff::io::Checkpoint::open(r.files.checkpoint);
    const LtxModelConfig cfg = ltx_model_config_from_metadata(ck.metadata(), r.files.checkpoint);
    CHECK(ck.info("model.diffusion_model.transformer_blocks.0.scale_shift_table").dtype == "F32");
    CHECK(ck.info("model.diffusion_model.transformer_blocks.0.attn1.to_q.weight").dtype == "BF16");
    AVTransformerWeights w;
    ff::layers::load_slots(av_transformer_slots(w, cfg.transformer, "model.diffusion_model."),
                          checkpoint_fetch(ck, at::kCPU, at::kFloat));
    REQUIRE(w.blocks.size() == 29);
    CHECK((w.blocks[28].scale_shift_table.scalar_type() == at::kFloat));
    CHECK(w.blocks[28].attn1.to_q.weight.abs().sum().item<double>() > 0);
    CHECK_THROWS_WITH_AS(checkpoint_fetch(ck, at::kCPU, at::kFloat)("model.diffusion_model.proj_out.weight", {1, 1}),
                         doctest::Contains("tensor 'model.diffusion_model.proj_out.weight' has shape"),
                         ff::io::CheckpointError);
  }
  // The distilled checkpoint too, with the distilled pipeline.
  ModelFiles f = r.files;
  f.checkpoint = (dir.path / kDistilledCheckpointName).string();
  f.pipeline = PipelineKind::kDistilled;
  f.distilled_lora.clear();
  CHECK(check_model_files(f).warnings.empty());
  // Deterministic: the same seed gives the same bytes.
  TempDir again("tiny2");
  write_published_model(published_preset("tiny"), 7, again.path.string());
  auto bytes = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(bytes(dir.path / kDevCheckpointName) == bytes(again.path / kDevCheckpointName));
}
