// Unit tests of the video math on tiny random weights (CPU, float32): patchify, the transformer,
// the two-stage sampler (determinism, guidance, cancellation) and the decoder.
#include "tests/video/torch_doctest.hpp"

#include "tests/video/tiny_model.hpp"
#include "worker/engine/video/transformer.hpp"

using namespace ff;

namespace {

video::LatentFormat tiny_format() { return {4, 2, 4}; }

video::VideoRequest tiny_request(int64_t seed) {
  video::VideoRequest r;
  r.width = 32;   // stage 1: 4x4 latent, stage 2: 8x8
  r.height = 32;
  r.num_frames = 5;  // 3 latent frames
  r.steps = 3;
  r.guidance = 3.0;
  r.seed = seed;
  return r;
}

at::Tensor context(int64_t rows, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  return at::randn({1, rows, 12}, g, at::TensorOptions().dtype(at::kFloat));
}

struct Run {
  at::Tensor latent;
  int velocity_calls = 0;
  std::vector<std::string> progress;
};

Run run_sampler(const video::StageModel& s1, const video::StageModel& s2, const video::VideoRequest& req,
                const at::Tensor& pos, const at::Tensor& neg, std::function<bool()> cancel = {}) {
  Run r;
  auto counting = [&r](const video::StageModel& m) -> video::VelocityFactory {
    return [&r, &m](const video::LatentGrid& g) -> video::VelocityFn {
      auto inner = video::resident_velocity(m, g);
      return [&r, inner](const at::Tensor& x, double s, const at::Tensor& c) {
        ++r.velocity_calls;
        return inner(x, s, c);
      };
    };
  };
  video::StepHooks hooks;
  hooks.cancelled = std::move(cancel);
  hooks.progress = [&r](const std::string& ph, int done, int total) {
    r.progress.push_back(ph + ":" + std::to_string(done) + "/" + std::to_string(total));
  };
  auto grids = video::stage_grids(req, tiny_format(), s1.config, s2.config);
  r.latent = video::sample_two_stage(counting(s1), counting(s2), grids, video::SamplerConfig{}, tiny_format(),
                                     req, s1.config, pos, neg, at::kCPU, hooks);
  return r;
}

}  // namespace

TEST_CASE("patchify and unpatchify round trip for spatial and temporal patches") {
  at::Generator g = at::detail::createCPUGenerator(1);
  auto x = at::randn({2, 3, 4, 6, 8}, g, at::TensorOptions().dtype(at::kFloat));
  for (auto [pt, p] : {std::pair<int64_t, int64_t>{1, 1}, {1, 2}, {2, 2}, {4, 1}}) {
    auto tokens = video::patchify(x, pt, p);
    CHECK(tokens.size(1) == (4 / pt) * (6 / p) * (8 / p));
    CHECK(tokens.size(2) == 3 * pt * p * p);
    video::LatentGrid grid{4, 6, 8, 1, 1};
    CHECK(at::equal(video::unpatchify(tokens, 3, grid, pt, p), x));
  }
  // Token 1 (patch 1x2x2) of sample 0 is w-patch index 1: latent columns 2..3 of rows 0..1.
  auto t = video::patchify(x, 1, 2);
  auto expect = x.index({0, at::indexing::Slice(), 0, at::indexing::Slice(0, 2), at::indexing::Slice(2, 4)});
  CHECK(at::equal(t[0][1], expect.reshape({-1})));
  CHECK_THROWS_AS(video::patchify(x, 3, 1), std::invalid_argument);
}

TEST_CASE("transformer: output shape, context and timestep both change the velocity") {
  auto m = video::StageModel(test::tiny_stage(7));
  video::LatentGrid grid{3, 4, 4, 2, 8};
  auto rope = video::rope_tables(m.config, grid, at::kCPU, at::kFloat);
  CHECK(rope.cos.sizes().vec() == std::vector<int64_t>{48, 8});
  at::Generator g = at::detail::createCPUGenerator(3);
  auto tokens = at::randn({1, 48, 4}, g, at::TensorOptions().dtype(at::kFloat));
  auto sig = at::full({1}, 0.5, at::kFloat);
  auto v1 = video::transformer_forward(m.weights, m.config, tokens, context(5, 1), sig, rope);
  CHECK(v1.sizes().vec() == std::vector<int64_t>{1, 48, 4});
  CHECK(at::isfinite(v1).all().item<bool>());
  auto v2 = video::transformer_forward(m.weights, m.config, tokens, context(5, 2), sig, rope);
  auto v3 = video::transformer_forward(m.weights, m.config, tokens, context(5, 1), at::full({1}, 0.9, at::kFloat), rope);
  CHECK_FALSE(at::allclose(v1, v2));
  CHECK_FALSE(at::allclose(v1, v3));
  // Wrong context width is a clear error.
  CHECK_THROWS_AS(video::transformer_forward(m.weights, m.config, tokens,
                                             at::zeros({1, 5, 7}, at::kFloat), sig, rope),
                  std::invalid_argument);
}

