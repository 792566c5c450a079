// e2e: the real framefarm-worker with the test engine, against a scripted dispatcher (a ZeroMQ
// ROUTER in this process). Covers the session (Register/Welcome/Credit/Heartbeat, re-registration
// after a silent dispatcher), batched deduplicated encoding, progress/result relay, engine
// crash/hang/OOM handling, cancel, and SIGTERM (hand back, finish, Goodbye, exit 0).
#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/protocol.hpp"
#include "tests/observability/http_get.hpp"
#include "tests/worker/process_harness.hpp"

namespace proto = ff::proto;
using namespace std::chrono_literals;
using ff::test::Child;
using ff::test::eventually;

namespace {

struct Received {
  std::string from;
  proto::Message msg;
};

// A scripted dispatcher: records every non-heartbeat message, heartbeats the worker.
class FakeDispatcher {
 public:
  FakeDispatcher() : ctx_(1), sock_(ctx_, zmq::socket_type::router) {
    sock_.set(zmq::sockopt::linger, 0);
    sock_.bind("tcp://127.0.0.1:*");
    endpoint_ = sock_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }

  void send(const proto::Message& m) { send_to(peer_, m); }
  void send_raw(const std::string& frame) {
    sock_.send(zmq::buffer(peer_), zmq::send_flags::sndmore);
    sock_.send(zmq::buffer(frame), zmq::send_flags::none);
  }
  void send_to(const std::string& id, const proto::Message& m) {
    const std::string f = proto::encode(m);
    sock_.send(zmq::buffer(id), zmq::send_flags::sndmore);
    sock_.send(zmq::buffer(f), zmq::send_flags::none);
  }

  // Receives for up to `ms`, heartbeating the current peer every 100 ms unless silenced.
  void pump(int ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    do {
      zmq::pollitem_t it{static_cast<void*>(sock_), 0, ZMQ_POLLIN, 0};
      zmq::poll(&it, 1, 20ms);
      zmq::message_t id, body;
      while (sock_.recv(id, zmq::recv_flags::dontwait)) {
        (void)sock_.recv(body, zmq::recv_flags::dontwait);
        auto d = proto::decode(body.to_string_view());
        REQUIRE(std::holds_alternative<proto::Message>(d));
        auto& m = std::get<proto::Message>(d);
        if (std::holds_alternative<proto::Register>(m)) peer_ = id.to_string();
        if (std::holds_alternative<proto::Heartbeat>(m)) continue;
        log_.push_back({id.to_string(), std::move(m)});
      }
      const auto now = std::chrono::steady_clock::now();
      if (heartbeats && !peer_.empty() && now - last_hb_ > 100ms) {
        send(proto::Heartbeat{});
        last_hb_ = now;
      }
    } while (std::chrono::steady_clock::now() < end);
  }

  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout = 15000ms) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      pump(20);
    }
    return true;
  }

  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& r : log_)
      if (auto* t = std::get_if<T>(&r.msg)) out.push_back(*t);
    return out;
  }
  template <class T>
  std::optional<T> result_of(int64_t job_id) const {
    for (const auto& r : log_)
      if (auto* t = std::get_if<T>(&r.msg); t && t->job_id == job_id) return *t;
    return std::nullopt;
  }
  // Index in the log of the first message of type T (or -1).
  template <class T>
  int index_of() const {
    for (size_t i = 0; i < log_.size(); ++i)
      if (std::holds_alternative<T>(log_[i].msg)) return static_cast<int>(i);
    return -1;
  }
  const std::vector<Received>& log() const { return log_; }
  const std::string& peer() const { return peer_; }

  bool heartbeats = true;

 private:
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  std::string endpoint_;
  std::string peer_;
  std::vector<Received> log_;
  std::chrono::steady_clock::time_point last_hb_{};
};

