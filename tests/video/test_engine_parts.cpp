// Unit tests of the engine app's parts: the engine config decoder, wire tensor blobs, and one
// GenerateRequest run in-process on a tiny random model (Y4M + PNG written under a temp root).
#include "tests/video/torch_doctest.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/video/png_check.hpp"
#include "tests/video/tiny_model.hpp"
#include "tests/video/y4m_reader.hpp"
#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/app/fingerprint.hpp"
#include "worker/engine/app/make_weights.hpp"
#include "worker/engine/app/video_models.hpp"
#include "worker/engine/app/video_presets.hpp"
#include "worker/engine/app/generate_job.hpp"
#include "worker/engine/app/tensor_blob.hpp"
#include "worker/engine/runtime/memory_meter.hpp"

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

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("ff_engine_parts_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { std::error_code ec; fs::remove_all(path, ec); }
};

engine::VideoModels tiny_models() {
  engine::VideoModels m;
  m.stage1 = test::tiny_stage(1);
  m.stage2 = test::tiny_stage(2);
  m.decoder_config = test::tiny_decoder_config();
  m.decoder = test::tiny_decoder(3, m.decoder_config);
  m.latent_format = {4, m.decoder_config.temporal_scale(), m.decoder_config.spatial_scale()};
  return m;
}

proto::PromptEmbedding embedding(int64_t rows, int64_t dim, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  proto::PromptEmbedding e;
  e.real_tokens = static_cast<int32_t>(rows);
  e.video = engine::blob_from_tensor(at::randn({rows, dim}, g, at::TensorOptions().dtype(at::kFloat)).to(at::kBFloat16));
  e.audio = engine::blob_from_tensor(at::zeros({rows, 2}, at::kFloat));
  return e;
}

proto::GenerateRequest tiny_job(int64_t id) {
  proto::GenerateRequest r;
  r.job_id = id;
  r.params.width = 32;
  r.params.height = 16;
  r.params.num_frames = 5;
  r.params.frame_rate = 12;
  r.params.num_inference_steps = 2;
  r.params.guidance_scale = 2.0;
  r.params.seed = 9;
  r.positive = embedding(6, 12, 1);
  r.negative = embedding(3, 12, 2);
  return r;
}

}  // namespace

TEST_CASE("engine config: a full config decodes into the struct") {
  auto c = engine::parse_engine_config(R"({"device": "cpu", "output_root": "/tmp/out",
      "placements": {"text_encoder": "stream", "stage1_transformer": "resident"},
      "vram_budget_bytes": 1000, "vram_reserve_bytes": 100, "max_encode_batch": 4})", "x");
  CHECK(c.device == "cpu");
  CHECK(c.output_root == "/tmp/out");
  CHECK((c.placement("text_encoder") == engine::rt::Placement::kStream));
  CHECK((c.placement("stage1_transformer") == engine::rt::Placement::kResident));
  CHECK((c.placement("vae_decoder") == engine::rt::Placement::kAuto));
  CHECK(c.vram_budget_bytes == 1000);
  CHECK(c.max_encode_batch == 4);
}

TEST_CASE("engine config: errors name the file and the key") {
  CHECK(config_error(R"({"output_root": "/o", "gpu": 1})").find("test.json: unknown key 'gpu'") != std::string::npos);
  CHECK(config_error(R"({"device": "cpu"})").find("'output_root' is missing") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "placements": {"text_encoder": "gpu"}})")
            .find("must be \"resident\", \"stream\" or \"auto\"") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "placements": {"unet": "stream"}})").find("unknown component 'unet'") !=
        std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "device": "tpu"})").find("'device'") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "max_encode_batch": 0})").find("max_encode_batch") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "vram_budget_bytes": 10, "vram_reserve_bytes": 10})")
            .find("vram_reserve_bytes") != std::string::npos);
  CHECK(config_error(R"({"output_root": "/o", "vram_budget_bytes": "lots"})").find("must be an integer") != std::string::npos);
  CHECK(config_error("{nope").find("test.json") != std::string::npos);
  CHECK(config_error("[]").find("expected an object") != std::string::npos);
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

TEST_CASE("generate: a tiny job writes a Y4M of the requested size and frame count, and a PNG") {
  TempDir tmp;
  auto models = tiny_models();
  engine::rt::CpuMemoryMeter meter(int64_t(1) << 30);
  std::vector<std::string> progress;
  video::StepHooks hooks;
  hooks.progress = [&](const std::string& ph, int d, int t) { progress.push_back(ph + std::to_string(d) + "/" + std::to_string(t)); };
  auto req = tiny_job(77);
  auto out = engine::run_generate(models, req, tmp.path.string(), at::kCPU, meter, hooks);
  CHECK(out.video_path == (tmp.path / "77.y4m").string());
  CHECK(out.preview_path == (tmp.path / "77.png").string());
  auto y4m = test::read_y4m(out.video_path);
  CHECK(y4m.width == 32);
  CHECK(y4m.height == 16);
  CHECK(y4m.frames == 5);
  CHECK(y4m.fps_num == 12);
  std::ifstream in(out.preview_path, std::ios::binary);
  std::string png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto info = test::check_png(png);
  CHECK(info.width == 32);
  CHECK(info.height == 16);
  CHECK(progress == std::vector<std::string>{"stage11/2", "stage12/2", "stage21/3", "stage22/3", "stage23/3"});
  for (const char* k : {"stage1", "stage2", "decode", "write"}) CHECK(out.timings_s.count(k) == 1);
  CHECK(out.peak_vram_bytes.count("vae_decoder") == 1);
  CHECK(out.peak_vram_bytes.at("stage1_transformer") > 0);  // the contexts are charged

  // Same seed, same pixels; relative output_dir resolves under the root.
  req.output_dir = "again";
  auto out2 = engine::run_generate(models, req, tmp.path.string(), at::kCPU, meter, hooks);
  CHECK(out2.video_path == (tmp.path / "again" / "77.y4m").string());
  CHECK(test::read_y4m(out2.video_path).frame_y == y4m.frame_y);
}

