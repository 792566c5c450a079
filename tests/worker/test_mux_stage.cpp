// unit: the supervisor's MP4 stage (worker/mux_stage.hpp) in-process: clip paths, the Result it
// completes (media fields, timings, credit-holding count), refusals, a renewed epoch, stale clips
// and part files swept at construction.
#include <doctest/doctest.h>

#include <poll.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/clip_file.hpp"
#include "worker/mux_stage.hpp"

namespace fs = std::filesystem;
namespace proto = ff::proto;
using ff::worker::MuxStage;

namespace {

struct TempDir {
  std::string p;
  explicit TempDir(const char*) {
    char t[] = "/tmp/ff-mux-stage-XXXXXX";
    REQUIRE(::mkdtemp(t) != nullptr);
    p = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(p, ec);
  }
  const std::string& path() const { return p; }
};

void write_clip(const std::string& path, bool audio) {
  ff::clip::ClipHeader h;
  h.width = 32;
  h.height = 16;
  h.frames = 5;
  h.fps_num = 25;
  if (audio) {
    h.audio_sample_rate = 48000;
    h.audio_channels = 2;
    h.audio_samples = 9600;
  }
  std::vector<uint8_t> rgb(h.video_bytes(), 90);
  std::vector<float> a(h.audio_values(), 0.1f);
  ff::clip::write_clip_file(path, h, rgb, a);
}

std::vector<std::pair<proto::Job, proto::Result>> wait_done(MuxStage& m, size_t n) {
  std::vector<std::pair<proto::Job, proto::Result>> all;
  for (int i = 0; i < 500 && all.size() < n; ++i) {
    pollfd p{m.fd(), POLLIN, 0};
    ::poll(&p, 1, 20);
    for (auto& d : m.take_done()) all.push_back(std::move(d));
  }
  return all;
}

std::vector<std::string> names(const std::string& dir) {
  std::vector<std::string> n;
  for (const auto& e : fs::directory_iterator(dir)) n.push_back(e.path().filename().string());
  return n;
}

}  // namespace

TEST_CASE("mux stage: a clip becomes the job's Result with media, the epoch can be renewed") {
  TempDir d("ff-mux-stage");
  const std::string run = d.path() + "/run", out = d.path() + "/out";
  fs::create_directories(run + "/clips");
  fs::create_directories(out);
  std::ofstream(run + "/clips/old.clip") << "stale";
  std::ofstream(out + "/.3.mp4.part-some-host-1-0") << "someone else's";
  std::vector<std::string> logged;
  MuxStage m(run, out, [&](const std::string& l) { logged.push_back(l); });
  CHECK(names(run + "/clips").empty());
  CHECK(names(out) == std::vector<std::string>{".3.mp4.part-some-host-1-0"});  // another host's part stays
  REQUIRE(logged.size() == 1);
  CHECK(logged[0].find("removed 1 stale clip files") != std::string::npos);

  proto::Job job;
  job.job_id = 7;
  job.epoch = 70;
  job.params.audio = false;
  CHECK(m.clip_path_for(7) == run + "/clips/7.clip");
  write_clip(m.clip_path_for(7), true);
  proto::Result partial;
  partial.ok = true;
  partial.timings_s["stage1"] = 1.0;
  partial.peak_vram_bytes["stage1_transformer"] = 5;
  REQUIRE_FALSE(m.start(job, m.clip_path_for(7), partial).has_value());
  CHECK(m.in_flight() == 1);
  job.epoch = 71;
  CHECK(m.renew(job));
  proto::Job other = job;
  other.job_id = 8;
  CHECK_FALSE(m.renew(other));

  auto done = wait_done(m, 1);
  REQUIRE(done.size() == 1);
  CHECK(m.in_flight() == 0);
  const auto& [j, r] = done[0];
  CHECK(j.epoch == 71);
  INFO(r.error_message);
  CHECK(r.ok);
  CHECK(r.output_path == out + "/7.mp4");
  CHECK(r.media.mp4_path == out + "/7.mp4");
  CHECK(r.media.poster_path == out + "/7.png");
  CHECK(r.media.frames == 5);
  CHECK(r.media.fps == doctest::Approx(25));
  CHECK(r.media.width == 32);
  CHECK(r.media.height == 16);
  CHECK(r.media.duration_s == doctest::Approx(0.2));
  CHECK(r.media.audio_sample_rate == 0);  // the job asked for no audio
  CHECK(r.media.bytes == static_cast<int64_t>(fs::file_size(out + "/7.mp4")));
  CHECK(r.timings_s.at("stage1") == 1.0);
  CHECK(r.timings_s.count("mux") == 1);
  CHECK(r.peak_vram_bytes.at("stage1_transformer") == 5);
  CHECK(names(run + "/clips").empty());
}

TEST_CASE("mux stage: refusals delete the clip and start nothing, a failed mux is an internal error") {
  TempDir d("ff-mux-stage");
  const std::string run = d.path() + "/run", out = d.path() + "/out";
  fs::create_directories(out);
  MuxStage m(run, out, {});
  proto::Job job;
  job.job_id = 1;
  write_clip(m.clip_path_for(1), true);
  auto err = m.start(job, run + "/clips/elsewhere.clip", {});
  REQUIRE(err);
  CHECK(err->find("expected " + m.clip_path_for(1)) != std::string::npos);
  CHECK_FALSE(fs::exists(m.clip_path_for(1)));

  job.params.crf = 60;
  write_clip(m.clip_path_for(1), true);
  err = m.start(job, m.clip_path_for(1), {});
  REQUIRE(err);
  CHECK(*err == "options: crf = 60 is out of range [0, 51]");
  CHECK(m.in_flight() == 0);
  CHECK_FALSE(fs::exists(m.clip_path_for(1)));

  job.params.crf = 19;
  std::ofstream(m.clip_path_for(1)) << "not a clip";
  REQUIRE_FALSE(m.start(job, m.clip_path_for(1), {}).has_value());
  auto done = wait_done(m, 1);
  REQUIRE(done.size() == 1);
  const proto::Result& r = done[0].second;
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == proto::ErrorKind::kInternal);
  CHECK(r.error_message.rfind("mux failed: clip file " + m.clip_path_for(1) + ": truncated", 0) == 0);
  CHECK(r.output_path.empty());
  CHECK(names(out).empty());

  // The engine died while writing job 2's clip: its partial clip goes.
  std::ofstream(m.clip_path_for(2) + ".tmp-123") << "partial";
  m.discard_clip(2);
  CHECK(names(run + "/clips").empty());
}
