// ff_test_engine: a torch-free engine double for supervisor tests. It speaks the engine link of
// common/protocol.hpp exactly as framefarm-engine does (EngineHello, EncodeRequest/EncodeResult,
// GenerateRequest/GenerateProgress/GenerateResult, EngineCancel, EngineStats, Shutdown), but its
// "embeddings" only carry the token ids (bf16 [n, 4] video, [n, 2] audio: id high byte, id low
// byte, position, 1) and its "video" is a one-frame Y4M.
//
// Environment:
//   FF_TEST_ENGINE_LOG=FILE           append "encode <n>" per encode pass, "result <job_id>" per
//                                     successful job, "cancelled <job_id>", "hello <pid>".
//   FF_TEST_ENGINE_STEPS=N            steps per job (default 3, capped by num_inference_steps)
//   FF_TEST_ENGINE_STEP_MS=N          sleep per step (default 2)
//   FF_TEST_ENGINE_CRASH_PROMPT=P     abort() while generating a job whose prompt is P
//   FF_TEST_ENGINE_HANG_PROMPT=P      stop answering (sleep) while generating prompt P
//   FF_TEST_ENGINE_OOM_PROMPT=P       fail the job with kOutOfMemory
//   FF_TEST_ENGINE_ENCODE_CRASH_PROMPT=P  abort() while encoding a batch containing P
//   FF_TEST_ENGINE_FAULT_ONCE_DIR=D   each fault fires once (marker file D/<kind>, shared by every
//                                     engine given the same D), then the prompt behaves normally
//   FF_TEST_ENGINE_FAULT_ONCE_KINDS=K,K  only these kinds (CRASH, HANG, OOM, ENCODE_CRASH) are
//                                     once-only; default: all
//   FF_TEST_ENGINE_FINGERPRINT=S      encoder_fingerprint (default "test-engine-v1")
//   FF_TEST_ENGINE_HELLO_DELAY_MS=N   wait before EngineHello
//   FF_TEST_ENGINE_CLIP=WxHxF         hand the job over as a clip file (GenerateRequest::clip_path,
//                                     common/clip_file.hpp) of F frames of WxH at the job's fps with
//                                     a 440 Hz 48 kHz stereo tone, as the real engine does, instead
//                                     of a Y4M; "corrupt" writes a file that is not a clip
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "common/clip_file.hpp"
#include "common/json_fields.hpp"
#include "common/protocol.hpp"
#include "worker/tokenizer.hpp"

namespace proto = ff::proto;

