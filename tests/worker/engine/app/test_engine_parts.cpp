// The engine's serving pieces that need no running process: the engine config, wire tensor
// blobs, the encoder fingerprint and make-weights (the published tiny layout).
#include "tests/worker/engine/doctest_torch.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/worker/engine/temp_dir.hpp"
#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/app/fingerprint.hpp"
#include "worker/engine/app/make_weights.hpp"
#include "worker/engine/app/tensor_blob.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/model_files.hpp"

namespace fs = std::filesystem;
using namespace ff;

namespace {

std::string config_error(const std::string& text) {
  try {
    engine::parse_engine_config(text, "test.json");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  FAIL("expected std::invalid_argument for " << text);
  return "";
}

}  // namespace

TEST_CASE("engine config: a full config decodes into the struct, with the defaults of each component") {
  auto c = engine::parse_engine_config(R"({"device": "cpu", "output_root": "/tmp/out",
      "model": {"checkpoint": "/m/c.safetensors", "text_encoder": "/m/te"},
      "placements": {"text_encoder": "stream", "stage2_transformer": "auto"}, "stage2_lora": "fused",
      "vae_tiling": false, "vram_budget_bytes": 1000, "vram_reserve_bytes": 100, "max_encode_batch": 4})", "x");
  CHECK(c.device == "cpu");
  CHECK(c.output_root == "/tmp/out");
  CHECK(c.model["checkpoint"].get<std::string>() == "/m/c.safetensors");
  CHECK((c.placement("text_encoder") == engine::rt::Placement::kStream));
  CHECK((c.placement("embeddings_processor") == engine::rt::Placement::kAuto));
  CHECK((c.placement("stage1_transformer") == engine::rt::Placement::kResident));
  CHECK((c.placement("stage2_transformer") == engine::rt::Placement::kAuto));
  CHECK((c.placement("vae_decoder") == engine::rt::Placement::kResident));
  CHECK((c.stage2_lora == engine::EngineConfig::LoraMode::kFused));
  CHECK_FALSE(c.vae_tiling);
  CHECK_FALSE(c.weights_fp8("stage1_transformer"));
  CHECK(c.vram_budget_bytes == 1000);
  CHECK(c.max_encode_batch == 4);
  const auto d = engine::parse_engine_config(R"({"output_root": "/o"})", "x");
  CHECK((d.stage2_lora == engine::EngineConfig::LoraMode::kDelta));
  CHECK(d.vae_tiling);
}

TEST_CASE("engine config: errors name the file and the key") {
  CHECK(config_error(R"({"output_root": "/o", "gpu": 1})").find("test.json: gpu: unknown key (allowed: device, model,") != std::string::npos);
  CHECK(config_error(R"({"device": "cpu"})").find("test.json: output_root: missing required key") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "placements": {"text_encoder": "gpu"}})")
            .find("placements.text_encoder: placement must be \"resident\", \"stream\" or \"auto\"") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "placements": {"unet": "stream"}})").find("unknown component 'unet'") !=
        std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "stage2_lora": "merged"})").find("stage2_lora: must be") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "weights": {"vae_decoder": "fp8"}})")
            .find("weights.vae_decoder: unknown key (allowed: stage1_transformer, stage2_transformer)") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "weights": {"stage1_transformer": "int4"}})")
            .find("weights.stage1_transformer: must be \"bf16\" or \"fp8\"") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "vae_tiling": "yes"})").find("vae_tiling: must be true, false or an object") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "device": "tpu"})").find("device: must be") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "max_encode_batch": 0})").find("max_encode_batch: must be in [1, 1024], got 0") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "vram_budget_bytes": 10, "vram_reserve_bytes": 10})")
            .find("vram_reserve_bytes") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "vram_budget_bytes": "lots"})").find("vram_budget_bytes: expected integer, got string") != std::string::npos);
  CHECK(config_error("{nope").find("test.json") != std::string::npos);
  CHECK(config_error("[]").find("test.json: (document): expected object, got array") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "output_root": "/p"})").find("duplicate key 'output_root'") != std::string::npos);
  CHECK_THROWS_AS(engine::load_engine_config("/nonexistent/engine.json"), std::invalid_argument);
}