// One model dir for the whole test process (tokenizer only: the test engine needs no weights).
const std::string& model_dir() {
  static ff::test::TempDir dir("ff-worker-model");
  static const bool made = (ff::test::make_tokenizer_model(dir.path()), true);
  (void)made;
  return dir.path();
}

// A worker process wired to `fake`, with the test engine configured by `env`.
struct WorkerRun {
  ff::test::TempDir dir{"ff-worker-run"};
  std::string engine_log = dir.path() + "/engine.log";
  std::unique_ptr<Child> child;

  WorkerRun(FakeDispatcher& fake, std::map<std::string, std::string> env,
            ff::test::WorkerSpec spec = {}) {
    spec.endpoint = fake.endpoint();
    spec.worker_id = "test-worker";
    spec.model_dir = model_dir();
    spec.run_dir = dir.path() + "/run";
    spec.output_root = dir.path() + "/out";
    const std::string cfg = dir.path() + "/worker.json";
    ff::test::write_worker_config(cfg, spec);
    env["FF_TEST_ENGINE_LOG"] = engine_log;
    child = std::make_unique<Child>(std::vector<std::string>{FF_WORKER_BIN, "serve", "--config", cfg},
                                    env, dir.path() + "/worker.log");
  }
  std::string log() const { return ff::test::read_file(dir.path() + "/worker.log"); }
};

proto::Job job(int64_t id, std::string prompt, std::string negative = "") {
  proto::Job j;
  j.job_id = id;
  j.epoch = 1000 + id;
  j.prompt = std::move(prompt);
  j.negative_prompt = std::move(negative);
  j.params.num_inference_steps = 30;
  return j;
}

proto::Register registered(FakeDispatcher& fake, WorkerRun& w) {
  const bool ok = fake.wait([&] { return !fake.all<proto::Register>().empty(); });
  INFO(w.log());
  REQUIRE(ok);
  fake.send(proto::Welcome{200, 3});
  return fake.all<proto::Register>().front();
}

int encoded_prompts(const std::string& engine_log) {
  std::istringstream in(ff::test::read_file(engine_log));
  std::string l;
  int n = 0;
  while (std::getline(in, l))
    if (l.rfind("encode ", 0) == 0) n += std::stoi(l.substr(7));
  return n;
}

}  // namespace

TEST_CASE("register, run jobs with one deduplicated encode of the misses, relay progress, return credit") {
  FakeDispatcher fake;
  ff::test::WorkerSpec spec;
  spec.slots = 4;
  WorkerRun w(fake, {}, spec);
  const auto reg = registered(fake, w);
  CHECK(reg.worker_id == "test-worker");
  CHECK(reg.encoder_fingerprint == "test-engine-v1");
  CHECK(reg.free_slots == 4);
  CHECK(reg.max_encode_batch == 8);
  CHECK(reg.model == "ltx-2.3");
  CHECK(reg.gpu_name == "test-engine");

  fake.send(job(1, "a cat on a sofa"));
  fake.send(job(2, "a dog in the rain"));
  fake.send(job(3, "a cat on a sofa", "blurry"));
  fake.send(job(4, "  a bird over the sea  "));
  const bool done = fake.wait([&] { return fake.all<proto::Result>().size() == 4; });
  INFO(w.log());
  REQUIRE(done);
  for (int64_t id = 1; id <= 4; ++id) {
    auto r = fake.result_of<proto::Result>(id);
    REQUIRE(r);
    CHECK(r->ok);
    CHECK(r->epoch == 1000 + id);
    CHECK(r->error_kind == proto::ErrorKind::kNone);
    CHECK(ff::test::read_file(r->output_path).rfind("YUV4MPEG2", 0) == 0);
    auto p = fake.result_of<proto::Progress>(id);
    REQUIRE(p);
    CHECK(p->epoch == 1000 + id);
    CHECK(p->total_steps == 3);
  }
  // Distinct prompts: 3 positives + "" + "blurry" = 5, each encoded exactly once.
  CHECK(encoded_prompts(w.engine_log) == 5);
  int credit = 0;
  for (const auto& c : fake.all<proto::Credit>()) credit += c.slots;
  CHECK(credit == 4);
  CHECK(ff::test::count_lines(w.engine_log, "result 1") == 1);
}

