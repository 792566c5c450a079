// The parity checks of test_text_parity on a CUDA device (torch >= 2.1 builds take the fused
// scaled_dot_product_attention path there). Skips, passing, when libtorch has no CUDA device.
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/text/text_fixtures.hpp"

using namespace ff;
using namespace ff::text;
using ff::test::rel_err;
using ff::test::valid_rows;

namespace {
bool cuda() {
  if (at::hasCUDA()) return true;
  MESSAGE("no CUDA device: skipped");
  return false;
}
}  // namespace

TEST_CASE("Gemma-3 hidden states on CUDA match HF transformers") {
  if (!cuda()) return;
  ff::test::GemmaFixture f;
  for (const auto& r : f.runs()) {
    const std::string tag = r.tag;
    CAPTURE(tag);
    GemmaWeights w = to(f.bf16, at::Device(at::kCUDA), r.dtype);
    std::vector<at::Tensor> hs = gemma_hidden_states(w, f.ids.to(at::kCUDA), f.mask.to(at::kCUDA), f.cfg);
    REQUIRE(hs.size() == 7);
    for (size_t i = 0; i < hs.size(); ++i) {
      at::Tensor want = f.ck.view("expected_" + tag + ".hidden." + std::to_string(i));
      double e = rel_err(valid_rows(hs[i].cpu(), f.mask), valid_rows(want, f.mask));
      MESSAGE(tag << " hidden " << i << " rel err " << e);
      CHECK(e <= r.tol);
    }
  }
}

TEST_CASE("LTX-2.3 processor on CUDA matches ltx-core") {
  if (!cuda()) return;
  ff::test::LtxFixture f;
  for (const auto& r : f.runs()) {
    const std::string tag = r.tag;
    CAPTURE(tag);
    EmbeddingsProcessorWeights w = to(load_embeddings_processor(f.ck, *r.cfg), at::Device(at::kCUDA), r.dtype);
    std::vector<at::Tensor> hs;
    for (const auto& h : f.hidden(r.dtype)) hs.push_back(h.to(at::kCUDA));
    PromptContexts out = embeddings_processor_forward(w, hs, f.mask.to(at::kCUDA), *r.cfg);
    double ev = rel_err(out.video.cpu(), f.ck.view("expected_" + tag + ".video"));
    double ea = rel_err(out.audio.cpu(), f.ck.view("expected_" + tag + ".audio"));
    MESSAGE(tag << " video rel err " << ev << ", audio rel err " << ea);
    CHECK(ev <= r.tol);
    CHECK(ea <= r.tol);
  }
}