TEST_CASE("sampler: same seed gives the same latent, another seed another; all steps reported") {
  auto s1 = test::tiny_stage(11), s2 = test::tiny_stage(12);
  auto pos = context(6, 1), neg = context(4, 2);
  auto a = run_sampler(s1, s2, tiny_request(42), pos, neg);
  auto b = run_sampler(s1, s2, tiny_request(42), pos, neg);
  auto c = run_sampler(s1, s2, tiny_request(43), pos, neg);
  CHECK(a.latent.sizes().vec() == std::vector<int64_t>{1, 4, 3, 8, 8});
  CHECK(at::equal(a.latent, b.latent));
  CHECK_FALSE(at::allclose(a.latent, c.latent));
  // 3 guided stage-1 steps (2 calls each) + 3 unguided stage-2 steps.
  CHECK(a.velocity_calls == 3 * 2 + 3);
  CHECK(a.progress == std::vector<std::string>{"stage1:1/3", "stage1:2/3", "stage1:3/3", "stage2:1/3",
                                               "stage2:2/3", "stage2:3/3"});
  // Guidance 1 skips the negative pass and changes the result.
  auto req = tiny_request(42);
  req.guidance = 1.0;
  auto d = run_sampler(s1, s2, req, pos, neg);
  CHECK(d.velocity_calls == 3 + 3);
  CHECK_FALSE(at::allclose(a.latent, d.latent));
}

TEST_CASE("sampler: cancellation stops at a step boundary") {
  auto s1 = test::tiny_stage(11), s2 = test::tiny_stage(12);
  int checks = 0;
  int progress_at_cancel = -1;
  Run partial;
  try {
    run_sampler(s1, s2, tiny_request(1), context(6, 1), context(4, 2), [&] {
      ++checks;
      return checks == 5;  // the 5th boundary: stage 2 before its 2nd step
    });
    FAIL("expected video::Cancelled");
  } catch (const video::Cancelled& e) {
    CHECK(e.phase == "stage2");
    CHECK(e.step == 1);
    progress_at_cancel = checks;
  }
  CHECK(progress_at_cancel == 5);
  // Cancel before any step: no model call at all.
  Run none;
  int calls = 0;
  video::VelocityFn counting = [&](const at::Tensor& x, double, const at::Tensor&) { ++calls; return x; };
  video::StepHooks hooks;
  hooks.cancelled = [] { return true; };
  CHECK_THROWS_AS(video::euler_sample(counting, at::zeros({1}), {1.0, 0.5, 0.0}, at::zeros({1}), {}, 1.0, "stage1", hooks),
                  video::Cancelled);
  CHECK(calls == 0);
}

TEST_CASE("sampler: euler integrates a constant velocity exactly") {
  video::VelocityFn constant = [](const at::Tensor& x, double, const at::Tensor&) { return at::ones_like(x) * 2.0; };
  auto x = video::euler_sample(constant, at::zeros({3}), {1.0, 0.7, 0.2, 0.0}, at::zeros({1}), {}, 1.0, "s", {});
  CHECK(x[0].item<float>() == doctest::Approx(-2.0));
}

TEST_CASE("stage grids: sizes follow the VAE factors; bad requests name the field") {
  auto c = test::tiny_transformer_config();
  auto g = video::stage_grids(tiny_request(0), tiny_format(), c, c);
  CHECK(g.stage1.frames == 3);
  CHECK(g.stage1.height == 4);
  CHECK(g.stage2.width == 8);
  auto bad = [&](auto edit, const std::string& needle) {
    auto r = tiny_request(0);
    edit(r);
    try {
      video::stage_grids(r, tiny_format(), c, c);
      FAIL("expected InvalidRequest");
    } catch (const video::InvalidRequest& e) {
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  bad([](auto& r) { r.num_frames = 4; }, "num_frames");
  bad([](auto& r) { r.width = 36; }, "multiples of 8");
  bad([](auto& r) { r.steps = 0; }, "num_inference_steps");
  bad([](auto& r) { r.guidance = -1; }, "guidance_scale");
}

TEST_CASE("decoder: frames, size and range follow the config") {
  auto d = test::tiny_decoder_config();
  auto w = test::tiny_decoder(5, d);
  at::Generator g = at::detail::createCPUGenerator(9);
  auto latent = at::randn({1, 4, 3, 4, 5}, g, at::TensorOptions().dtype(at::kFloat));
  auto frames = video::decode_latent(w, d, latent);
  CHECK(frames.sizes().vec() == std::vector<int64_t>{1 + 2 * 2, 16, 20, 3});
  CHECK((frames.scalar_type() == at::kByte));
  CHECK(frames.max().item<int>() > frames.min().item<int>());
  CHECK_THROWS_AS(video::decode_latent(w, d, at::zeros({1, 3, 3, 4, 4})), std::invalid_argument);
}
