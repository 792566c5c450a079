// LoRA fusion and unfused deltas (worker/engine/ltx2/lora.*): the fused weights equal ltx-core's
// apply_loras (fixture from tests/worker/engine/ltx2/reference/lora_reference.py) bit for bit in bf16 and fp32;
// fused in bf16 equals ltx-core's formula written out here; fused and delta outputs agree within
// bf16 rounding; file and target errors name the file and key.
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/parity.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "common/json_fields.hpp"
#include "tests/worker/engine/temp_dir.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/io/safetensors_writer.hpp"
#include "worker/engine/ltx2/fp8_storage.hpp"
#include "worker/engine/ltx2/lora.hpp"
#include "worker/engine/runtime/torch_version.hpp"

using ff::test::rel_err;
using ff::test::error_of;

namespace {

using namespace ff::ltx2;
namespace io = ff::io;
using ff::layers::Linear;

const std::string kLoraFixture = std::string(FF_LTX2_FIXTURES) + "/lora.safetensors";

// A bf16 matmul as torch 2.x does it on CPU and CUDA: fp32 accumulation, rounded to bf16 once.
// (Used with scaled() below: torch 2.x's bf16 tensor * python float, computed in fp32, rounded once.)
at::Tensor bf16_matmul(const at::Tensor& x, const at::Tensor& y) {
  return at::matmul(x.to(at::kFloat), y.to(at::kFloat)).to(at::kBFloat16);
}

at::Tensor scaled(const at::Tensor& x, double s) { return (x.to(at::kFloat) * s).to(at::kBFloat16); }

bool same(const at::Tensor& a, const at::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() && at::equal(a, b);
}

// A LoRA file over `shapes` (name -> {out, in}) with random bf16 factors of rank r.
std::string write_lora(ff::test::TempDir& dir, const std::string& file,
                       const std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>>& shapes, int64_t r,
                       at::Generator& gen) {
  std::vector<std::pair<std::string, at::Tensor>> t;
  for (const auto& [name, oi] : shapes) {
    t.emplace_back("diffusion_model." + name + ".lora_A.weight",
                   (at::randn({r, oi.second}, gen) * 0.3).to(at::kBFloat16));
    t.emplace_back("diffusion_model." + name + ".lora_B.weight",
                   (at::randn({oi.first, r}, gen) * 0.05).to(at::kBFloat16));
  }
  const std::string path = dir.file(file);
  io::write_safetensors(path, t);
  return path;
}

struct Model {
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> shapes = {
      {"transformer_blocks.0.attn1.to_q", {48, 32}},
      {"transformer_blocks.0.ff.net.0.proj", {64, 32}},
      {"patchify_proj", {32, 16}}};
  std::vector<Linear> linears;
  NamedLinears named() {
    NamedLinears n;
    for (size_t i = 0; i < shapes.size(); ++i) n.emplace_back(shapes[i].first, &linears[i]);
    return n;
  }
  Model(at::ScalarType t, at::Generator& gen) {
    for (const auto& [name, oi] : shapes)
      linears.push_back({(at::randn({oi.first, oi.second}, gen) * 0.05).to(t), (at::randn({oi.first}, gen) * 0.1).to(t)});
  }
};

}  // namespace

