// Unit tests of the stage transformers' placements on tiny random weights (CPU backend, float32,
// deterministic): the block field list, a streamed velocity and an auto plan with a partial
// resident prefix give results bitwise equal to the resident velocity, the stats count what was
// streamed, the engine config's video placements, and a whole job streamed equals resident.
#include "tests/video/torch_doctest.hpp"

#include <unistd.h>

#include <filesystem>
#include <set>

#include "tests/video/tiny_model.hpp"
#include "tests/video/y4m_reader.hpp"
#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/app/generate_job.hpp"
#include "worker/engine/app/tensor_blob.hpp"
#include "worker/engine/app/transformer_stages.hpp"
#include "worker/engine/app/video_placement.hpp"
#include "worker/engine/encode/encode_pipeline.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/video/stage_working_set.hpp"
#include "worker/engine/video/streamed_velocity.hpp"
#include "worker/engine/video/transformer_block_fields.hpp"

namespace fs = std::filesystem;
using namespace ff;
namespace rt = ff::engine::rt;

namespace {

constexpr int kLayers = 6;  // enough blocks for a resident prefix between none and all

video::TransformerConfig six_layers() {
  auto c = test::tiny_transformer_config();
  c.num_layers = kLayers;
  return c;
}

engine::VideoModels tiny_models() {
  engine::VideoModels m;
  m.stage1 = test::tiny_stage(1, six_layers());
  m.stage2 = test::tiny_stage(2, six_layers());
  m.decoder_config = test::tiny_decoder_config();
  m.decoder = test::tiny_decoder(3, m.decoder_config);
  m.latent_format = {4, m.decoder_config.temporal_scale(), m.decoder_config.spatial_scale()};
  return m;
}

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  return at::randn(shape, g, at::TensorOptions().dtype(at::kFloat));
}

video::VideoRequest tiny_request() {
  video::VideoRequest r;
  r.width = 32;
  r.height = 16;
  r.num_frames = 5;
  r.steps = 2;
  r.guidance = 2.0;
  r.seed = 9;
  return r;
}

engine::StageJob tiny_stage_job(const engine::VideoModels& m) {
  engine::StageJob j;
  j.grids = video::stage_grids(tiny_request(), m.latent_format, m.stage1.config, m.stage2.config);
  j.context_rows = 6;
  return j;
}

// A latent of stage-1 size for `grid` and a context.
at::Tensor latent_for(const video::LatentGrid& g, uint64_t seed) { return randn({1, 4, g.frames, g.height, g.width}, seed); }

int64_t sum_block_bytes(const rt::BlockStore& s, int from) {
  int64_t n = 0;
  for (int i = from; i < s.size(); ++i) n += s.block_bytes(i);
  return n;
}

proto::PromptEmbedding embedding(int64_t rows, uint64_t seed) {
  proto::PromptEmbedding e;
  e.real_tokens = static_cast<int32_t>(rows);
  e.video = engine::blob_from_tensor(randn({rows, 12}, seed).to(at::kBFloat16));
  e.audio = engine::blob_from_tensor(at::zeros({rows, 2}, at::kFloat));
  return e;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("ff_stage_placement_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { std::error_code ec; fs::remove_all(path, ec); }
};

}  // namespace

TEST_CASE("block fields: every checkpoint tensor of a block is a named field; the round trip shares storage") {
  auto m = test::tiny_stage(1);
  auto& blk = m.weights.blocks[1];
  std::set<std::string> fields;
  for (const auto& [name, t] : video::transformer_block_fields(blk)) fields.insert(name);
  const std::string prefix = "model.diffusion_model.transformer_blocks.1.";
  const auto slots = video::block_slots(blk, m.config, "model.diffusion_model.", 1);
  for (const auto& s : slots) CHECK_MESSAGE(fields.count(s.name.substr(prefix.size())) == 1, s.name);

  const auto b = video::transformer_block_tensors(blk);
  CHECK(b.size() == slots.size());  // undefined biases (the MLP's) are left out
  CHECK(b.get("attn2.to_k.weight").data_ptr() == blk.attn2.to_k.weight.data_ptr());
  const auto back = video::transformer_block_from(b);
  CHECK(back.ff_down.weight.data_ptr() == blk.ff_down.weight.data_ptr());
  CHECK(back.attn1.q_norm.data_ptr() == blk.attn1.q_norm.data_ptr());
  CHECK_FALSE(back.ff_up.bias.defined());
}

