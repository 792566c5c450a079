// The real framefarm-engine binary on the tiny published LTX-2.3 preset, driven over its ipc
// socket by a fake supervisor: make-weights, EngineHello, encode, generate (progress, the clip
// file), bad input, malformed frames, cancellation at a step boundary, Shutdown; streamed and
// auto stage transformers with their plans exported.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/clip_file.hpp"
#include "common/json_fields.hpp"
#include "tests/worker/engine/app/engine_child.hpp"

namespace fs = std::filesystem;
using namespace ff;
using namespace std::chrono_literals;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("ff_engine_proc_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { std::error_code ec; fs::remove_all(path, ec); }
};

int run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

proto::GenerateRequest job(int64_t id, const proto::PromptEmbedding& pos, const proto::PromptEmbedding& neg, int steps,
                           const fs::path& clips) {
  proto::GenerateRequest g;
  g.job_id = id;
  g.params.width = 128;
  g.params.height = 64;
  g.params.num_frames = 9;
  g.params.frame_rate = 8;
  g.params.num_inference_steps = steps;
  g.params.seed = 1234;
  g.positive = pos;
  g.negative = neg;
  g.clip_path = (clips / (std::to_string(id) + ".clip")).string();
  return g;
}

// The tiny model: make-weights, plus a stand-in tokenizer.model (the engine only checks that the
// supervisor's tokenizer is there; these requests carry token ids).
void make_model(const fs::path& model) {
  REQUIRE(run(std::string(FF_ENGINE_BIN) + " make-weights --preset tiny --seed 3 " + model.string() + " >/dev/null") == 0);
  std::ofstream(model / "gemma-3-12b-it-qat-q4_0-unquantized" / "tokenizer.model") << "stand-in";
}