TEST_CASE("lora: fused weights equal ltx-core's apply_loras bit for bit (bf16, fp32)") {
  REQUIRE_MESSAGE(std::filesystem::exists(kLoraFixture),
                  "missing fixture " << kLoraFixture << ": run tests/worker/engine/ltx2/reference/lora_reference.py --out tests/worker/engine/ltx2/fixtures");
  auto f = io::SafetensorsFile::open(kLoraFixture);
  const double strength = ff::json::parse(f->metadata().at("strength"), "test").get<double>();
  const auto names = ff::json::parse(f->metadata().at("names"), "test");
  // The fixture's LoRA part as its own file, laid out like the published one.
  ff::test::TempDir dir;
  std::vector<std::pair<std::string, at::Tensor>> lt;
  for (const auto& t : f->tensors())
    if (t.name.rfind("diffusion_model.", 0) == 0) lt.emplace_back(t.name, f->copy(t.name));
  const std::string path = dir.file("lora.safetensors");
  io::write_safetensors(path, lt);
  const Lora lora = open_lora(path);
  CHECK(lora.pairs.size() == names.size());
  CHECK(lora_bytes(lora) > 0);

  for (const std::string tag : {"bf16", "f32"}) {
    CAPTURE(tag);
    std::vector<Linear> ls;
    NamedLinears named;
    ls.reserve(names.size());
    for (const auto& n : names) ls.push_back({f->copy("model_" + tag + "." + n.get<std::string>() + ".weight"), {}});
    for (size_t i = 0; i < ls.size(); ++i) named.emplace_back(names[i].get<std::string>(), &ls[i]);
    LoraApply how;
    how.strength = strength;
    CHECK(fuse_lora(lora, named, how) == ls.size());
    for (size_t i = 0; i < ls.size(); ++i) {
      const std::string n = named[i].first;
      CAPTURE(n);
      const at::Tensor want = f->copy("fused_" + tag + "." + n + ".weight");
      CHECK((ls[i].weight.scalar_type() == want.scalar_type()));
      const double e = rel_err(ls[i].weight, want);
      MESSAGE(tag << " " << n << " fused vs ltx-core rel err " << e);
      CHECK(same(ls[i].weight, want));
    }
  }
}

TEST_CASE("lora: fused bf16 equals ltx-core's rule written out, fused and delta outputs agree") {
  at::Generator gen = at::detail::createCPUGenerator(11);
  ff::test::TempDir dir;
  Model m(at::kBFloat16, gen);
  const std::string path = write_lora(dir, "l.safetensors", m.shapes, 8, gen);
  const Lora lora = open_lora(path);
  const double s = 0.8;
  Model fused = m, delta = m;
  LoraApply how;
  how.strength = s;
  CHECK(fuse_lora(lora, fused.named(), how) == 3);
  CHECK(attach_lora_delta(lora, delta.named(), how) == 3);
  for (size_t i = 0; i < m.shapes.size(); ++i) {
    const std::string& n = m.shapes[i].first;
    CAPTURE(n);
    const LoraFactors& lf = lora.pairs.at(n);
    // ltx-core: d = matmul(B.bf16 * s, A.bf16) in bf16 (fp32 accumulation, one rounding, as
    // torch 2.x computes it); d += W (bf16); W' = d.
    at::Tensor d = bf16_matmul(scaled(lf.b, s), lf.a.to(at::kBFloat16));
    d.add_(m.linears[i].weight);
    CHECK(same(fused.linears[i].weight, d));
    CHECK(!same(fused.linears[i].weight, m.linears[i].weight));  // the delta is visible
    // The original weight tensor was not written.
    CHECK(delta.linears[i].weight.data_ptr() == m.linears[i].weight.data_ptr());
    CHECK(delta.linears[i].lora_scale == s);
    const at::Tensor x = at::randn({5, m.shapes[i].second.second}, gen).to(at::kBFloat16);
    const at::Tensor yf = ff::layers::linear(x, fused.linears[i]);
    const at::Tensor yd = ff::layers::linear(x, delta.linears[i]);
    const at::Tensor y32 = ff::layers::linear(
        x.to(at::kFloat), Linear{m.linears[i].weight.to(at::kFloat) +
                                     s * at::matmul(lf.b.to(at::kFloat), lf.a.to(at::kFloat)),
                                 m.linears[i].bias.to(at::kFloat)});
    const double e = rel_err(yf, yd), ef = rel_err(yf, y32), ed = rel_err(yd, y32);
    MESSAGE(n << ": fused vs delta " << e << ", fused vs fp32 " << ef << ", delta vs fp32 " << ed);
    CHECK(e < 2e-2);
    CHECK(ef < 1e-2);
    CHECK(ed < 1e-2);
  }
  // Attaching twice is refused; detaching clears.
  CHECK(error_of([&] { attach_lora_delta(lora, delta.named(), how); }).find("already carries") != std::string::npos);
  detach_lora_delta(delta.named());
  CHECK(!delta.linears[0].lora_a.defined());
  CHECK(same(ff::layers::linear(at::ones({1, 32}, at::kBFloat16), delta.linears[0]),
             ff::layers::linear(at::ones({1, 32}, at::kBFloat16), m.linears[0])));
}

