// The published files, as they are: the inventory the loader expects for the real 2.3 config
// equals the one ltx-core's own classes produce (fixture ltx23_inventory.json, written by
// reference/inventory_reference.py); make-weights' ltx23-22b plan declares exactly that set; and
// check_model_files accepts header-only sparse copies of the real layout and the tiny preset's
// real files, and refuses each kind of broken file naming the file and the tensor or key.
#include "tests/ltx2/torch_doctest.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <unistd.h>

#include "common/json_fields.hpp"
#include "tests/engine/temp_dir.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/av_transformer_weights.hpp"
#include "worker/engine/ltx2/checkpoint_inventory.hpp"
#include "worker/engine/ltx2/model_files.hpp"
#include "worker/engine/ltx2/published_writer.hpp"
#include "worker/engine/ltx2/upsampler.hpp"

namespace {

using namespace ff::ltx2;
namespace json = ff::json;
namespace fs = std::filesystem;

json::Json read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str(), "test");
}

const json::Json& fixture() {
  static const json::Json v = [] {
    const std::string path = std::string(FF_LTX2_FIXTURES) + "/ltx23_inventory.json";
    if (!fs::exists(path))
      FAIL("missing fixture " << path << " (run tests/ltx2/reference/inventory_reference.py --out tests/ltx2/fixtures)");
    return read_json(path);
  }();
  return v;
}

using ShapeMap = std::map<std::string, std::vector<int64_t>>;

ShapeMap to_map(const json::Json& entries, std::map<std::string, std::string>* dtypes = nullptr) {
  ShapeMap m;
  for (const auto& e : entries) {
    std::vector<int64_t> shape;
    for (const auto& d : e[1]) shape.push_back(d.get<int64_t>());
    m[e[0].get<std::string>()] = shape;
    if (dtypes) (*dtypes)[e[0].get<std::string>()] = e[2].get<std::string>();
  }
  return m;
}

ShapeMap to_map(const std::vector<NamedShape>& v) {
  ShapeMap m;
  for (const auto& t : v) m[t.name] = t.shape;
  return m;
}

// Lists the first differences of two maps (empty = equal).
std::string diff(const ShapeMap& got, const ShapeMap& want) {
  std::string out;
  int n = 0;
  for (const auto& [k, s] : want)
    if (!got.count(k) && n++ < 5) out += " missing " + k;
  for (const auto& [k, s] : got)
    if (!want.count(k) && n++ < 5) out += " extra " + k;
  for (const auto& [k, s] : want)
    if (got.count(k) && got.at(k) != s && n++ < 5) out += " shape " + k;
  return out;
}

// JSON equality ignoring object key order.
bool same_json(const json::Json& a, const json::Json& b) {
  if (a.is_object() != b.is_object()) return false;
  if (!a.is_object()) {
    if (a.is_array() && b.is_array()) {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (!same_json(a[i], b[i])) return false;
      return true;
    }
    if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
    return a == b;
  }
  if (a.size() != b.size()) return false;
  for (const auto& [k, v] : a.items()) {
    if (!b.contains(k) || !same_json(v, b.at(k))) return false;
  }
  return true;
}

std::map<std::string, std::string> checkpoint_metadata(const json::Json& config, const std::string& version) {
  return {{"config", (config).dump()}, {"model_version", version}};
}

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

