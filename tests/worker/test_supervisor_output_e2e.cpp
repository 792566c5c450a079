// e2e: what a finished job leaves behind, with the real framefarm-worker and the test engine
// against a scripted dispatcher (supervisor_harness.hpp): the MP4 + poster written on the mux
// thread while the engine runs the next job, a failed mux, SIGTERM waiting for a mux; and the
// worker's /metrics endpoint and log lines.
#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/observability/http_get.hpp"
#include "tests/worker/supervisor_harness.hpp"

using namespace std::chrono_literals;
using namespace ff::test::supervisor;
using ff::test::Child;
using ff::test::eventually;

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
