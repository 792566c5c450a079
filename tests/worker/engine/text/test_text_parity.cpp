// Parity of the C++ Gemma-3 text model and LTX-2.3 embeddings processor with the Python
// references (HF transformers Gemma3TextModel; Lightricks ltx-core), on the small fixtures written
// by tests/worker/engine/text/reference/*.py: relative error (||a - b|| / ||b|| per tensor, over real tokens)
// <= 1e-4 in fp32 and <= 2e-2 in bf16. Also checks the properties the streamed encoder relies on:
// packed real-token rows give the padded results, and the feature extractor is separable per layer.
#include "tests/worker/engine/doctest_torch.hpp"

#include <string>

#include "common/json_fields.hpp"
#include "tests/worker/engine/temp_dir.hpp"
#include "worker/engine/io/safetensors_writer.hpp"
#include "worker/engine/io/checkpoint.hpp"
#include "worker/engine/text/embeddings_processor.hpp"
#include "worker/engine/text/gemma_model.hpp"
#include "tests/worker/engine/text/text_fixtures.hpp"

using namespace ff;
using namespace ff::text;
using ff::test::GemmaFixture;
using ff::test::LtxFixture;
using ff::test::rel_err;
using ff::test::valid_rows;

TEST_CASE("Gemma-3 hidden states match HF transformers in fp32 and bf16") {
  GemmaFixture f;
  REQUIRE(f.cfg.num_hidden_layers == 6);
  REQUIRE(f.cfg.sliding_window < f.ids.size(1));  // the window matters
  REQUIRE((f.bf16.embed_tokens.scalar_type() == at::kBFloat16));
  for (const auto& r : f.runs()) {
    const std::string tag = r.tag;
    CAPTURE(tag);
    GemmaWeights w = to(f.bf16, at::kCPU, r.dtype);
    std::vector<at::Tensor> hs = gemma_hidden_states(w, f.ids, f.mask, f.cfg);
    REQUIRE(hs.size() == 7);
    for (size_t i = 0; i < hs.size(); ++i) {
      CAPTURE(i);
      at::Tensor want = f.ck.view("expected_" + std::string(r.tag) + ".hidden." + std::to_string(i));
      CHECK((hs[i].scalar_type() == r.dtype));
      CHECK((hs[i].sizes() == want.sizes()));
      double e = rel_err(valid_rows(hs[i], f.mask), valid_rows(want, f.mask));
      MESSAGE(tag << " hidden " << i << " rel err " << e);
      CHECK(e <= r.tol);
      CHECK(at::isfinite(hs[i]).all().item<bool>());  // pad rows stay finite
    }
  }
}

TEST_CASE("Gemma-3 on packed real tokens with padded-row positions equals the padded run") {
  GemmaFixture f;
  GemmaWeights w = to(f.bf16, at::kCPU, at::kFloat);
  std::vector<at::Tensor> padded = gemma_hidden_states(w, f.ids, f.mask, f.cfg);
  const int64_t t = f.ids.size(1);
  for (int64_t b = 0; b < f.ids.size(0); ++b) {
    const int64_t n = f.mask[b].sum().item<int64_t>();
    at::Tensor ids = f.ids[b].narrow(0, t - n, n).unsqueeze(0);
    at::Tensor pos = at::arange(t - n, t, at::kLong).unsqueeze(0);  // positions in the padded row
    GemmaRope rope = gemma_rope(f.cfg, pos, at::kFloat);
    GemmaMask mask = gemma_mask(f.cfg, pos, at::ones({1, n}, at::kLong));
    at::Tensor x = gemma_embed(w.embed_tokens, ids, f.cfg);
    CHECK(rel_err(x[0], padded[0][b].narrow(0, t - n, n)) < 1e-6);
    for (int64_t l = 0; l < f.cfg.num_hidden_layers; ++l) {
      x = gemma_layer_forward(w.layers[l], x, l, rope, mask, f.cfg);
      at::Tensor got = l + 1 < f.cfg.num_hidden_layers ? x : gemma_final_norm(w.norm, x, f.cfg);
      CHECK(rel_err(got[0], padded[l + 1][b].narrow(0, t - n, n)) < 1e-5);
    }
  }
}

TEST_CASE("bad input: token ids outside the vocabulary") {
  GemmaFixture f;
  at::Tensor ids = f.ids.clone();
  ids[0][0] = f.cfg.vocab_size;
  CHECK_THROWS_WITH_AS(gemma_embed(f.bf16.embed_tokens, ids, f.cfg),
                       doctest::Contains("token id out of range [0, 96)"), std::invalid_argument);
}

