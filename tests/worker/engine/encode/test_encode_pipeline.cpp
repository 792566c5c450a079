// The encode pipeline on the CPU backend with a toy encoder (tests/worker/engine/encode/toy_text_model.hpp):
// placements give bitwise-identical embeddings, trimmed windows match the padded computation,
// the micro-batch shrinks when a call does not fit, and a call that cannot fit is a clear
// VramBudgetError.
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/encode/toy_text_model.hpp"
#include "worker/engine/encode/encode_pipeline.hpp"
#include "worker/engine/encode/micro_batches.hpp"
#include "worker/engine/encode/working_set.hpp"
#include "worker/engine/runtime/device_backend.hpp"

// torch (glog) defines CHECK too: doctest's must win, so it comes last.

using namespace ff::engine;
using ff::test::ToySizes;
using ff::test::ToyTextModel;

namespace {

constexpr int kMaxLen = 24;

std::vector<std::vector<int32_t>> prompts_of(std::vector<int> lens, int seed) {
  std::vector<std::vector<int32_t>> out;
  for (size_t i = 0; i < lens.size(); ++i) {
    std::vector<int32_t> p{2};
    for (int t = 1; t < lens[i]; ++t) p.push_back(3 + (seed * 7 + int(i) * 13 + t * 5) % 37);
    out.push_back(p);
  }
  return out;
}

struct Run {
  std::vector<encode::EncodedPrompt> out;
  encode::CallReport report;
  std::map<std::string, ff::proto::ComponentStats> stats;
  int64_t ooms = 0;
};

Run run(encode::PipelineOptions opts, const std::vector<std::vector<int32_t>>& prompts,
        int64_t capacity = 1ll << 30) {
  auto be = rt::make_cpu_backend(capacity);
  ToySizes s;
  encode::EncodePipeline p(std::make_unique<ToyTextModel>(s), ff::test::toy_weights(s, *be, 7), *be, opts);
  Run r;
  r.out = p.encode(prompts, kMaxLen);
  r.report = p.last_call();
  r.stats = p.stats();
  r.ooms = p.ooms_avoided_total();
  return r;
}

encode::PipelineOptions opts(rt::Placement text, rt::Placement proc, int mb = 8) {
  encode::PipelineOptions o;
  o.text_placement = text;
  o.processor_placement = proc;
  o.max_micro_batch = mb;
  o.log_plans = false;
  return o;
}

}  // namespace

TEST_CASE("micro-batches: sorted longest first, windows trimmed to the longest, padded on request") {
  auto mbs = encode::plan_micro_batches({5, 20, 3, 9, 20}, 24, 2);
  REQUIRE(mbs.size() == 3);
  CHECK(mbs[0].prompts == std::vector<int>{1, 4});
  CHECK(mbs[0].window == 20);
  CHECK(mbs[1].prompts == std::vector<int>{3, 0});
  CHECK(mbs[1].window == 9);
  CHECK(mbs[1].first_position() == 15);
  CHECK(mbs[2].prompts == std::vector<int>{2});
  CHECK(mbs[2].tokens() == 3);
  auto padded = encode::plan_micro_batches({5, 20}, 24, 8, false);
  CHECK(padded[0].window == 24);
  CHECK_THROWS_AS(encode::plan_micro_batches({0}, 24, 2), std::invalid_argument);
  CHECK_THROWS_AS(encode::plan_micro_batches({25}, 24, 2), std::invalid_argument);
}

TEST_CASE("working set: fused kernels drop the stored attention scores and the fp32 norm copies") {
  encode::EncoderDims d;  // Gemma-3-12B text model, LTX-2.3 connectors, bf16
  d.hidden = 3840; d.intermediate = 15360; d.heads = 16; d.kv_heads = 8; d.head_dim = 256;
  d.video_dim = 4096; d.audio_dim = 2048; d.connector_width = 4096; d.connector_mlp = 16384;
  d.connector_heads = 32; d.compute_bytes = 2;
  const auto mbs = encode::plan_micro_batches({300, 250, 120, 20}, 1024, 4);
  REQUIRE(mbs.size() == 1);
  const int64_t layer_eager = encode::layer_transient_bytes(d, mbs[0]);
  const int64_t connector_eager = encode::connector_pass_bytes(d, mbs);
  d.attention_stores_scores = false;
  // scores (fp32) + probabilities (bf16) per head over the 300-column window, and over 1024 rows
  CHECK(layer_eager - encode::layer_transient_bytes(d, mbs[0]) == int64_t(4) * 16 * 300 * 300 * 6);
  CHECK(connector_eager - encode::connector_pass_bytes(d, mbs) == int64_t(4) * 32 * 1024 * 1024 * 6);
  const int64_t connector_fused_attention = encode::connector_pass_bytes(d, mbs);
  d.fused_norms = true;
  // per row: 8 x 4096 x (4 - 2) bytes of norm copies, 16384 x (3 x 2 + 4 - 2 x 2) of MLP copies
  CHECK(connector_fused_attention - encode::connector_pass_bytes(d, mbs) ==
        int64_t(4) * 1024 * (8 * 4096 * 2 + 16384 * 6));
}