// The engine config for the tiny model in `model` (its model.json) with extra top-level keys.
std::string engine_config(const fs::path& model, const fs::path& out_root, const std::string& extra = "") {
  std::ifstream in(model / "model.json");
  const std::string files((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return R"({"device": "cpu", "output_root": ")" + out_root.string() + R"(", "max_encode_batch": 4, "model": )" +
         files + extra + "}";
}

}  // namespace

TEST_CASE("framefarm-engine: usage errors exit 2 (serve, make-weights, check-model)") {
  CHECK(run(std::string(FF_ENGINE_BIN) + " make-weights --preset tiny /tmp/x 2>/dev/null") == 2);
  CHECK(run(std::string(FF_ENGINE_BIN) + " make-weights --preset huge --seed 1 /tmp/ff_nope_dir 2>/dev/null") == 1);
  CHECK(run(std::string(FF_ENGINE_BIN) + " serve --ipc tcp://x --config c 2>/dev/null") == 2);
  CHECK(run(std::string(FF_ENGINE_BIN) + " serve --ipc ipc:///tmp/x --model-dir d --config c 2>/dev/null") == 2);
  CHECK(run(std::string(FF_ENGINE_BIN) + " frobnicate 2>/dev/null") == 2);
  CHECK(run(std::string(FF_ENGINE_BIN) + " make-weights --preset tiny --seed 1x /tmp/x 2>/dev/null") == 2);
  CHECK(run(std::string(FF_ENGINE_BIN) + " make-weights --preset tiny --seed 1 /tmp/a /tmp/b 2>/dev/null") == 2);
  CHECK(run(std::string(FF_ENGINE_BIN) + " check-model 2>/dev/null") == 2);
  CHECK(run(std::string(FF_ENGINE_BIN) + " check-model --config a --model b 2>/dev/null") == 2);
  CHECK(run(std::string(FF_ENGINE_BIN) + " check-model --config 2>/dev/null") == 2);
  CHECK(run(std::string(FF_ENGINE_BIN) + " check-model --help >/dev/null") == 0);
}

TEST_CASE("framefarm-engine: a tiny model serves encode and generate over ipc") {
  TempDir tmp;
  const auto model = tmp.path / "model";
  make_model(model);
  REQUIRE(fs::exists(model / "model.json"));
  const auto out_root = tmp.path / "out";
  const auto clips = tmp.path / "clips";
  fs::create_directories(clips);
  std::ofstream(tmp.path / "engine.json") << engine_config(model, out_root);
  const std::string endpoint = "ipc://" + (tmp.path / "engine.sock").string();
  test::FakeSupervisor sup(endpoint);
  test::ChildProcess engine({FF_ENGINE_BIN, "serve", "--ipc", endpoint, "--config", (tmp.path / "engine.json").string()});

  auto hello = sup.expect<proto::EngineHello>(60s);
  CHECK(hello.device == "cpu");
  CHECK(hello.encoder_fingerprint.rfind("ff2-", 0) == 0);
  CHECK(hello.max_encode_batch == 4);
  CHECK(hello.pid > 0);

  // Encode two prompts in one request.
  proto::EncodeRequest enc;
  enc.request_id = 11;
  enc.max_length = 128;  // a multiple of the connectors' 128 registers
  enc.prompts = {proto::PromptTokens{{2, 10, 11, 12}}, proto::PromptTokens{{2, 20}}};
  sup.send(enc);
  auto er = sup.expect<proto::EncodeResult>(60s);
  REQUIRE_MESSAGE(er.ok, er.error_message);
  CHECK(er.request_id == 11);
  REQUIRE(er.embeddings.size() == 2);
  CHECK(er.embeddings[0].real_tokens == 4);
  CHECK(er.embeddings[1].real_tokens == 2);
  REQUIRE(er.embeddings[0].video.shape.size() == 2);
  CHECK(er.embeddings[0].video.shape[0] == 128);
  auto stats = sup.expect<proto::EngineStats>(10s);
  CHECK(stats.components.count("text_encoder") == 1);
  CHECK(stats.components.count("stage1_transformer") == 1);
  CHECK(stats.components.at("stage1_transformer").resident_bytes > 0);

  // Bad token ids are a bad-input result, and the engine keeps serving.
  proto::EncodeRequest bad_enc{12, 128, {proto::PromptTokens{{2, -5}}}};
  sup.send(bad_enc);
  auto ber = sup.expect<proto::EncodeResult>(30s);
  CHECK_FALSE(ber.ok);
  CHECK((ber.error_kind == proto::ErrorKind::kBadInput));
  CHECK(ber.error_message.find("token id -5") != std::string::npos);

  // A malformed frame is dropped.
  sup.send_raw("this is not msgpack");

  // Generate: progress per step, then the result and a complete clip file.
  sup.send(job(5, er.embeddings[0], er.embeddings[1], 3, clips));
  std::vector<proto::Message> seen;
  auto gr = sup.expect<proto::GenerateResult>(120s, &seen);
  REQUIRE_MESSAGE(gr.ok, gr.error_message);
  int progress = 0;
  for (const auto& m : seen)
    if (auto* p = std::get_if<proto::GenerateProgress>(&m)) {
      CHECK(p->job_id == 5);
      ++progress;
    }
  CHECK(progress == 3 + 3);  // stage 1: 3 steps, stage 2: its 3 distilled sigmas
  CHECK(gr.clip_path == (clips / "5.clip").string());
  const clip::Clip c = clip::read_clip_file(gr.clip_path);
  CHECK(c.header.width == 128);
  CHECK(c.header.height == 64);
  CHECK(c.header.frames == 9);
  CHECK(c.header.fps_num == 8);
  CHECK(c.header.audio_sample_rate == 48000);
  CHECK(c.header.audio_channels == 2);
  CHECK(c.header.audio_samples > 0);
  for (const char* phase : {"stage1", "upsample", "stage2", "decode", "vocode", "write"})
    CHECK_MESSAGE(gr.timings_s.count(phase) == 1, phase);
  (void)sup.expect<proto::EngineStats>(10s);

  // Bad sizes: bad input, engine still alive.
  auto bad = job(6, er.embeddings[0], er.embeddings[1], 3, clips);
  bad.params.width = 96;  // not a multiple of 64
  sup.send(bad);
  auto bgr = sup.expect<proto::GenerateResult>(30s);
  CHECK_FALSE(bgr.ok);
  CHECK((bgr.error_kind == proto::ErrorKind::kBadInput));
  CHECK(bgr.error_message.find("width") != std::string::npos);
  (void)sup.expect<proto::EngineStats>(10s);

  // Cancel after the first step: stops at a step boundary.
  sup.send(job(7, er.embeddings[0], er.embeddings[1], 400, clips));
  auto first = sup.expect<proto::GenerateProgress>(60s);
  CHECK(first.job_id == 7);
  sup.send(proto::EngineCancel{7});
  seen.clear();
  auto cr = sup.expect<proto::GenerateResult>(60s, &seen);
  CHECK_FALSE(cr.ok);
  CHECK((cr.error_kind == proto::ErrorKind::kCancelled));
  CHECK(cr.job_id == 7);
  CHECK(seen.size() < 100);
  CHECK_FALSE(fs::exists(clips / "7.clip"));
  (void)sup.expect<proto::EngineStats>(10s);

  sup.send(proto::Shutdown{"test over"});
  auto rc = engine.wait_exit(20s);
  REQUIRE(rc.has_value());
  CHECK(*rc == 0);
}

TEST_CASE("framefarm-engine: a streamed stage 1 and an auto LoRA-delta stage 2 serve a job and export their plans") {
  TempDir tmp;
  const auto model = tmp.path / "model";
  make_model(model);
  const auto out_root = tmp.path / "out";

  // A placement the engine does not know is refused at start with a message naming the component.
  std::ofstream(tmp.path / "bad.json") << engine_config(model, out_root, R"(, "placements": {"vae_decoder": "sideways"})");
  const auto err = tmp.path / "bad.err";
  CHECK(run(std::string(FF_ENGINE_BIN) + " serve --ipc ipc://" + (tmp.path / "bad.sock").string() + " --config " +
            (tmp.path / "bad.json").string() + " 2>" + err.string()) == 1);
  std::ifstream in(err);
  const std::string err_text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(err_text.find("placements.vae_decoder: placement must be") != std::string::npos);

  const auto clips = tmp.path / "clips";
  fs::create_directories(clips);
  std::ofstream(tmp.path / "engine.json")
      << engine_config(model, out_root,
                       R"(, "placements": {"stage1_transformer": "stream", "stage2_transformer": "auto",
                          "spatial_upsampler": "stream", "audio_decoder": "auto", "vocoder": "stream"},
                          "vae_tiling": {"long_side_tile_px": 64, "spatial_overlap_px": 32, "temporal_tile_frames": 16,
                                         "temporal_overlap_frames": 8})");
  const std::string endpoint = "ipc://" + (tmp.path / "engine.sock").string();
  test::FakeSupervisor sup(endpoint);
  test::ChildProcess engine({FF_ENGINE_BIN, "serve", "--ipc", endpoint, "--config", (tmp.path / "engine.json").string()});
  auto hello = sup.expect<proto::EngineHello>(60s);
  for (const auto& c : hello.components_resident) {  // both stages stream (or plan per job)
    CHECK(c != "stage1_transformer");
    CHECK(c != "stage2_transformer");
  }

  sup.send(proto::EncodeRequest{21, 128, {proto::PromptTokens{{2, 10, 11, 12}}, proto::PromptTokens{{2, 20}}}});
  auto er = sup.expect<proto::EncodeResult>(60s);
  REQUIRE_MESSAGE(er.ok, er.error_message);
  auto before = sup.expect<proto::EngineStats>(10s);
  CHECK(before.components.at("stage1_transformer").placement == "stream");
  CHECK(before.components.at("stage1_transformer").streamed_bytes_total == 0);

  sup.send(job(8, er.embeddings[0], er.embeddings[1], 2, clips));
  auto gr = sup.expect<proto::GenerateResult>(120s);
  REQUIRE_MESSAGE(gr.ok, gr.error_message);
  CHECK(clip::read_clip_file(gr.clip_path).header.frames == 9);
  auto stats = sup.expect<proto::EngineStats>(10s);
  const auto& s1 = stats.components.at("stage1_transformer");
  const auto& s2 = stats.components.at("stage2_transformer");
  CHECK(s1.placement == "stream");
  CHECK(s1.resident_blocks == 0);
  CHECK(s1.total_blocks > 0);
  CHECK(s1.streamed_bytes_total > 0);
  CHECK(s1.peak_vram_bytes > 0);
  // Stage 2 is the LoRA delta over stage 1's blocks; nothing limits the budget, so auto keeps
  // every block's factors resident.
  CHECK(s2.placement == "auto:" + std::to_string(s2.total_blocks) + "/" + std::to_string(s2.total_blocks));
  CHECK(s2.total_blocks == s1.total_blocks);
  CHECK(s2.streamed_bytes_total == 0);
  CHECK(s2.resident_bytes > 0);
  CHECK(stats.components.at("vae_decoder").placement == "resident");
  // The staged decode-side components: streamed ones copied their stages in, auto kept them all.
  for (const char* name : {"spatial_upsampler", "vocoder"}) {
    CAPTURE(name);
    const auto& s = stats.components.at(name);
    CHECK(s.placement == "stream");
    CHECK(s.resident_blocks == 0);
    CHECK(s.total_blocks > 1);
    CHECK(s.streamed_bytes_total > 0);
  }
  const auto& ad = stats.components.at("audio_decoder");
  CHECK(ad.placement == "auto:" + std::to_string(ad.total_blocks) + "/" + std::to_string(ad.total_blocks));
  CHECK(ad.resident_bytes > 0);

  sup.send(proto::Shutdown{"test over"});
  auto rc = engine.wait_exit(20s);
  REQUIRE(rc.has_value());
  CHECK(*rc == 0);
}