TEST_CASE("an engine crash fails the running job with engine_crash, the engine restarts, the session stays") {
  FakeDispatcher fake;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_CRASH_PROMPT", "boom"}});
  registered(fake, w);
  fake.send(job(1, "boom"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Result>(1).has_value(); }));
  auto r = *fake.result_of<proto::Result>(1);
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == proto::ErrorKind::kEngineCrash);
  CHECK(r.error_message.find("signal 6") != std::string::npos);
  fake.send(job(2, "fine"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Result>(2).has_value(); }));
  CHECK(fake.result_of<proto::Result>(2)->ok);
  CHECK(ff::test::count_lines(w.engine_log, "result 2") == 1);
  CHECK(fake.all<proto::Register>().size() == 1);  // never re-registered
  CHECK(w.child->running());
}

TEST_CASE("a hung engine is killed after the request timeout, its job fails, the next one runs") {
  FakeDispatcher fake;
  ff::test::WorkerSpec spec;
  spec.engine_request_timeout_ms = 800;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_HANG_PROMPT", "stuck"}}, spec);
  registered(fake, w);
  fake.send(job(1, "stuck"));
  fake.send(job(2, "fine afterwards"));
  REQUIRE(fake.wait([&] { return fake.all<proto::Result>().size() == 2; }));
  auto r1 = *fake.result_of<proto::Result>(1);
  CHECK_FALSE(r1.ok);
  CHECK(r1.error_kind == proto::ErrorKind::kEngineCrash);
  CHECK(r1.error_message.find("hung") != std::string::npos);
  CHECK(fake.result_of<proto::Result>(2)->ok);
  CHECK(fake.all<proto::Register>().size() == 1);
}

TEST_CASE("an OOM in the engine fails the job with out_of_memory and the engine keeps serving") {
  FakeDispatcher fake;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_OOM_PROMPT", "huge"}});
  registered(fake, w);
  fake.send(job(1, "huge"));
  fake.send(job(2, "small"));
  REQUIRE(fake.wait([&] { return fake.all<proto::Result>().size() == 2; }));
  auto r1 = *fake.result_of<proto::Result>(1);
  CHECK_FALSE(r1.ok);
  CHECK(r1.error_kind == proto::ErrorKind::kOutOfMemory);
  CHECK(r1.error_message.find("out of memory") != std::string::npos);
  CHECK(fake.result_of<proto::Result>(2)->ok);
  std::istringstream in(ff::test::read_file(w.engine_log));
  int hellos = 0;
  for (std::string l; std::getline(in, l);) hellos += l.rfind("hello ", 0) == 0;
  CHECK(hellos == 1);  // no restart
}

TEST_CASE("a crash while encoding a batch: prompts are retried one by one, only the culprit's job fails") {
  FakeDispatcher fake;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_ENCODE_CRASH_PROMPT", "poison"}});
  registered(fake, w);
  fake.send(job(1, "antidote"));
  fake.send(job(2, "poison"));
  fake.send(job(3, "placebo"));
  REQUIRE(fake.wait([&] { return fake.all<proto::Result>().size() == 3; }));
  CHECK(fake.result_of<proto::Result>(1)->ok);
  CHECK(fake.result_of<proto::Result>(2)->error_kind == proto::ErrorKind::kEngineCrash);
  CHECK(fake.result_of<proto::Result>(2)->error_message.find("encoding") != std::string::npos);
  CHECK(fake.result_of<proto::Result>(3)->ok);
  fake.send(job(4, "later"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Result>(4).has_value(); }));
  CHECK(fake.result_of<proto::Result>(4)->ok);
}