TEST_CASE("resident, streamed and auto give bitwise-identical embeddings") {
  auto prompts = prompts_of({5, 17, 3, 24, 9, 11}, 1);
  Run res = run(opts(rt::Placement::kResident, rt::Placement::kResident), prompts);
  Run str = run(opts(rt::Placement::kStream, rt::Placement::kStream), prompts);
  Run aut = run(opts(rt::Placement::kAuto, rt::Placement::kAuto), prompts);
  REQUIRE(res.out.size() == prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    CHECK(res.out[i].real_tokens == int(prompts[i].size()));
    CHECK(res.out[i].video.sizes() == at::IntArrayRef({kMaxLen, 8}));
    CHECK(res.out[i].audio.sizes() == at::IntArrayRef({kMaxLen, 4}));
    CHECK(at::equal(res.out[i].video, str.out[i].video));
    CHECK(at::equal(res.out[i].audio, str.out[i].audio));
    CHECK(at::equal(res.out[i].video, aut.out[i].video));
    CHECK(res.out[i].video.isfinite().all().item<bool>());
  }
  CHECK(res.stats["text_encoder"].placement == "resident");
  CHECK(res.stats["text_encoder"].streamed_bytes_total == 0);
  CHECK(str.stats["text_encoder"].placement == "stream");
  CHECK(str.stats["text_encoder"].streamed_bytes_total > 0);
  CHECK(str.report.text_plan.resident_blocks == 0);
  CHECK(aut.stats["text_encoder"].placement == "auto:5/5");
  CHECK(str.stats["embeddings_processor"].streamed_bytes_total > 0);
}

TEST_CASE("a partly resident plan (auto under a tight budget) gives the same embeddings") {
  auto prompts = prompts_of({6, 13, 2}, 2);
  // One prompt per micro-batch in both runs, so a tight budget cannot change the grouping.
  Run res = run(opts(rt::Placement::kResident, rt::Placement::kResident, 1), prompts);
  // Find a capacity at which auto keeps only some text blocks resident.
  for (int64_t cap = 20000; cap < 400000; cap += 2000) {
    auto be = rt::make_cpu_backend(cap);
    ToySizes s;
    encode::EncodePipeline p(std::make_unique<ToyTextModel>(s), ff::test::toy_weights(s, *be, 7), *be,
                             opts(rt::Placement::kAuto, rt::Placement::kStream, 1));
    std::vector<encode::EncodedPrompt> out;
    try {
      out = p.encode(prompts, kMaxLen);
    } catch (const rt::VramBudgetError&) {
      continue;
    }
    const auto& plan = p.last_call().text_plan;
    if (plan.resident_blocks == 0 || plan.resident_blocks == plan.total_blocks) continue;
    MESSAGE("partial plan at capacity " << cap << ": " << plan.describe());
    CHECK(p.stats().at("text_encoder").streamed_bytes_total > 0);
    for (size_t i = 0; i < prompts.size(); ++i) CHECK(at::equal(out[i].video, res.out[i].video));
    return;
  }
  FAIL("no capacity gave a partly resident plan");
}

TEST_CASE("trimmed windows match the padded computation, pads outside the window as the reference") {
  auto prompts = prompts_of({4, 19, 7, 1, 12}, 3);
  auto o = opts(rt::Placement::kStream, rt::Placement::kStream, 2);
  Run trimmed = run(o, prompts);
  o.trim_windows = false;
  Run padded = run(o, prompts);
  CHECK(trimmed.report.window_tokens < padded.report.window_tokens);
  CHECK(padded.report.window_tokens == 5 * kMaxLen);
  for (size_t i = 0; i < prompts.size(); ++i) {
    CHECK(at::allclose(trimmed.out[i].video, padded.out[i].video, 1e-4, 1e-5));
    CHECK(at::allclose(trimmed.out[i].audio, padded.out[i].audio, 1e-4, 1e-5));
  }
}

TEST_CASE("results do not depend on the micro-batch size or the other prompts of the call") {
  auto prompts = prompts_of({4, 19, 7, 1, 12, 24, 3}, 4);
  Run one = run(opts(rt::Placement::kStream, rt::Placement::kStream, 1), prompts);
  Run many = run(opts(rt::Placement::kStream, rt::Placement::kStream, 8), prompts);
  Run alone = run(opts(rt::Placement::kStream, rt::Placement::kStream, 8), {prompts[2]});
  for (size_t i = 0; i < prompts.size(); ++i)
    CHECK(at::allclose(one.out[i].video, many.out[i].video, 1e-4, 1e-5));
  CHECK(at::allclose(alone.out[0].video, many.out[2].video, 1e-4, 1e-5));
  CHECK(many.report.micro_batches == 1);
  CHECK(one.report.micro_batches == 7);
}