TEST_CASE("streamed velocity: bitwise equal to resident with no, a partial and a full resident prefix") {
  const auto m = test::tiny_stage(5, six_layers());
  auto backend = rt::make_backend("cpu", int64_t(1) << 30);
  auto store = video::make_transformer_block_store("stage1_transformer", *backend, m.weights.blocks);
  REQUIRE(store->size() == kLayers);
  const video::LatentGrid grid{3, 4, 8, 2, 4};
  const auto x = latent_for(grid, 7);
  const auto ctx = randn({1, 5, 12}, 8);
  const auto resident = video::resident_velocity(m, grid);
  const auto want = resident(x, 0.7, ctx);

  std::vector<rt::PassTimings> passes;
  auto streamed = video::streamed_velocity(m.config, m.weights.globals, *store, grid, 3,
                                           [&](const rt::PassTimings& t) { passes.push_back(t); });
  for (int prefix : {0, 2, kLayers}) {
    CAPTURE(prefix);
    store->set_resident_prefix(prefix);
    passes.clear();
    const auto got = streamed(x, 0.7, ctx);
    CHECK(at::equal(got, want));
    REQUIRE(passes.size() == 1);
    CHECK(passes[0].copied_bytes == sum_block_bytes(*store, prefix));
  }
  // Another time and context change the result: the comparison above is not vacuous.
  CHECK_FALSE(at::equal(streamed(x, 0.3, ctx), want));
  store->set_resident_prefix(0);
  CHECK(backend->meter().snapshot().allocated_bytes == 0);  // ring and prefix given back
}

TEST_CASE("transformer stages: stream keeps only the globals on the device and counts streamed bytes") {
  auto models = tiny_models();
  const auto reference = tiny_models();
  auto backend = rt::make_backend("cpu", int64_t(1) << 30);
  engine::StagePlacementOptions o;
  o.stage1 = rt::Placement::kStream;
  o.stage2 = rt::Placement::kStream;
  o.log_plans = false;
  engine::TransformerStages stages(models, *backend, o);
  CHECK(models.stage1.weights.blocks.empty());
  CHECK(models.stage2.weights.blocks.empty());
  const int64_t globals = video::slot_bytes(video::global_slots(models.stage1.weights.globals, models.stage1.config, "")) +
                          video::slot_bytes(video::global_slots(models.stage2.weights.globals, models.stage2.config, ""));
  CHECK(stages.device_weight_bytes() == globals);
  CHECK(backend->meter().snapshot().allocated_bytes == globals);

  const auto job = tiny_stage_job(models);
  const auto x = latent_for(job.grids.stage2, 3);
  const auto ctx = randn({1, 6, 12}, 4);
  auto v = stages.velocity(2, job);
  CHECK(at::equal(v(x, 0.5, ctx), video::resident_velocity(reference.stage2, job.grids.stage2)(x, 0.5, ctx)));
  v(x, 0.25, ctx);
  const auto s = stages.stats().at("stage2_transformer");
  CHECK(s.placement == "stream");
  CHECK(s.resident_blocks == 0);
  CHECK(s.total_blocks == kLayers);
  CHECK(s.streamed_bytes_total == 2 * sum_block_bytes(*stages.store(2), 0));
  CHECK(stages.stats().at("stage1_transformer").streamed_bytes_total == 0);
  // Stage 2's plan leaves the decode phase the room it says it needs.
  CHECK(stages.last_plan(2).later_bytes == 0);
  auto decode_job = job;
  decode_job.decode_extra_bytes = 12345;
  stages.velocity(2, decode_job);
  CHECK(stages.last_plan(2).later_bytes == 12345);
}

