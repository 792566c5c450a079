// GPU counterparts (label gpu; each test passes trivially with a message when there is no CUDA):
// the slot ring on real copy/compute streams gives the same embeddings as resident weights, the
// CUDA meter sees the phase peaks, and a capped allocator turns into a budget error, not an OOM.
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/encode/tiny_gemma.hpp"
#include "worker/engine/encode/encode_pipeline.hpp"
#include "worker/engine/encode/gemma_ltx_ops.hpp"
#include "worker/engine/runtime/block_pass.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/text/embeddings_processor.hpp"

using namespace ff::engine;

namespace {
constexpr int kGpuMaxLen = 24;

std::unique_ptr<encode::EncodePipeline> pipeline(const ff::test::TinyEncoder& t, rt::DeviceBackend& be, rt::Placement pl) {
  encode::PipelineOptions o;
  o.text_placement = o.processor_placement = pl;
  o.max_micro_batch = 2;
  o.log_plans = false;
  return std::make_unique<encode::EncodePipeline>(std::make_unique<encode::GemmaLtxOps>(t.gemma, t.processor, at::kBFloat16),
                                                  encode::build_gemma_ltx_weights(ff::test::tiny_source(t), t.gemma, be), be, o);
}
}  // namespace

TEST_CASE("gpu: streamed blocks through the CUDA slot ring arrive intact, in order") {
  if (!rt::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  auto be = rt::make_backend("cuda:0", 0);
  CHECK(be->host_pinned());
  std::vector<rt::BlockTensors> blocks;
  std::vector<rt::BlockLayout> layouts;
  for (int i = 0; i < 9; ++i) {
    rt::BlockTensors b;
    b.add("w", at::randn({1000 + i, 257}).to(at::kBFloat16));
    layouts.push_back(rt::BlockLayout::of(b));
    blocks.push_back(std::move(b));
  }
  rt::BlockStore store("t", *be, layouts);
  for (int i = 0; i < 9; ++i) store.fill(i, blocks[i]);
  for (int prefix : {0, 4, 9}) {
    store.set_resident_prefix(prefix);
    rt::BlockPass pass(store, 3);
    std::vector<at::Tensor> sums;
    for (int i = 0; i < 9; ++i) {
      const auto& w = pass.acquire(i);
      CHECK(w.get("w").is_cuda());
      sums.push_back(w.get("w").to(at::kFloat).sum());  // enqueued on the compute stream
      pass.release(i);
    }
    auto t = pass.finish();
    for (int i = 0; i < 9; ++i)
      CHECK(sums[i].item<float>() == doctest::Approx(blocks[i].get("w").to(at::kFloat).sum().item<float>()).epsilon(1e-3));
    int64_t streamed = 0;
    for (int i = prefix; i < 9; ++i) streamed += store.block_bytes(i);
    CHECK(t.copied_bytes == streamed);
    if (streamed > 0) CHECK(t.copy_seconds > 0);
  }
}

TEST_CASE("gpu: streamed, auto and resident encodes are bitwise identical and match the CPU reference") {
  if (!rt::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  auto be = rt::make_backend("cuda:0", 0);
  auto t = ff::test::tiny_encoder(at::kBFloat16, 31);
  auto prompts = ff::test::tiny_prompts({5, 24, 1, 13, 9}, 2);
  auto s = pipeline(t, *be, rt::Placement::kStream)->encode(prompts, kGpuMaxLen);
  auto r = pipeline(t, *be, rt::Placement::kResident)->encode(prompts, kGpuMaxLen);
  auto a = pipeline(t, *be, rt::Placement::kAuto)->encode(prompts, kGpuMaxLen);
  auto [ids, mask] = ff::test::padded_batch(prompts, kGpuMaxLen);
  auto ref = ff::text::encode_reference(t.gw, t.gemma, t.pw, t.processor, ids, mask);
  for (size_t i = 0; i < prompts.size(); ++i) {
    CHECK(at::equal(s[i].video, r[i].video));
    CHECK(at::equal(s[i].audio, r[i].audio));
    CHECK(at::equal(a[i].video, r[i].video));
    at::Tensor d = s[i].video.to(at::kDouble), e = ref.video[i].to(at::kDouble);
    CHECK(((d - e).norm() / e.norm()).item<double>() < 3e-2);
  }
}

TEST_CASE("gpu: phase peaks are measured, and a budget that cannot fit gives a budget error") {
  if (!rt::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  auto be = rt::make_backend("cuda:0", 0);
  auto t = ff::test::tiny_encoder(at::kBFloat16, 41);
  auto p = pipeline(t, *be, rt::Placement::kStream);
  auto prompts = ff::test::tiny_prompts({7, 20}, 5);
  p->encode(prompts, kGpuMaxLen);
  CHECK(p->last_call().text_peak_bytes > 0);
  CHECK(p->stats().at("text_encoder").streamed_bytes_total > 0);
  CHECK(p->stats().at("text_encoder").pinned_host_bytes > 0);
  // A budget just above what the process holds: planned as not fitting, a clear error.
  encode::PipelineOptions o = p->options();
  o.budget_bytes = be->meter().snapshot().allocated_bytes + 4096;
  p->set_options(o);
  CHECK_THROWS_AS(p->encode(ff::test::tiny_prompts({24, 24, 24, 24}, 6), kGpuMaxLen), rt::VramBudgetError);
  o.budget_bytes = 0;
  p->set_options(o);
  CHECK(p->encode(prompts, kGpuMaxLen).size() == 2);  // keeps serving
}