TEST_CASE("connector batches merge text micro-batches, results equal per-micro-batch connectors") {
  auto prompts = prompts_of({4, 19, 7, 1, 12, 24, 3}, 4);
  auto merged_opts = opts(rt::Placement::kStream, rt::Placement::kStream, 2);
  merged_opts.max_connector_batch = 32;
  auto split_opts = merged_opts;
  split_opts.max_connector_batch = 1;  // never above the text micro-batch: 2 prompts per batch
  Run merged = run(merged_opts, prompts);
  Run split = run(split_opts, prompts);
  CHECK(merged.report.micro_batches == 4);
  CHECK(merged.report.connector_batch == 7);
  CHECK(split.report.connector_batch == 2);
  CHECK(merged.ooms == 0);
  for (size_t i = 0; i < prompts.size(); ++i) {
    CHECK(merged.out[i].real_tokens == static_cast<int>(prompts[i].size()));
    CHECK(at::allclose(merged.out[i].video, split.out[i].video, 1e-4, 1e-5));
    CHECK(at::allclose(merged.out[i].audio, split.out[i].audio, 1e-4, 1e-5));
  }
}

TEST_CASE("micro-batch shrinks when the call does not fit, and the result is the same") {
  auto prompts = prompts_of({20, 22, 24, 21, 23, 19, 24, 20}, 5);
  Run big = run(opts(rt::Placement::kStream, rt::Placement::kStream, 8), prompts);
  REQUIRE(big.ooms == 0);
  // Find the smallest capacity at which the call still completes: there, micro-batches shrank.
  int64_t lo = 1000, hi = 1ll << 24;
  while (hi - lo > 256) {
    const int64_t mid = (lo + hi) / 2;
    try {
      run(opts(rt::Placement::kStream, rt::Placement::kStream, 8), prompts, mid);
      hi = mid;
    } catch (const rt::VramBudgetError&) {
      lo = mid;
    }
  }
  Run tight = run(opts(rt::Placement::kStream, rt::Placement::kStream, 8), prompts, hi);
  CHECK(tight.ooms > 0);
  CHECK(tight.report.micro_batch < 8);
  CHECK(tight.report.ooms_avoided == tight.ooms);
  for (size_t i = 0; i < prompts.size(); ++i)
    CHECK(at::allclose(tight.out[i].video, big.out[i].video, 1e-4, 1e-5));
  // Below it: a clear budget error, not a crash.
  try {
    run(opts(rt::Placement::kStream, rt::Placement::kStream, 8), prompts, lo);
    FAIL("expected VramBudgetError");
  } catch (const rt::VramBudgetError& e) {
    CHECK(std::string(e.what()).find("VRAM budget") != std::string::npos);
  }
}

TEST_CASE("resident placement over the budget is a VramBudgetError, auto streams instead") {
  auto prompts = prompts_of({10, 3}, 6);
  Run st = run(opts(rt::Placement::kStream, rt::Placement::kStream), prompts);
  const int64_t cap = st.report.text_peak_bytes + 512;  // enough to stream, not to hold all blocks
  CHECK_THROWS_AS(run(opts(rt::Placement::kResident, rt::Placement::kStream), prompts, cap), rt::VramBudgetError);
  Run au = run(opts(rt::Placement::kAuto, rt::Placement::kStream), prompts, cap);
  CHECK(au.report.text_plan.resident_blocks < au.report.text_plan.total_blocks);
  CHECK(at::equal(au.out[0].video, st.out[0].video));
}

TEST_CASE("bad prompts are refused with a clear error") {
  auto be = rt::make_cpu_backend(1ll << 30);
  ToySizes s;
  encode::EncodePipeline p(std::make_unique<ToyTextModel>(s), ff::test::toy_weights(s, *be, 7), *be,
                           opts(rt::Placement::kAuto, rt::Placement::kAuto));
  CHECK_THROWS_AS(p.encode({{}}, kMaxLen), std::invalid_argument);
  CHECK_THROWS_AS(p.encode({{2, 40}}, kMaxLen), std::invalid_argument);
  CHECK_THROWS_AS(p.encode({{2, -1}}, kMaxLen), std::invalid_argument);
  CHECK_THROWS_AS(p.encode({std::vector<int32_t>(kMaxLen + 1, 3)}, kMaxLen), std::invalid_argument);
  CHECK(p.encode({}, kMaxLen).empty());
  CHECK(p.encode({{2, 5}}, kMaxLen).size() == 1);  // and it keeps serving
}