namespace {

std::string env(const char* name, const char* def = "") {
  const char* v = std::getenv(name);
  return v ? v : def;
}

void log_line(const std::string& line) {
  const std::string path = env("FF_TEST_ENGINE_LOG");
  if (path.empty()) return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  const std::string l = line + "\n";
  (void)!::write(fd, l.data(), l.size());
  ::close(fd);
}

// True when the fault `kind` may fire (always, or once when FF_TEST_ENGINE_FAULT_ONCE_DIR is set).
bool fault_armed(const std::string& kind) {
  const std::string dir = env("FF_TEST_ENGINE_FAULT_ONCE_DIR");
  if (dir.empty()) return true;
  const std::string kinds = env("FF_TEST_ENGINE_FAULT_ONCE_KINDS");
  if (!kinds.empty() && ("," + kinds + ",").find("," + kind + ",") == std::string::npos) return true;
  const int fd = ::open((dir + "/" + kind).c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>(u >> 16);  // exact for the small integers used here
}
float from_bf16(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

proto::TensorBlob blob(const std::vector<int32_t>& ids, int cols) {
  proto::TensorBlob t;
  t.dtype = "bf16";
  t.shape = {static_cast<int64_t>(ids.size()), cols};
  t.data.resize(ids.size() * cols * 2);
  for (size_t r = 0; r < ids.size(); ++r) {
    const float v[4] = {float(ids[r] >> 8), float(ids[r] & 255), float(r % 256), 1.f};
    for (int c = 0; c < cols; ++c) {
      const uint16_t h = to_bf16(v[c]);
      std::memcpy(&t.data[(r * cols + c) * 2], &h, 2);
    }
  }
  return t;
}

std::vector<int32_t> ids_of(const proto::PromptEmbedding& e) {
  std::vector<int32_t> ids;
  if (e.video.shape.size() != 2 || e.video.shape[1] < 2) return ids;
  const int64_t rows = e.video.shape[0], cols = e.video.shape[1];
  if (e.video.data.size() != size_t(rows * cols * 2)) return ids;
  for (int64_t r = 0; r < rows; ++r) {
    uint16_t hi, lo;
    std::memcpy(&hi, &e.video.data[(r * cols) * 2], 2);
    std::memcpy(&lo, &e.video.data[(r * cols + 1) * 2], 2);
    ids.push_back(int32_t(from_bf16(hi)) * 256 + int32_t(from_bf16(lo)));
  }
  return ids;
}

class Engine {
 public:
  Engine(const std::string& ipc, const std::string& text_encoder)
      : ctx_(1), sock_(ctx_, zmq::socket_type::dealer) {
    sock_.set(zmq::sockopt::linger, 1000);
    sock_.connect(ipc);
    const std::string tok_path = text_encoder + "/tokenizer.model";
    ff::worker::Tokenizer tok(tok_path);
    for (const char* kind : {"CRASH", "HANG", "OOM", "ENCODE_CRASH"}) {
      const std::string p = env(("FF_TEST_ENGINE_" + std::string(kind) + "_PROMPT").c_str());
      if (!p.empty()) triggers_.push_back({kind, tok.encode(p)});
    }
  }

  int run() {
    if (const int d = std::atoi(env("FF_TEST_ENGINE_HELLO_DELAY_MS", "0").c_str()); d > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(d));
    proto::EngineHello h;
    h.pid = getpid();
    h.device = "cpu";
    h.gpu_name = "test-engine";
    h.encoder_fingerprint = env("FF_TEST_ENGINE_FINGERPRINT", "test-engine-v1");
    h.max_encode_batch = 64;
    h.components_resident = {"stage1_transformer", "stage2_transformer", "vae_decoder"};
    send(h);
    send(proto::EngineStats{});  // as the real engine: GPU memory reported before the first job
    log_line("hello " + std::to_string(getpid()));
    for (;;) {
      auto m = recv(-1);
      if (!m) continue;
      if (std::holds_alternative<proto::Shutdown>(*m)) return 0;
      if (auto* e = std::get_if<proto::EncodeRequest>(&*m)) encode(*e);
      else if (auto* g = std::get_if<proto::GenerateRequest>(&*m)) generate(*g);
      // EngineCancel for a job not running: nothing to do.
    }
  }

 private:
  struct Trigger {
    std::string kind;
    std::vector<int32_t> ids;
  };

  void send(const proto::Message& m) {
    const std::string f = proto::encode(m);
    sock_.send(zmq::buffer(f), zmq::send_flags::none);
  }
  std::optional<proto::Message> recv(int timeout_ms) {
    zmq::pollitem_t item{static_cast<void*>(sock_), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) == 0) return std::nullopt;
    zmq::message_t msg;
    if (!sock_.recv(msg, zmq::recv_flags::dontwait)) return std::nullopt;
    auto d = proto::decode(msg.to_string_view());
    if (auto* m = std::get_if<proto::Message>(&d)) return *m;
    std::cerr << "test engine: bad frame: " << std::get<proto::DecodeError>(d).what << "\n";
    return std::nullopt;
  }
  bool triggered(const std::string& kind, const std::vector<int32_t>& ids) {
    for (const auto& t : triggers_)
      if (t.kind == kind && t.ids == ids && fault_armed(kind)) return true;
    return false;
  }

  void encode(const proto::EncodeRequest& req) {
    proto::EncodeResult r;
    r.request_id = req.request_id;
    r.ok = true;
    for (const auto& p : req.prompts) {
      if (triggered("ENCODE_CRASH", p.ids)) std::abort();
      proto::PromptEmbedding e;
      e.real_tokens = static_cast<int32_t>(p.ids.size());
      e.video = blob(p.ids, 4);
      e.audio = blob(p.ids, 2);
      r.embeddings.push_back(std::move(e));
    }
    log_line("encode " + std::to_string(req.prompts.size()));
    send(r);
    send(proto::EngineStats{});
  }

  void generate(const proto::GenerateRequest& req) {
    proto::GenerateResult r;
    r.job_id = req.job_id;
    const auto ids = ids_of(req.positive);
    if (triggered("OOM", ids)) {
      r.ok = false;
      r.error_kind = proto::ErrorKind::kOutOfMemory;
      r.error_message = "CUDA out of memory (test engine)";
      send(r);
      return;
    }
    const int steps = std::max(1, std::min(req.params.num_inference_steps,
                                           std::atoi(env("FF_TEST_ENGINE_STEPS", "3").c_str())));
    const int step_ms = std::atoi(env("FF_TEST_ENGINE_STEP_MS", "2").c_str());
    for (int s = 1; s <= steps; ++s) {
      if (s == 2 && triggered("CRASH", ids)) std::abort();
      if (s == 2 && triggered("HANG", ids))
        for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
      // Step boundary: honour a cancel that arrived meanwhile.
      while (auto m = recv(step_ms)) {
        if (auto* c = std::get_if<proto::EngineCancel>(&*m); c && c->job_id == req.job_id) {
          r.ok = false;
          r.error_kind = proto::ErrorKind::kCancelled;
          r.error_message = "cancelled at step " + std::to_string(s);
          log_line("cancelled " + std::to_string(req.job_id));
          send(r);
          return;
        }
        if (std::holds_alternative<proto::Shutdown>(*m)) std::exit(0);
      }
      send(proto::GenerateProgress{req.job_id, "stage1", s, steps});
    }
    if (const std::string clip = env("FF_TEST_ENGINE_CLIP"); !clip.empty() && !req.clip_path.empty()) {
      write_clip(clip, req);
      r.ok = true;
      r.clip_path = req.clip_path;
      r.timings_s = {{"stage1", steps * step_ms / 1000.0}};
      log_line("result " + std::to_string(req.job_id));
      send(r);
      send(proto::EngineStats{});
      return;
    }
    const std::string path = req.output_dir + "/" + std::to_string(req.job_id) + ".y4m";
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << "YUV4MPEG2 W2 H2 F24:1 Ip A1:1 C420jpeg\nFRAME\n" << std::string(6, '\x80');
    }
    r.ok = true;
    r.video_path = path;
    r.timings_s = {{"stage1", steps * step_ms / 1000.0}};
    r.peak_vram_bytes = {{"stage1_transformer", 0}};
    log_line("result " + std::to_string(req.job_id));
    send(r);
    send(proto::EngineStats{});
  }

  // FF_TEST_ENGINE_CLIP: "WxHxF" -> a gradient clip with a tone; "corrupt" -> not a clip.
  static void write_clip(const std::string& spec, const proto::GenerateRequest& req) {
    if (spec == "corrupt") {
      std::ofstream(req.clip_path, std::ios::binary) << std::string(200, 'x');
      return;
    }
    ff::clip::ClipHeader h;
    if (std::sscanf(spec.c_str(), "%dx%dx%d", &h.width, &h.height, &h.frames) != 3)
      throw std::runtime_error("FF_TEST_ENGINE_CLIP: '" + spec + "' is not WxHxF");
    h.fps_num = req.params.frame_rate;
    h.audio_sample_rate = 48000;
    h.audio_channels = 2;
    h.audio_samples = int64_t(h.frames) * 48000 / h.fps_num;
    std::vector<uint8_t> rgb(h.video_bytes());
    for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>((i / 3 % h.width) * 255 / h.width + i % 3 * 40);
    std::vector<float> audio(h.audio_values());
    for (size_t i = 0; i < audio.size(); ++i) audio[i] = 0.3f * std::sin(2 * M_PI * 440.0 * double(i / 2) / 48000.0);
    ff::clip::write_clip_file(req.clip_path, h, rgb, audio);
  }

  zmq::context_t ctx_;
  zmq::socket_t sock_;
  std::vector<Trigger> triggers_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string ipc, config;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--ipc") ipc = argv[++i];
    else if (a == "--config") config = argv[++i];
  }
  if (argc < 2 || std::string(argv[1]) != "serve" || ipc.empty() || config.empty()) {
    std::cerr << "usage: ff_test_engine serve --ipc ipc://PATH --config FILE\n";
    return 2;
  }
  std::ifstream in(config);
  if (!in) {
    std::cerr << "test engine: cannot read config " << config << "\n";
    return 2;
  }
  try {
    std::stringstream text;
    text << in.rdbuf();
    // The supervisor writes the model files under "model" (see worker_config.hpp).
    const ff::json::Json cfg = ff::json::parse(text.str(), "test");
    Engine e(ipc, cfg.at("model").at("text_encoder").get<std::string>());
    return e.run();
  } catch (const std::exception& ex) {
    std::cerr << "test engine: " << ex.what() << "\n";
    return 1;
  }
}
