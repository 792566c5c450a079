// Random preset weights (worker/engine/text/random_weights.*): what is written is what the loaders
// accept, sharded with an index, deterministic in the seed, and runs end to end through the
// padded reference encoder.
#include "tests/worker/engine/doctest_torch.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/worker/engine/temp_dir.hpp"
#include "worker/engine/io/checkpoint.hpp"
#include "worker/engine/io/gemma_config.hpp"
#include "worker/engine/text/embeddings_processor.hpp"
#include "worker/engine/text/gemma_model.hpp"
#include "worker/engine/text/random_weights.hpp"

using namespace ff;
using namespace ff::text;

namespace {
std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("tiny preset: sharded text encoder + processor load and encode end to end") {
  ff::test::TempDir d;
  RandomTextSide side = write_random_text_side("tiny", 7, d.path().string());
  const auto te = d.path() / "text_encoder";
  CHECK(std::filesystem::exists(te / "model-00001-of-00002.safetensors"));
  CHECK(std::filesystem::exists(te / "model-00002-of-00002.safetensors"));
  io::GemmaConfig g = io::load_gemma_config(te.string());
  CHECK(g.model_type == "gemma3");
  CHECK(g.vocab_size == 512);
  auto ck = io::Checkpoint::open(te.string());
  CHECK(ck.files().size() == 2);
  CHECK(gemma_weight_prefix(ck) == "language_model.model.");
  GemmaWeights gw = load_gemma_weights(ck, g);

  const json::Json ltx_config{{"transformer", side.transformer_keys}};
  EmbeddingsProcessorConfig pc = parse_embeddings_processor_config(ltx_config, g, "test");
  CHECK(side.video_dim == pc.video_dim);
  CHECK(side.audio_dim == pc.audio_dim);
  EmbeddingsProcessorWeights pw = embeddings_processor_from_tensors(side.processor_tensors, pc);

  // Two left-padded prompts of a 128-slot row (one register period).
  at::Tensor ids = at::zeros({2, 128}, at::kLong), mask = at::zeros({2, 128}, at::kLong);
  ids[0].narrow(0, 118, 10).copy_(at::arange(2, 12, at::kLong));
  mask[0].narrow(0, 118, 10).fill_(1);
  ids[1][127] = 2;
  mask[1][127] = 1;
  PromptContexts out = encode_reference(gw, g, pw, pc, ids, mask);
  CHECK((out.video.sizes() == at::IntArrayRef{2, 128, pc.video_dim}));
  CHECK((out.audio.sizes() == at::IntArrayRef{2, 128, pc.audio_dim}));
  CHECK(at::isfinite(out.video).all().item<bool>());
  CHECK(at::isfinite(out.audio).all().item<bool>());
  // The two prompts differ; each row is RMS-normalised (final weightless norm).
  CHECK_FALSE(at::allclose(out.video[0], out.video[1]));
  CHECK(at::allclose(out.video.pow(2).mean(-1), at::ones({2, 128}), 1e-3, 1e-3));
}

TEST_CASE("random weights are deterministic in the seed") {
  ff::test::TempDir a, b, c;
  io::GemmaConfig g = text_preset("tiny").gemma;
  write_random_text_encoder(a.path().string(), g, 11, at::kFloat, 3);
  write_random_text_encoder(b.path().string(), g, 11, at::kFloat, 3);
  write_random_text_encoder(c.path().string(), g, 12, at::kFloat, 3);
  for (const char* f : {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                        "model-00003-of-00003.safetensors", "model.safetensors.index.json", "config.json"}) {
    CAPTURE(f);
    CHECK(read_all(a.path() / f) == read_all(b.path() / f));
  }
  CHECK(read_all(a.path() / "model-00002-of-00003.safetensors") != read_all(c.path() / "model-00002-of-00003.safetensors"));
  // A tensor's values do not depend on the shard layout.
  ff::test::TempDir two;
  write_random_text_encoder(two.path().string(), g, 11, at::kFloat, 2);
  auto ck3 = io::Checkpoint::open(a.path().string());
  auto ck2 = io::Checkpoint::open(two.path().string());
  CHECK(at::equal(ck3.view("language_model.model.layers.4.mlp.up_proj.weight"),
                  ck2.view("language_model.model.layers.4.mlp.up_proj.weight")));
  CHECK_THROWS_AS(text_preset("gemma4"), std::invalid_argument);
}

TEST_CASE("gemma3-12b preset has the real sizes") {
  TextPreset p = text_preset("gemma3-12b");
  CHECK(p.gemma.hidden_size == 3840);
  CHECK(p.gemma.num_hidden_layers == 48);
  CHECK((p.dtype == at::kBFloat16));
  const json::Json ltx_config{{"transformer", p.transformer_keys}};
  EmbeddingsProcessorConfig pc = parse_embeddings_processor_config(ltx_config, p.gemma, "test");
  CHECK(pc.video_dim == 4096);
  CHECK(pc.audio_dim == 2048);
  CHECK(pc.flat_dim() == 188160);
  CHECK(pc.video.num_layers == 8);
  CHECK(pc.video.gated_attention);
  int64_t layer_params = 0;
  for (const auto& [_, shape] : gemma_layer_shapes(p.gemma)) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    layer_params += n;
  }
  CHECK(layer_params * 2 == 448297984);  // 427.5 MiB per decoder layer in bf16
}