TEST_CASE("cancel stops a running job at a step boundary and an unstarted one at once") {
  FakeDispatcher fake;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_STEPS", "30"}, {"FF_TEST_ENGINE_STEP_MS", "100"}});
  registered(fake, w);
  fake.send(job(1, "long running"));
  fake.send(job(2, "waiting its turn"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Progress>(1).has_value(); }));
  fake.send(proto::Cancel{2, 1002});
  fake.send(proto::Cancel{1, 1001});
  REQUIRE(fake.wait([&] { return fake.all<proto::Result>().size() == 2; }));
  CHECK(fake.result_of<proto::Result>(1)->error_kind == proto::ErrorKind::kCancelled);
  CHECK(fake.result_of<proto::Result>(2)->error_kind == proto::ErrorKind::kCancelled);
  CHECK(ff::test::count_lines(w.engine_log, "cancelled 1") == 1);
  CHECK(ff::test::count_lines(w.engine_log, "result 1") == 0);
}

TEST_CASE("SIGTERM hands back unstarted jobs, finishes the running one, says goodbye, exits 0") {
  FakeDispatcher fake;
  ff::test::WorkerSpec spec;
  spec.slots = 3;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_STEPS", "5"}, {"FF_TEST_ENGINE_STEP_MS", "100"}}, spec);
  registered(fake, w);
  fake.send(job(1, "first"));
  fake.send(job(2, "second"));
  fake.send(job(3, "third"));
  REQUIRE(fake.wait([&] { return !fake.all<proto::Progress>().empty(); }));
  const int64_t running = fake.all<proto::Progress>().front().job_id;
  w.child->signal(SIGTERM);
  REQUIRE(fake.wait([&] { return fake.index_of<proto::Goodbye>() >= 0; }));
  CHECK(w.child->wait(10000ms) == 0);
  std::set<int64_t> handed;
  for (const auto& h : fake.all<proto::HandBack>()) {
    handed.insert(h.job_id);
    CHECK(h.epoch == 1000 + h.job_id);
  }
  CHECK(handed.size() == 2);
  CHECK_FALSE(handed.count(running));
  auto r = fake.result_of<proto::Result>(running);
  REQUIRE(r);
  CHECK(r->ok);
  CHECK(fake.all<proto::Result>().size() == 1);
  CHECK(fake.index_of<proto::Result>() < fake.index_of<proto::Goodbye>());
}

TEST_CASE("a silent dispatcher is presumed dead: the worker registers again from a new connection") {
  FakeDispatcher fake;
  WorkerRun w(fake, {});
  registered(fake, w);
  const std::string first_peer = fake.peer();
  fake.heartbeats = false;
  REQUIRE(fake.wait([&] { return fake.all<proto::Register>().size() >= 2; }, 10000ms));
  CHECK(fake.peer() != first_peer);
  fake.heartbeats = true;
  fake.send(proto::Welcome{200, 3});
  fake.send(job(7, "after reconnect"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Result>(7).has_value(); }));
  CHECK(fake.result_of<proto::Result>(7)->ok);
}

TEST_CASE("a malformed frame from the dispatcher is dropped and the worker keeps serving") {
  FakeDispatcher fake;
  WorkerRun w(fake, {});
  registered(fake, w);
  fake.send_raw("this is not msgpack");
  fake.send_raw(std::string("\x93\x01\x05\xc0", 4));  // [1, job, nil]: bad body
  fake.send(job(1, "still fine"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Result>(1).has_value(); }));
  CHECK(fake.result_of<proto::Result>(1)->ok);
  CHECK(w.log().find("dropped malformed frame") != std::string::npos);
}

// ---- MP4 output: the engine hands a clip file over; the supervisor muxes it on its own thread.

namespace {
std::vector<std::string> dir_names(const std::string& dir) {
  std::vector<std::string> n;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) n.push_back(e.path().filename().string());
  return n;
}
bool has_part_file(const std::string& dir) {
  for (const auto& n : dir_names(dir))
    if (n.find(".part-") != std::string::npos) return true;
  return false;
}
}  // namespace