TEST_CASE("generate: bad contexts and sizes are InvalidRequest naming the problem") {
  TempDir tmp;
  auto models = tiny_models();
  engine::rt::CpuMemoryMeter meter(int64_t(1) << 30);
  auto run = [&](proto::GenerateRequest r) { engine::run_generate(models, r, tmp.path.string(), at::kCPU, meter, {}); };
  auto r = tiny_job(1);
  r.positive = embedding(4, 10, 1);
  CHECK_THROWS_WITH_AS(run(r), doctest::Contains("positive prompt embedding (video): expected shape [rows >= 1, 12]"),
                       video::InvalidRequest);
  r = tiny_job(1);
  r.positive = proto::PromptEmbedding{};
  CHECK_THROWS_WITH_AS(run(r), doctest::Contains("is missing"), video::InvalidRequest);
  r = tiny_job(1);
  r.params.width = 20;
  CHECK_THROWS_WITH_AS(run(r), doctest::Contains("multiples of"), video::InvalidRequest);
  r = tiny_job(1);
  r.params.frame_rate = 0;
  CHECK_THROWS_WITH_AS(run(r), doctest::Contains("frame_rate"), video::InvalidRequest);
  // No negative prompt: runs without guidance.
  r = tiny_job(2);
  r.negative = proto::PromptEmbedding{};
  CHECK_NOTHROW(run(r));
}

TEST_CASE("encoder fingerprint: same seed same fingerprint; another seed or tokenizer another; stage weights do not count") {
  TempDir tmp;
  const auto a = tmp.path / "a", b = tmp.path / "b", c = tmp.path / "c";
  engine::make_weights("tiny", 1, a.string());
  engine::make_weights("tiny", 1, b.string());
  engine::make_weights("tiny", 2, c.string());
  const auto fa = engine::encoder_fingerprint(a.string());
  CHECK(fa.rfind("ff1-", 0) == 0);
  CHECK(fa.size() == 4 + 32);
  CHECK(engine::encoder_fingerprint(b.string()) == fa);
  CHECK(engine::encoder_fingerprint(c.string()) != fa);
  // Replacing the stage-2 transformer keeps the fingerprint; a different tokenizer changes it.
  fs::copy_file(c / "stage2.safetensors", b / "stage2.safetensors", fs::copy_options::overwrite_existing);
  CHECK(engine::encoder_fingerprint(b.string()) == fa);
  std::ofstream(b / "text_encoder" / "tokenizer.model") << "another tokenizer";
  CHECK(engine::encoder_fingerprint(b.string()) != fa);
  CHECK_THROWS_AS(engine::encoder_fingerprint((tmp.path / "missing").string()), std::runtime_error);
}

TEST_CASE("make-weights: the tiny preset loads back with the configured sizes") {
  TempDir tmp;
  engine::make_weights("tiny", 4, tmp.path.string());
  auto m = engine::load_video_models(tmp.path.string(), at::kCPU);
  CHECK(m.stage1.config.num_layers == 2);
  CHECK(m.stage1.config.cross_attention_dim == m.stage1.config.inner_dim());
  CHECK(m.latent_format.channels == 8);
  CHECK(m.latent_format.temporal_scale == 4);
  CHECK(m.latent_format.spatial_scale == 8);
  CHECK(m.stage1_bytes > 0);
  CHECK_THROWS_AS(engine::make_weights("huge", 1, tmp.path.string()), std::invalid_argument);
  // A truncated stage file is a checkpoint error naming the file.
  fs::resize_file(tmp.path / "stage2.safetensors", 1000);
  CHECK_THROWS_WITH(engine::load_video_models(tmp.path.string(), at::kCPU), doctest::Contains("stage2.safetensors"));
}

TEST_CASE("presets: stage-22b is a 22B-class stage pair (shapes only, nothing allocated)") {
  auto p = engine::video_preset("stage-22b", 4096);
  auto params = [](const std::vector<video::WeightSlot>& slots) {
    int64_t n = 0;
    for (const auto& s : slots) {
      int64_t k = 1;
      for (auto d : s.shape) k *= d;
      n += k;
    }
    return n;
  };
  video::TransformerWeights w;
  const int64_t stage = params(video::transformer_slots(w, p.stage1, engine::kTransformerPrefix));
  // ~18.6e9 parameters per stage: ~34.7 GiB in bf16 (LTX-2.3's stages are 35.4 GiB).
  CHECK(stage > int64_t(18'000'000'000));
  CHECK(stage < int64_t(19'500'000'000));
  CHECK((p.dtype == at::kBFloat16));
  CHECK(p.decoder.temporal_scale() == 8);
  CHECK(p.decoder.spatial_scale() == 32);
  CHECK_THROWS_AS(engine::video_preset("stage-7b", 4096), std::invalid_argument);
}