TEST_CASE("tensor blobs: round trip and size checks") {
  auto t = at::arange(6, at::kFloat).view({2, 3}).to(at::kBFloat16);
  auto b = engine::blob_from_tensor(t);
  CHECK(b.dtype == "bf16");
  CHECK(b.shape == std::vector<int64_t>{2, 3});
  CHECK(b.data.size() == 12);
  CHECK(at::equal(engine::tensor_from_blob(b, "x"), t));
  auto bad = b;
  bad.data.pop_back();
  CHECK_THROWS_WITH_AS(engine::tensor_from_blob(bad, "ctx"), doctest::Contains("ctx: 11 data bytes"), std::invalid_argument);
  bad = b;
  bad.dtype = "f64";
  CHECK_THROWS_WITH_AS(engine::tensor_from_blob(bad, "ctx"), doctest::Contains("unsupported dtype 'f64'"), std::invalid_argument);
  bad = b;
  bad.shape = {-2, 3};
  CHECK_THROWS_AS(engine::tensor_from_blob(bad, "ctx"), std::invalid_argument);
}

// Overwrites the first bytes of tensor `name`'s data in a safetensors file (header untouched).
static void scribble_tensor(const fs::path& file, const std::string& name) {
  uint64_t begin = 0;
  {
    const auto f = io::SafetensorsFile::open(file.string());
    const auto* t = f->find(name);
    REQUIRE_MESSAGE(t != nullptr, name);
    begin = t->begin;
  }
  std::fstream io(file, std::ios::binary | std::ios::in | std::ios::out);
  uint64_t header_len = 0;  // little-endian u64, as on this host
  io.read(reinterpret_cast<char*>(&header_len), 8);
  io.seekp(static_cast<std::streamoff>(8 + header_len + begin));  // offsets count from the data section
  io.write("\x7f\x7f\x7f\x7f", 4);
  REQUIRE(io.good());
}

TEST_CASE("encoder fingerprint: same seed same fingerprint, another seed or tokenizer another, transformer weights do not count") {
  ff::test::TempDir tmp;
  const auto a = tmp.path() / "a", b = tmp.path() / "b", c = tmp.path() / "c";
  engine::make_weights("tiny", 1, a.string());
  engine::make_weights("tiny", 1, b.string());
  engine::make_weights("tiny", 2, c.string());
  auto fp = [](const fs::path& dir) {
    return engine::encoder_fingerprint((dir / ltx2::kTextEncoderName).string(), (dir / ltx2::kDevCheckpointName).string());
  };
  const auto fa = fp(a);
  CHECK(fa.rfind("ff2-", 0) == 0);
  CHECK(fa.size() == 4 + 32);
  CHECK(fp(b) == fa);
  CHECK(fp(c) != fa);
  // A transformer weight changes: same fingerprint; an embeddings-processor weight: another.
  scribble_tensor(b / ltx2::kDevCheckpointName, "model.diffusion_model.transformer_blocks.0.attn1.to_q.weight");
  CHECK(fp(b) == fa);
  scribble_tensor(b / ltx2::kDevCheckpointName, "text_embedding_projection.video_aggregate_embed.weight");
  const auto fb = fp(b);
  CHECK(fb != fa);
  std::ofstream(b / ltx2::kTextEncoderName / "tokenizer.model") << "another tokenizer";
  CHECK(fp(b) != fb);
  CHECK_THROWS_AS(engine::encoder_fingerprint((tmp.path() / "missing").string(), (a / ltx2::kDevCheckpointName).string()),
                  std::runtime_error);
}

TEST_CASE("make-weights: the tiny preset writes the published files and model.json, an unknown preset writes nothing") {
  ff::test::TempDir tmp;
  engine::make_weights("tiny", 3, (tmp.path() / "m").string());
  for (const char* f : {ltx2::kDevCheckpointName, ltx2::kDistilledCheckpointName, ltx2::kUpsamplerName,
                        ltx2::kDistilledLoraName, "model.json"})
    CHECK_MESSAGE(fs::exists(tmp.path() / "m" / f), f);
  const auto files = ltx2::model_files_from_json(json::parse([&] {
    std::ifstream in(tmp.path() / "m" / "model.json");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }(), "test"), "model.json");
  // The engine writes weights only; the tokenizer is the supervisor's (worker make-model).
  CHECK_THROWS_WITH(ltx2::check_model_files(files), doctest::Contains("tokenizer.model: missing"));
  std::ofstream(tmp.path() / "m" / ltx2::kTextEncoderName / "tokenizer.model") << "stand-in";
  CHECK_NOTHROW(ltx2::check_model_files(files));
  CHECK_THROWS_AS(engine::make_weights("stage-22b", 1, (tmp.path() / "n").string()), std::invalid_argument);
  CHECK_FALSE(fs::exists(tmp.path() / "n"));
}