TEST_CASE("a clip from the engine becomes <id>.mp4 + poster on the mux thread while the engine runs the next job") {
  FakeDispatcher fake;
  ff::test::WorkerSpec spec;
  spec.slots = 2;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_CLIP", "320x240x48"}, {"FF_TEST_ENGINE_STEP_MS", "1"}}, spec);
  registered(fake, w);
  proto::Job slow = job(1, "a slow mux");
  slow.params.preset = "veryslow";  // job 1's MP4 takes far longer than job 2's engine run
  proto::Job quiet = job(2, "no sound please");
  quiet.params.audio = false;
  quiet.params.crf = 30;
  quiet.params.preset = "ultrafast";
  fake.send(slow);
  fake.send(quiet);
  // When job 1's Result arrives, the engine has already finished job 2: it never waited for the mux.
  std::optional<bool> engine_ran_ahead;
  const bool done = fake.wait(
      [&] {
        if (!engine_ran_ahead && fake.result_of<proto::Result>(1))
          engine_ran_ahead = ff::test::count_lines(w.engine_log, "result 2") == 1;
        return fake.all<proto::Result>().size() == 2;
      },
      60000ms);
  INFO(w.log());
  REQUIRE(done);
  CHECK(engine_ran_ahead.value_or(false));

  const std::string out = w.dir.path() + "/out";
  const auto r1 = *fake.result_of<proto::Result>(1);
  CHECK(r1.ok);
  CHECK(r1.epoch == 1001);
  CHECK(r1.output_path == out + "/1.mp4");
  CHECK(r1.media.mp4_path == r1.output_path);
  CHECK(r1.media.poster_path == out + "/1.png");
  CHECK(r1.media.frames == 48);
  CHECK(r1.media.width == 320);
  CHECK(r1.media.height == 240);
  CHECK(r1.media.fps == doctest::Approx(24));
  CHECK(r1.media.duration_s == doctest::Approx(2.0));
  CHECK(r1.media.audio_sample_rate == 48000);
  CHECK(r1.media.audio_channels == 2);
  CHECK(r1.media.bytes == static_cast<int64_t>(std::filesystem::file_size(r1.output_path)));
  CHECK(std::filesystem::file_size(r1.media.poster_path) > 0);
  CHECK(r1.timings_s.count("mux") == 1);
  CHECK(r1.timings_s.count("stage1") == 1);
  const auto r2 = *fake.result_of<proto::Result>(2);
  CHECK(r2.ok);
  CHECK(r2.output_path == out + "/2.mp4");
  CHECK(r2.media.audio_sample_rate == 0);  // the job asked for no audio
  CHECK(r2.media.audio_channels == 0);
  CHECK(dir_names(w.dir.path() + "/run/clips").empty());  // clips deleted after muxing
  CHECK_FALSE(has_part_file(out));
  int credit = 0;
  for (const auto& c : fake.all<proto::Credit>()) credit += c.slots;
  CHECK(credit == 2);
}

TEST_CASE("a clip that is not a clip fails its job with 'mux failed: ...' and leaves no MP4") {
  FakeDispatcher fake;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_CLIP", "corrupt"}});
  registered(fake, w);
  fake.send(job(1, "broken handoff"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Result>(1).has_value(); }));
  const auto r = *fake.result_of<proto::Result>(1);
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == proto::ErrorKind::kInternal);  // retried by the dispatcher
  CHECK(r.error_message.rfind("mux failed: clip file " + w.dir.path() + "/run/clips/1.clip: ", 0) == 0);
  CHECK(r.error_message.find("bad magic") != std::string::npos);
  CHECK(dir_names(w.dir.path() + "/out").empty());
  CHECK(dir_names(w.dir.path() + "/run/clips").empty());
  REQUIRE(fake.wait([&] { return !fake.all<proto::Credit>().empty(); }));
  CHECK(fake.all<proto::Credit>().back().slots == 1);
}