TEST_CASE("lora: fp32 weights come back bf16-rounded, as ltx-core's bf16 fuse rule returns them") {
  at::Generator gen = at::detail::createCPUGenerator(12);
  ff::test::TempDir dir;
  Model m(at::kFloat, gen);
  const Lora lora = open_lora(write_lora(dir, "l.safetensors", m.shapes, 4, gen));
  Model fused = m;
  fuse_lora(lora, fused.named());
  for (size_t i = 0; i < m.shapes.size(); ++i) {
    const at::Tensor& w = fused.linears[i].weight;
    CHECK((w.scalar_type() == at::kFloat));
    CHECK(same(w, w.to(at::kBFloat16).to(at::kFloat)));
    const LoraFactors& lf = lora.pairs.at(m.shapes[i].first);
    at::Tensor d = bf16_matmul(scaled(lf.b, 1.0), lf.a.to(at::kBFloat16));
    d.add_(m.linears[i].weight);  // fp32 added into the bf16 accumulator: one rounding
    CHECK(same(w, d.to(at::kFloat)));
  }
}

TEST_CASE("lora: file and target errors name the file and the key") {
  at::Generator gen = at::detail::createCPUGenerator(13);
  ff::test::TempDir dir;
  Model m(at::kBFloat16, gen);
  const auto a = (at::randn({4, 32}, gen)).to(at::kBFloat16);
  const auto b = (at::randn({48, 4}, gen)).to(at::kBFloat16);
  const std::string q = "diffusion_model.transformer_blocks.0.attn1.to_q";

  // Incomplete pair.
  const std::string half = dir.file("half.safetensors");
  io::write_safetensors(half, {{q + ".lora_A.weight", a}});
  std::string err = error_of([&] { open_lora(half); });
  CAPTURE(err);
  CHECK(err.find(half) != std::string::npos);
  CHECK(err.find(q + ".lora_B.weight") != std::string::npos);

  // A key that is not a LoRA factor.
  const std::string odd = dir.file("odd.safetensors");
  io::write_safetensors(odd, {{q + ".lora_A.weight", a}, {q + ".lora_B.weight", b}, {q + ".alpha", at::ones({1})}});
  err = error_of([&] { open_lora(odd); });
  CHECK(err.find(odd) != std::string::npos);
  CHECK(err.find(q + ".alpha") != std::string::npos);

  // Ranks that differ.
  const std::string rank = dir.file("rank.safetensors");
  io::write_safetensors(rank, {{q + ".lora_A.weight", a}, {q + ".lora_B.weight", at::zeros({48, 5}, at::kBFloat16)}});
  err = error_of([&] { open_lora(rank); });
  CHECK(err.find(rank) != std::string::npos);
  CHECK(err.find("ranks") != std::string::npos);

  // Shapes that do not fit the target Linear (in 32 expected, A has 16).
  const std::string shape = dir.file("shape.safetensors");
  io::write_safetensors(shape, {{q + ".lora_A.weight", at::zeros({4, 16}, at::kBFloat16)}, {q + ".lora_B.weight", b}});
  const Lora ls = open_lora(shape);
  Model before = m;
  err = error_of([&] { fuse_lora(ls, m.named()); });
  CHECK(err.find(shape) != std::string::npos);
  CHECK(err.find(q + ".lora_A.weight") != std::string::npos);
  CHECK(!error_of([&] { attach_lora_delta(ls, m.named()); }).empty());
  CHECK(!m.linears[0].lora_a.defined());

  // A target that is not one of the Linears; skipped only when asked.
  const std::string unknown = dir.file("unknown.safetensors");
  const std::string c = "diffusion_model.video_embeddings_connector.transformer_1d_blocks.0.attn1.to_q";
  io::write_safetensors(unknown, {{q + ".lora_A.weight", a}, {q + ".lora_B.weight", b},
                                  {c + ".lora_A.weight", a}, {c + ".lora_B.weight", b}});
  const Lora lu = open_lora(unknown);
  err = error_of([&] { fuse_lora(lu, m.named()); });
  CHECK(err.find(unknown) != std::string::npos);
  CHECK(err.find(c + ".lora_A.weight") != std::string::npos);
  CHECK(same(m.linears[0].weight, before.linears[0].weight));  // nothing changed before the error
  LoraApply skip;
  skip.skip_prefixes = {"video_embeddings_connector."};
  CHECK(fuse_lora(lu, m.named(), skip) == 1);
}