TEST_CASE("transformer stages: auto under a tight budget keeps a partial prefix and stays bitwise equal") {
  auto models = tiny_models();
  const auto reference = tiny_models();
  auto backend = rt::make_backend("cpu", int64_t(1) << 30);
  engine::StagePlacementOptions o;
  o.stage1 = rt::Placement::kAuto;
  o.stage2 = rt::Placement::kStream;
  o.log_plans = false;
  engine::TransformerStages stages(models, *backend, o);
  const auto job = tiny_stage_job(models);
  const auto x = latent_for(job.grids.stage1, 5);
  const auto ctx = randn({1, 6, 12}, 6);
  const auto want = video::resident_velocity(reference.stage1, job.grids.stage1)(x, 0.9, ctx);

  // Everything fits: fully resident, nothing streamed.
  {
    auto v = stages.velocity(1, job);
    CHECK(stages.last_plan(1).resident_blocks == kLayers);
    CHECK(at::equal(v(x, 0.9, ctx), want));
    CHECK(stages.stats().at("stage1_transformer").streamed_bytes_total == 0);
    CHECK(stages.stats().at("stage1_transformer").placement == "auto:6/6");
  }
  // Raise the cap (the budget) from tight to loose until the plan keeps some but not all blocks.
  const int64_t block = stages.store(1)->block_bytes(0);
  const int64_t base = stages.device_weight_bytes() - stages.store(1)->resident_bytes();
  int prefix = -1;
  bool refused = false;
  for (int64_t cap = base; cap < base + 64 * block + (int64_t(1) << 24) && prefix < 0; cap += block / 4) {
    backend->cap_allocations(cap);
    try {
      auto v = stages.velocity(1, job);
      const auto& plan = stages.last_plan(1);
      if (plan.resident_blocks > 0 && plan.resident_blocks < kLayers) {
        prefix = plan.resident_blocks;
        CHECK(stages.store(1)->resident_prefix() == prefix);
        const int64_t before = stages.stats().at("stage1_transformer").streamed_bytes_total;
        CHECK(at::equal(v(x, 0.9, ctx), want));
        const auto s = stages.stats().at("stage1_transformer");
        CHECK(s.placement == "auto:" + std::to_string(prefix) + "/6");
        CHECK(s.resident_blocks == prefix);
        CHECK(s.streamed_bytes_total - before == sum_block_bytes(*stages.store(1), prefix));
      }
    } catch (const engine::encode::VramBudgetError& e) {
      refused = true;  // too tight even streamed: refused with the plan, nothing changed
      CHECK(std::string(e.what()).find("stage1_transformer does not fit the VRAM budget") != std::string::npos);
    }
  }
  CHECK(refused);
  REQUIRE(prefix > 0);
}

TEST_CASE("transformer stages: auto falls back to streaming when uploading its planned prefix runs out of memory") {
  // The planner is told a large budget while the device (the meter's cap) holds much less, so the
  // fully resident plan "fits" but its upload fails part way.
  auto c = test::tiny_transformer_config();
  c.num_layers = 16;
  engine::VideoModels models = tiny_models(), reference = tiny_models();
  models.stage1 = test::tiny_stage(11, c);
  reference.stage1 = test::tiny_stage(11, c);
  auto backend = rt::make_backend("cpu", int64_t(1) << 30);
  engine::StagePlacementOptions o;
  o.stage1 = rt::Placement::kAuto;
  o.stage2 = rt::Placement::kStream;
  o.budget_bytes = int64_t(1) << 30;
  o.log_plans = false;
  engine::TransformerStages stages(models, *backend, o);
  const auto job = tiny_stage_job(models);
  const int64_t block = stages.store(1)->block_bytes(0);
  const int64_t working = video::stage_working_bytes(c, job.grids.stage1, job.context_rows, 4);
  const int64_t cap = backend->meter().snapshot().allocated_bytes + 3 * block + working + 1024;
  REQUIRE(cap < backend->meter().snapshot().allocated_bytes + 16 * block);
  backend->cap_allocations(cap);

  auto v = stages.velocity(1, job);
  CHECK(stages.store(1)->resident_prefix() == 0);
  CHECK(stages.last_plan(1).resident_blocks == 0);
  CHECK(stages.stats().at("stage1_transformer").placement == "auto:0/16");
  const auto x = latent_for(job.grids.stage1, 12);
  const auto ctx = randn({1, 6, 12}, 13);
  CHECK(at::equal(v(x, 0.6, ctx), video::resident_velocity(reference.stage1, job.grids.stage1)(x, 0.6, ctx)));
  CHECK(stages.stats().at("stage1_transformer").streamed_bytes_total == sum_block_bytes(*stages.store(1), 0));
}