TEST_CASE("SIGTERM waits for a job's MP4 before Goodbye") {
  FakeDispatcher fake;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_CLIP", "320x240x48"}});
  registered(fake, w);
  proto::Job j = job(1, "finish my video");
  j.params.preset = "veryslow";
  fake.send(j);
  REQUIRE(fake.wait([&] { return ff::test::count_lines(w.engine_log, "result 1") == 1; }));
  w.child->signal(SIGTERM);  // the engine is done; the MP4 is still being written
  REQUIRE(fake.wait([&] { return fake.index_of<proto::Goodbye>() >= 0; }, 60000ms));
  CHECK(w.child->wait(10000ms) == 0);
  const auto r = fake.result_of<proto::Result>(1);
  REQUIRE(r);
  CHECK(r->ok);
  CHECK(r->media.frames == 48);
  CHECK(fake.index_of<proto::Result>() < fake.index_of<proto::Goodbye>());
}

namespace {
// The value of the first exposition line of `name` whose labels include every `labels` pair
// (k="v"); -1 when there is none.
double scraped(const std::string& text, const std::string& name, const std::vector<std::string>& labels) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (l.rfind(name + "{", 0) != 0) continue;
    bool all = true;
    for (const auto& kv : labels) all = all && l.find(kv) != std::string::npos;
    if (all) return std::stod(l.substr(l.rfind(' ') + 1));
  }
  return -1;
}
}  // namespace

TEST_CASE("/metrics of a running worker: configured address, worker_id and gpu labels, engine up, registered, attempts, logfmt log with worker_id") {
  FakeDispatcher fake;
  ff::test::WorkerSpec spec;
  spec.metrics_bind = "127.0.0.1:0";
  WorkerRun w(fake, {}, spec);
  int port = 0;
  REQUIRE(ff::test::eventually([&] {
    std::smatch m;
    const std::string log = w.log();
    if (std::regex_search(log, m, std::regex("serving /metrics on 127\\.0\\.0\\.1:0 \\(port ([0-9]+)\\)")))
      port = std::stoi(m[1]);
    return port > 0;
  }, 10s));
  const std::vector<std::string> ours = {"worker_id=\"test-worker\"", "gpu=\"cpu\""};
  auto body = [&] { return ff::test::http_get(port, "/metrics"); };
  // The engine is up and has reported GPU memory before any job; no Welcome yet.
  INFO(w.log());
  CHECK(ff::test::eventually([&] { return scraped(body(), "framefarm_engine_up", ours) == 1; }, 10s));
  CHECK(scraped(body(), "framefarm_worker_registered", ours) == 0);
  CHECK(ff::test::eventually([&] { return scraped(body(), "framefarm_engine_stats_timestamp_seconds", ours) > 1.7e9; }, 10s));
  registered(fake, w);
  CHECK(ff::test::eventually([&] { return scraped(body(), "framefarm_worker_registered", ours) == 1; }, 10s));
  fake.send(job(1, "a cat"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Result>(1).has_value(); }));
  CHECK(ff::test::eventually([&] {
    return scraped(body(), "framefarm_job_attempts_total",
                   {"outcome=\"succeeded\"", "error_kind=\"none\"", ours[0], ours[1]}) == 1;
  }, 10s));
  // One log format: logfmt lines of component worker carrying worker_id.
  const std::string log = w.log();
  CHECK(log.find("level=info component=worker msg=") != std::string::npos);
  CHECK(log.find("worker_id=test-worker") != std::string::npos);
  // Job lines carry job_id, epoch and attempt as fields.
  CHECK(log.find("msg=\"job succeeded: ") != std::string::npos);
  CHECK(log.find("job_id=1 epoch=1001 attempt=1") != std::string::npos);
}
