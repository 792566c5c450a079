// The encode pipeline over the real Gemma-3 / LTX math (worker/engine/text's functions), tiny random
// weights, CPU: trimmed streamed passes match the resident padded reference (encode_reference),
// bitwise across placements, within bf16 tolerance in bf16.
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/encode/tiny_gemma.hpp"
#include "worker/engine/encode/encode_pipeline.hpp"
#include "worker/engine/encode/gemma_ltx_ops.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/text/embeddings_processor.hpp"

using namespace ff::engine;

namespace {

constexpr int kGemmaMaxLen = 24;

double rel_err(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor x = a.to(at::kDouble), y = b.to(at::kDouble);
  return ((x - y).norm() / y.norm().clamp_min(1e-30)).item<double>();
}

std::vector<encode::EncodedPrompt> run(const ff::test::TinyEncoder& t, at::ScalarType dtype, rt::Placement pl,
                                       int mb, const std::vector<std::vector<int32_t>>& prompts, bool trim = true) {
  auto be = rt::make_cpu_backend(1ll << 30);
  encode::PipelineOptions o;
  o.text_placement = o.processor_placement = pl;
  o.max_micro_batch = mb;
  o.trim_windows = trim;
  o.log_plans = false;
  encode::EncodePipeline p(std::make_unique<encode::GemmaLtxOps>(t.gemma, t.processor, dtype),
                           encode::build_gemma_ltx_weights(ff::test::tiny_source(t), t.gemma, *be), *be, o);
  return p.encode(prompts, kGemmaMaxLen);
}

void compare_to_reference(at::ScalarType dtype, double tol) {
  auto t = ff::test::tiny_encoder(dtype, 11);
  auto prompts = ff::test::tiny_prompts({5, 24, 1, 13, 9, 7}, 3);
  auto [ids, mask] = ff::test::padded_batch(prompts, kGemmaMaxLen);
  ff::text::PromptContexts ref = ff::text::encode_reference(t.gw, t.gemma, t.pw, t.processor, ids, mask);
  auto out = run(t, dtype, rt::Placement::kStream, 2, prompts);
  REQUIRE(out.size() == prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    CHECK(out[i].video.sizes() == ref.video[i].sizes());
    CHECK(out[i].audio.sizes() == ref.audio[i].sizes());
    const double ev = rel_err(out[i].video, ref.video[i]), ea = rel_err(out[i].audio, ref.audio[i]);
    INFO("prompt " << i << " video rel err " << ev << " audio rel err " << ea);
    CHECK(ev < tol);
    CHECK(ea < tol);
  }
}

}  // namespace

TEST_CASE("streamed, trimmed micro-batches match the padded resident reference (fp32)") {
  compare_to_reference(at::kFloat, 1e-4);
}

TEST_CASE("streamed, trimmed micro-batches match the padded resident reference (bf16 tolerance)") {
  compare_to_reference(at::kBFloat16, 3e-2);
}

TEST_CASE("resident, streamed and auto runs of the Gemma pipeline are bitwise identical") {
  auto t = ff::test::tiny_encoder(at::kBFloat16, 5);
  auto prompts = ff::test::tiny_prompts({3, 17, 24, 8}, 9);
  auto a = run(t, at::kBFloat16, rt::Placement::kResident, 4, prompts);
  auto b = run(t, at::kBFloat16, rt::Placement::kStream, 4, prompts);
  auto c = run(t, at::kBFloat16, rt::Placement::kAuto, 4, prompts);
  for (size_t i = 0; i < prompts.size(); ++i) {
    CHECK(at::equal(a[i].video, b[i].video));
    CHECK(at::equal(a[i].audio, b[i].audio));
    CHECK(at::equal(a[i].video, c[i].video));
  }
}

TEST_CASE("trimmed windows match the padded computation of the same pipeline (bf16 tolerance)") {
  auto t = ff::test::tiny_encoder(at::kBFloat16, 8);
  auto prompts = ff::test::tiny_prompts({2, 11, 6, 19}, 4);
  auto trimmed = run(t, at::kBFloat16, rt::Placement::kStream, 4, prompts, true);
  auto padded = run(t, at::kBFloat16, rt::Placement::kStream, 4, prompts, false);
  for (size_t i = 0; i < prompts.size(); ++i) {
    CHECK(rel_err(trimmed[i].video, padded[i].video) < 3e-2);
    CHECK(rel_err(trimmed[i].audio, padded[i].audio) < 3e-2);
  }
}