TEST_CASE("engine config: stage transformers and vae_decoder accept resident, stream and auto; a bad value is refused") {
  auto parse = [](const std::string& placements) {
    return engine::parse_engine_config(R"({"output_root": "/o", "placements": {)" + placements + "}}", "t.json");
  };
  auto o = engine::video_placement_options(parse(R"("stage1_transformer": "stream", "stage2_transformer": "auto")"));
  CHECK((o.stage1 == rt::Placement::kStream));
  CHECK((o.stage2 == rt::Placement::kAuto));
  CHECK((o.decoder == rt::Placement::kResident));  // the default for the decoder
  o = engine::video_placement_options(parse(R"("stage2_transformer": "stream", "vae_decoder": "auto")"));
  CHECK((o.stage1 == rt::Placement::kResident));  // the default for the transformers
  CHECK((o.stage2 == rt::Placement::kStream));
  CHECK((o.decoder == rt::Placement::kAuto));
  auto c = parse(R"("vae_decoder": "stream")");
  c.vram_budget_bytes = 5000;
  o = engine::video_placement_options(c);
  CHECK((o.decoder == rt::Placement::kStream));
  CHECK(o.budget_bytes == 5000);
  CHECK(engine::plan_limits(o).budget_bytes == 5000);
  CHECK_THROWS_WITH_AS(parse(R"("vae_decoder": "sideways")"),
                       doctest::Contains("placement of 'vae_decoder' must be \"resident\", \"stream\" or \"auto\""),
                       std::invalid_argument);
}

TEST_CASE("generate: a whole tiny job with streamed and auto stages writes the same video as resident") {
  TempDir tmp;
  const auto resident_models = tiny_models();
  auto models = tiny_models();
  auto backend = rt::make_backend("cpu", int64_t(1) << 30);
  engine::StagePlacementOptions o;
  o.stage1 = rt::Placement::kStream;
  o.stage2 = rt::Placement::kAuto;
  o.log_plans = false;
  engine::TransformerStages stages(models, *backend, o);
  engine::StageVelocity fn = [&](int k, const engine::StageJob& j) { return stages.velocity(k, j); };

  proto::GenerateRequest req;
  req.job_id = 31;
  req.params.width = 32;
  req.params.height = 16;
  req.params.num_frames = 5;
  req.params.frame_rate = 12;
  req.params.num_inference_steps = 2;
  req.params.guidance_scale = 2.0;
  req.params.seed = 9;
  req.positive = embedding(6, 1);
  req.negative = embedding(3, 2);
  auto a = engine::run_generate(resident_models, req, (tmp.path / "resident").string(), at::kCPU, backend->meter(), {});
  auto b = engine::run_generate(models, fn, req, (tmp.path / "streamed").string(), at::kCPU, backend->meter(), {});
  const auto ya = test::read_y4m(a.video_path), yb = test::read_y4m(b.video_path);
  REQUIRE(ya.frames == 5);
  CHECK(yb.frame_y == ya.frame_y);
  const auto s = stages.stats();
  // Stage 1: 2 steps x 2 guidance branches; stage 2: 3 refinement steps, all blocks streamed.
  CHECK(s.at("stage1_transformer").streamed_bytes_total == 4 * sum_block_bytes(*stages.store(1), 0));
  CHECK(s.at("stage2_transformer").placement == "auto:6/6");
  CHECK(s.at("stage2_transformer").streamed_bytes_total == 0);
  CHECK(b.peak_vram_bytes.at("stage1_transformer") > a.peak_vram_bytes.at("stage1_transformer"));  // ring + working
}