TEST_CASE("LTX-2.3 feature extractor + connectors match ltx-core") {
  LtxFixture f;
  REQUIRE(f.cfg_a.video.gated_attention);
  REQUIRE((f.cfg_a.video.rope_type == LtxRopeType::Split));
  REQUIRE(f.cfg_a.video.float64_frequencies);
  REQUIRE((f.cfg_b.video.rope_type == LtxRopeType::Interleaved));
  for (const auto& r : f.runs()) {
    const std::string tag = r.tag;
    CAPTURE(tag);
    EmbeddingsProcessorWeights w = to(load_embeddings_processor(f.ck, *r.cfg), at::kCPU, r.dtype);
    PromptContexts out = embeddings_processor_forward(w, f.hidden(r.dtype), f.mask, *r.cfg);
    at::Tensor want_v = f.ck.view("expected_" + std::string(r.tag) + ".video");
    at::Tensor want_a = f.ck.view("expected_" + std::string(r.tag) + ".audio");
    REQUIRE((out.video.sizes() == want_v.sizes()));
    REQUIRE((out.audio.sizes() == want_a.sizes()));
    double ev = rel_err(out.video, want_v), ea = rel_err(out.audio, want_a);
    MESSAGE(tag << " video rel err " << ev << ", audio rel err " << ea);
    CHECK(ev <= r.tol);
    CHECK(ea <= r.tol);
  }
}

TEST_CASE("feature extractor: per-layer accumulation over packed real tokens equals the padded path") {
  LtxFixture f;
  EmbeddingsProcessorWeights w = to(load_embeddings_processor(f.ck, f.cfg_a), at::kCPU, at::kFloat);
  std::vector<at::Tensor> hs = f.hidden(at::kFloat);
  const int64_t b = f.mask.size(0), t = f.mask.size(1);
  // Padded: all B*T rows with a validity mask.
  ProjectionAccumulators padded = feature_accumulators(w.features, b * t, at::kCPU);
  for (int64_t l = 0; l < f.cfg_a.num_hidden_states; ++l)
    feature_accumulate_layer(padded, hs[l].reshape({b * t, -1}), f.mask.reshape({b * t}), l, w.features, f.cfg_a);
  // Packed: only the real tokens, layers folded in reverse order (order must not matter).
  at::Tensor sel = f.mask.reshape({b * t}).to(at::kBool);
  const int64_t n = sel.sum().item<int64_t>();
  ProjectionAccumulators packed = feature_accumulators(w.features, n, at::kCPU);
  for (int64_t l = f.cfg_a.num_hidden_states - 1; l >= 0; --l)
    feature_accumulate_layer(packed, hs[l].reshape({b * t, -1}).index({sel}), at::Tensor(), l, w.features, f.cfg_a);
  CHECK(rel_err(packed.video, padded.video.index({sel})) < 1e-6);
  CHECK(rel_err(packed.audio, padded.audio.index({sel})) < 1e-6);
  // Pad rows carry only the bias.
  at::Tensor pad_rows = padded.video.index({sel.logical_not()});
  CHECK(at::allclose(pad_rows, w.features.video.bias.unsqueeze(0).expand_as(pad_rows)));
  CHECK_THROWS_AS(feature_accumulate_layer(packed, hs[0].reshape({b * t, -1}), at::Tensor(), 0, w.features, f.cfg_a),
                  std::invalid_argument);
  CHECK_THROWS_AS(feature_accumulate_layer(packed, hs[0].reshape({b * t, -1}).index({sel}), at::Tensor(), 7,
                                           w.features, f.cfg_a),
                  std::invalid_argument);
}

TEST_CASE("connector rejects a sequence that is not a multiple of the registers") {
  LtxFixture f;
  EmbeddingsProcessorWeights w = to(load_embeddings_processor(f.ck, f.cfg_a), at::kCPU, at::kFloat);
  at::Tensor feats = at::zeros({1, 100, f.cfg_a.video_dim});
  CHECK_THROWS_WITH_AS(connector_forward(w.video, feats, at::full({1}, 10, at::kLong), f.cfg_a.video),
                       doctest::Contains("not a multiple of the 128 learnable registers"), std::invalid_argument);
}