TEST_CASE("lora: fusing into fp8-stored weights (after cast_linears_to_fp8)") {
#if FF_TORCH_AT_LEAST(2, 1)
  at::Generator gen = at::detail::createCPUGenerator(14);
  ff::test::TempDir dir;
  Model m(at::kBFloat16, gen);
  const Lora lora = open_lora(write_lora(dir, "l.safetensors", m.shapes, 4, gen));
  Model q = m;
  CHECK(cast_linears_to_fp8(q.named()) == 2);  // the two block Linears, not patchify_proj
  Model fused = q;
  fuse_lora(lora, fused.named());
  for (size_t i = 0; i < m.shapes.size(); ++i) {
    const LoraFactors& lf = lora.pairs.at(m.shapes[i].first);
    at::Tensor d = bf16_matmul(lf.b.to(at::kBFloat16), lf.a.to(at::kBFloat16));
    const at::Tensor& w = q.linears[i].weight;
    const bool fp8 = w.scalar_type() == at::kFloat8_e4m3fn;
    d.add_(fp8 ? w.to(at::kBFloat16) : w);
    CHECK((fused.linears[i].weight.scalar_type() == w.scalar_type()));
    CHECK((same(fused.linears[i].weight.to(at::kFloat), d.to(w.scalar_type()).to(at::kFloat))));
  }
  // And against ltx-core's fp8-cast fuse rule (fixture).
  REQUIRE_MESSAGE(std::filesystem::exists(kLoraFixture), "missing fixture " << kLoraFixture);
  auto f = io::SafetensorsFile::open(kLoraFixture);
  const auto names = ff::json::parse(f->metadata().at("names"), "test");
  std::vector<std::pair<std::string, at::Tensor>> lt;
  for (const auto& t : f->tensors())
    if (t.name.rfind("diffusion_model.", 0) == 0) lt.emplace_back(t.name, f->copy(t.name));
  io::write_safetensors(dir.file("fx.safetensors"), lt);
  const Lora fl = open_lora(dir.file("fx.safetensors"));
  std::vector<Linear> ls;
  NamedLinears named;
  ls.reserve(names.size());
  for (const auto& n : names) ls.push_back({f->copy("model_bf16." + n.get<std::string>() + ".weight"), {}});
  for (size_t i = 0; i < ls.size(); ++i) named.emplace_back(names[i].get<std::string>(), &ls[i]);
  cast_linears_to_fp8(named);
  LoraApply how;
  how.strength = ff::json::parse(f->metadata().at("strength"), "test").get<double>();
  fuse_lora(fl, named, how);
  for (size_t i = 0; i < ls.size(); ++i) {
    CAPTURE(named[i].first);
    CHECK(same(ls[i].weight.to(at::kFloat), f->copy("fused_fp8." + named[i].first + ".weight")));
  }
#else
  MESSAGE("libtorch " << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << " has no float8: fp8 fusion not built");
  CHECK(!fp8_weights_supported());
#endif
}
