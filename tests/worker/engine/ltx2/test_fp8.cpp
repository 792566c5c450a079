// FP8 weight storage (worker/engine/ltx2/fp8_storage.*) as ltx-core's fp8-cast policy: which
// Linears are stored as float8_e4m3fn (vs the downcast map's own choice, recorded in the lora
// fixture), plain-cast weights and biases, upcast per call. Without float8 (libtorch < 2.1) the
// functions must fail with the clear error.
#include "tests/worker/engine/doctest_torch.hpp"

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>

#include "common/json_fields.hpp"
#include "tests/worker/engine/parity.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/fp8_storage.hpp"
#include "worker/engine/runtime/torch_version.hpp"

using ff::test::error_of;

namespace {

using namespace ff::ltx2;
using ff::layers::Linear;

const std::string kFp8LoraFixture = std::string(FF_LTX2_FIXTURES) + "/lora.safetensors";

std::shared_ptr<const ff::io::SafetensorsFile> open_fp8_fixture() {
  REQUIRE_MESSAGE(std::filesystem::exists(kFp8LoraFixture),
                  "missing fixture " << kFp8LoraFixture << ": run tests/worker/engine/ltx2/reference/lora_reference.py --out tests/worker/engine/ltx2/fixtures");
  return ff::io::SafetensorsFile::open(kFp8LoraFixture);
}

}  // namespace

TEST_CASE("fp8: the selected Linears are ltx-core's TRANSFORMER_LINEAR_DOWNCAST_MAP's") {
  auto f = open_fp8_fixture();
  const auto probe = ff::json::parse(f->metadata().at("fp8_cast"), "test");
  size_t selected = 0;
  for (const auto& [name, v] : probe.items()) {
    CAPTURE(name);
    CHECK(is_fp8_cast_linear(name) == v.get<bool>());
    selected += v.get<bool>();
  }
  CHECK(selected > 0);
  CHECK(selected < probe.size());
  CHECK(is_fp8_cast_linear("transformer_blocks.3.audio_ff.net.0.proj"));
  CHECK(!is_fp8_cast_linear("transformer_blocks.3.attn1.to_gate_logits"));
  CHECK(!is_fp8_cast_linear("proj_out"));
}

TEST_CASE("fp8: weights and biases stored as float8_e4m3fn, upcast per call, as ltx-core's Fp8CastLinear") {
#if FF_TORCH_AT_LEAST(2, 1)
  REQUIRE(fp8_weights_supported());
  auto f = open_fp8_fixture();
  Linear q{f->copy("fp8.weight"), f->copy("fp8.bias")};
  Linear gate{q.weight, q.bias}, global{q.weight, q.bias};
  const std::vector<std::pair<std::string, Linear*>> linears = {
      {"transformer_blocks.0.attn1.to_q", &q},
      {"transformer_blocks.0.attn1.to_gate_logits", &gate},
      {"patchify_proj", &global}};
  const at::Tensor original = q.weight;
  CHECK(cast_linears_to_fp8(linears) == 1);
  CHECK((q.weight.scalar_type() == at::kFloat8_e4m3fn));
  CHECK((q.bias.scalar_type() == at::kFloat8_e4m3fn));
  CHECK((gate.weight.scalar_type() == at::kBFloat16));
  CHECK((global.bias.scalar_type() == at::kBFloat16));
  CHECK((original.scalar_type() == at::kBFloat16));  // the old tensor is untouched

  const at::Tensor x = f->copy("fp8.x");
  const at::Tensor y = ff::layers::linear(x, q);
  const at::Tensor want = f->copy("fp8.out");
  CHECK((y.scalar_type() == at::kBFloat16));
  const at::Tensor formula = at::linear(x, original.to(at::kFloat8_e4m3fn).to(at::kBFloat16),
                                        f->copy("fp8.bias").to(at::kFloat8_e4m3fn).to(at::kBFloat16));
  CHECK(at::equal(y, formula));
  const double e = (y.to(at::kDouble) - want.to(at::kDouble)).norm().item<double>() / want.to(at::kDouble).norm().item<double>();
  const double e_bf16 = (ff::layers::linear(x, global).to(at::kDouble) - want.to(at::kDouble)).norm().item<double>() /
                        want.to(at::kDouble).norm().item<double>();
  MESSAGE("fp8 linear vs ltx-core Fp8CastLinear rel err " << e << " (unquantized bf16 vs it: " << e_bf16 << ")");
  CHECK(e <= 1e-2);
  CHECK(e_bf16 > e);  // the fixture really is the fp8 computation

  // A plain cast: round to nearest even, no scale.
  Linear probe{at::tensor({1.0625f, 1.1875f, -0.3f, 448.0f}).reshape({1, 4}), {}};
  cast_linears_to_fp8({{"transformer_blocks.1.ff.net.2", &probe}});
  const at::Tensor v = probe.weight.to(at::kFloat).flatten();
  CHECK(v[0].item<float>() == 1.0f);
  CHECK(v[1].item<float>() == 1.25f);
  CHECK(v[2].item<float>() == doctest::Approx(-0.3f).epsilon(0.07));
  CHECK(v[3].item<float>() == 448.0f);
#else
  CHECK(!fp8_weights_supported());
  Linear l{at::ones({2, 2}), {}};
  const std::string err = error_of([&] { cast_linears_to_fp8({{"transformer_blocks.0.attn1.to_q", &l}}); });
  CHECK(err.find("fp8 weights need libtorch >= 2.1") != std::string::npos);
  CHECK(error_of([] { require_fp8_weights(); }).find("fp8 weights need libtorch >= 2.1") != std::string::npos);
  CHECK((l.weight.scalar_type() == at::kFloat));
#endif
}