std::string error_of(const ModelFiles& files) {
  try {
    check_model_files(files);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("the loader's inventory of the real 2.3 config equals ltx-core's (fixture)") {
  const json::Json& fx = fixture();
  const LtxModelConfig cfg = ltx_model_config_from_metadata(
      checkpoint_metadata(*fx.find("config"), fx.at("model_version").get<std::string>()), "fixture config");
  const auto inv = checkpoint_inventory(cfg, published_preset("ltx23-22b").gemma, "fixture config");
  const json::Json& comps = *fx.find("checkpoint")->find("components");
  ShapeMap all_got, all_want;
  CHECK(inv.size() == comps.size());
  for (const auto& c : inv) {
    REQUIRE_MESSAGE(comps.contains(c.component), "fixture has no component " << c.component);
    const json::Json* want = &comps.at(c.component);
    const ShapeMap g = to_map(c.tensors), w = to_map(*want);
    CHECK_MESSAGE(g == w, c.component << ":" << diff(g, w));
    CHECK(g.size() == c.tensors.size());  // no duplicate names inside a component
    all_got.insert(g.begin(), g.end());
    all_want.insert(w.begin(), w.end());
  }
  CHECK(all_got.size() == 5947);
  CHECK(all_got == all_want);

  // The upsampler file.
  const json::Json& up = *fx.find("spatial_upsampler");
  UpsamplerWeights w;
  const auto slots = upsampler_slots(w, upsampler_config_from_json(*up.find("config"), "fixture upsampler"));
  CHECK_MESSAGE(to_map(shapes_of(slots)) == to_map(*up.find("tensors")),
                diff(to_map(shapes_of(slots)), to_map(*up.find("tensors"))));
}

TEST_CASE("make-weights ltx23-22b declares the fixture's set, config and dtypes") {
  const json::Json& fx = fixture();
  CHECK(same_json(ltx23_checkpoint_config(), *fx.find("config")));
  CHECK(same_json(ltx23_upsampler_config(), *fx.find("spatial_upsampler")->find("config")));
  const PublishedLayout l = published_layout(published_preset("ltx23-22b"), "/nonexistent/model");
  REQUIRE(l.files.front().path == kDevCheckpointName);
  std::map<std::string, std::string> want_dtypes;
  ShapeMap want;
  for (const auto& [name, entries] : fx.at("checkpoint").at("components").items()) {
    const ShapeMap m = to_map(entries, &want_dtypes);
    want.insert(m.begin(), m.end());
  }
  ShapeMap got;
  int64_t f32 = 0;
  for (const auto& t : l.files.front().tensors) {
    got[t.name] = t.shape;
    CHECK_MESSAGE(ff::io::safetensors_dtype(t.dtype) == want_dtypes[t.name], t.name);
    f32 += t.dtype == at::kFloat;
  }
  CHECK_MESSAGE(got == want, diff(got, want));
  CHECK(f32 == 290);
  CHECK(l.files.front().metadata.at("model_version") == "2.3.0");
  // Only what is asked at real size: dev checkpoint, upsampler, LoRA, 5 Gemma shards.
  CHECK(l.files.size() == 3 + 5);
}

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
  REQUIRE(error_of(files).empty());
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
    const std::string e = error_of(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "missing tensor '" + gone + "'"));
  }
  SUBCASE("unexpected tensor") {
    auto t = declared(dev);
    t.push_back({"model.diffusion_model.extra_head.weight", "BF16", {4, 4}});
    rewrite(t, dev.metadata);
    const std::string e = error_of(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "unexpected tensor 'model.diffusion_model.extra_head.weight'"));
  }
  SUBCASE("mis-shaped tensor") {
    auto t = declared(dev);
    t[0].shape.back() += 1;
    rewrite(t, dev.metadata);
    const std::string e = error_of(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "tensor '" + t[0].name + "' has shape"));
  }
  SUBCASE("integer tensor") {
    auto t = declared(dev);
    t[0].dtype = "I64";
    rewrite(t, dev.metadata);
    const std::string e = error_of(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "tensor '" + t[0].name + "' has dtype I64"));
  }
  SUBCASE("LTX-2 19B: V1 feature extractor") {
    json::Json c = p.config;
    for (const char* k : {"caption_proj_before_connector", "caption_projection_first_linear", "caption_proj_input_norm",
                          "caption_projection_second_linear"})
      c.at("transformer").erase(k);
    rewrite(declared(dev), checkpoint_metadata(c, "2.3.0"));
    const std::string e = error_of(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "caption_proj_before_connector"));
    CHECK(contains(e, "V1"));
  }
  SUBCASE("LTX-2.5: newer model_version, Gemma-4 source checkpoint") {
    rewrite(declared(dev), checkpoint_metadata(p.config, "2.5.0"));
    std::string e = error_of(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "model_version"));
    auto md = checkpoint_metadata(p.config, "2.3.0");
    md["gemma_source_checkpoint"] = R"({"gemma_version": "gemma-4-12b"})";
    rewrite(declared(dev), md);
    e = error_of(files);
    CHECK(contains(e, "gemma_source_checkpoint"));
    rewrite(declared(dev), {{"config", (p.config).dump()}});
    CHECK(contains(error_of(files), "'model_version': absent"));
  }
  SUBCASE("diffusion VAE decoder") {
    json::Json c = p.config;
    c.at("vae")["_class_name"] = "CausalDiffusionVAE";
    rewrite(declared(dev), checkpoint_metadata(c, "2.3.0"));
    const std::string e = error_of(files);
    CHECK(contains(e, ck));
    CHECK(contains(e, "_class_name"));
  }
  SUBCASE("Gemma-4 text encoder") {
    const fs::path cfg = fs::path(files.text_encoder) / "config.json";
    std::ofstream(cfg) << R"({"model_type": "gemma4", "text_config": {"model_type": "gemma4_text"}})";
    const std::string e = error_of(files);
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
    std::string e = error_of(files);
    CHECK(contains(e, gone));  // the index promises it: named with the shard and the index
    fs::remove(fs::path(files.text_encoder) / "tokenizer.model");
    write_header_only_safetensors((dir.path / shard.path).string(), declared(shard), shard.metadata);
    e = error_of(files);
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
    std::string e = error_of(files);
    CHECK(contains(e, files.distilled_lora));
    CHECK(contains(e, "do not factor"));
    t = declared(*lora);
    t.push_back({"diffusion_model.transformer_blocks.0.attn1.to_q.alpha", "F32", {}});
    write_header_only_safetensors(files.distilled_lora, t, {});
    e = error_of(files);
    CHECK(contains(e, "unexpected tensor 'diffusion_model.transformer_blocks.0.attn1.to_q.alpha'"));
  }
  SUBCASE("pipeline needs") {
    ModelFiles f = files;
    f.distilled_lora.clear();
    CHECK(contains(error_of(f), "'distilled_lora': required by pipeline two_stages"));
    f.spatial_upsampler.clear();
    f.pipeline = PipelineKind::kDistilled;
    CHECK(contains(error_of(f), "'spatial_upsampler': required"));
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