TEST_CASE("bad input: LTX config without the V2 feature extractor, or with mismatched widths") {
  LtxFixture f;
  auto err = [&](const std::string& text) {
    try {
      parse_embeddings_processor_config(json::parse(text, "test"), f.gemma, "ltx.safetensors");
    } catch (const io::CheckpointError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(err(R"({"transformer": {"num_attention_heads": 2}})").find("LTX-2 (19B, V1) checkpoints are not supported") !=
        std::string::npos);
  json::Json cfg = json::parse(f.ck.metadata().at("config"), "fixture");
  cfg["transformer"]["connector_attention_head_dim"] = 8;
  CHECK(err(cfg.dump()).find("video connector width 16 (connector heads x head dim) != video projection width 32") !=
        std::string::npos);
  cfg = json::parse(f.ck.metadata().at("config"), "fixture");
  cfg["transformer"]["rope_type"] = "spiral";
  CHECK(err(cfg.dump()).find("unknown rope type 'spiral'") != std::string::npos);
}

namespace {

// Writes the fixture's Gemma weights under `prefix` (plus decoy vision/lm_head tensors) into one
// file in dir, optionally dropping or altering one tensor; returns the path.
std::string rewrite_gemma(const ff::test::TempDir& dir, const GemmaFixture& f, const std::string& prefix,
                          const std::string& drop = "", const std::string& as_f32 = "",
                          const std::string& reshape = "") {
  std::vector<std::pair<std::string, at::Tensor>> out;
  const std::string src = "language_model.model.";
  for (const auto& name : f.ck.names()) {
    if (name.rfind(src, 0) != 0) continue;
    std::string n = prefix + name.substr(src.size());
    if (n == drop) continue;
    at::Tensor t = f.ck.view(name);
    if (n == as_f32) t = t.to(at::kFloat);
    if (n == reshape) t = t.reshape({-1});
    out.emplace_back(n, t);
  }
  out.emplace_back("vision_tower.vision_model.embeddings.patch_embedding.weight", at::zeros({2, 3}));
  out.emplace_back("lm_head.weight", at::zeros({4}));
  std::string path = dir.file("gemma.safetensors");
  io::write_safetensors(path, out);
  return path;
}

std::string load_error(const std::string& path, const GemmaConfig& cfg) {
  try {
    load_gemma_weights(io::Checkpoint::open(path), cfg);
  } catch (const io::CheckpointError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("Gemma weights load under every HF prefix, vision tower and lm_head are ignored") {
  GemmaFixture f;
  for (const std::string prefix : {"model.language_model.", "language_model.model.", "model.", ""}) {
    CAPTURE(prefix);
    ff::test::TempDir d;
    auto ck = io::Checkpoint::open(rewrite_gemma(d, f, prefix));
    CHECK(gemma_weight_prefix(ck) == prefix);
    GemmaWeights w = load_gemma_weights(ck, f.cfg);
    CHECK(w.layers.size() == 6);
    CHECK(at::equal(w.layers[3].down_proj, f.bf16.layers[3].down_proj));
  }
}

TEST_CASE("bad input: Gemma checkpoint with a missing tensor names file and tensor") {
  GemmaFixture f;
  ff::test::TempDir d;
  std::string p = rewrite_gemma(d, f, "model.", "model.layers.3.mlp.up_proj.weight");
  std::string e = load_error(p, f.cfg);
  CHECK(e.find("gemma.safetensors: missing tensor 'model.layers.3.mlp.up_proj.weight'") != std::string::npos);
  ff::test::TempDir d2;
  p = rewrite_gemma(d2, f, "model.", "model.embed_tokens.weight");
  CHECK(load_error(p, f.cfg).find("missing tensor 'embed_tokens.weight' (looked under prefixes") != std::string::npos);
}

TEST_CASE("bad input: Gemma checkpoint with a wrong dtype or shape names file and tensor") {
  GemmaFixture f;
  ff::test::TempDir d;
  std::string p = rewrite_gemma(d, f, "model.", "", "model.layers.1.self_attn.k_norm.weight");
  CHECK(load_error(p, f.cfg).find(
            "gemma.safetensors: tensor 'model.layers.1.self_attn.k_norm.weight' has dtype F32, expected BF16") !=
        std::string::npos);
  ff::test::TempDir d2;
  p = rewrite_gemma(d2, f, "model.", "", "", "model.layers.2.self_attn.q_proj.weight");
  CHECK(load_error(p, f.cfg).find(
            "gemma.safetensors: tensor 'model.layers.2.self_attn.q_proj.weight' has shape [1024], expected [32, 32]") !=
        std::string::npos);
}
