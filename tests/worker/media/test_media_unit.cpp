// unit: the MP4 output's parts without child processes: the reference's RGB -> YUV and float ->
// s16 conversions, part files (naming, stale sweep), the libpng poster, option checks, and the
// mux thread's outcomes and clean-up (a corrupt clip, a missing directory, a failure after the
// poster, a cancelled or stopped mux leave nothing behind).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "common/job_params.hpp"
#include "tests/worker/media/media_test_support.hpp"
#include "worker/media/frame_convert.hpp"
#include "worker/media/mp4_writer.hpp"
#include "worker/media/mux_worker.hpp"
#include "worker/media/part_file.hpp"
#include "worker/media/png_poster.hpp"

namespace fs = std::filesystem;
using namespace ff::media;
using ff::test::MediaTempDir;

namespace {

struct Yuv {
  std::vector<uint8_t> y, u, v;
};

Yuv convert(const std::vector<uint8_t>& rgb, int w, int h) {
  Yuv o{std::vector<uint8_t>(w * h), std::vector<uint8_t>(w * h / 4), std::vector<uint8_t>(w * h / 4)};
  rgb24_to_yuv420p_bt709(rgb.data(), w, h, o.y.data(), w, o.u.data(), w / 2, o.v.data(), w / 2);
  return o;
}

// A 2x2 frame of one colour.
Yuv solid(uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> rgb;
  for (int i = 0; i < 4; ++i) rgb.insert(rgb.end(), {r, g, b});
  return convert(rgb, 2, 2);
}

std::string hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

void touch(const std::string& p) { std::ofstream(p) << "x"; }

// A collector for mux completions (called on the mux thread).
struct Outcomes {
  std::mutex mu;
  std::vector<MuxOutcome> all;
  MuxWorker::Completion callback() {
    return [this](MuxOutcome o) {
      std::lock_guard<std::mutex> lk(mu);
      all.push_back(std::move(o));
    };
  }
  bool wait_for(size_t n) {
    for (int i = 0; i < 3000; ++i) {
      {
        std::lock_guard<std::mutex> lk(mu);
        if (all.size() >= n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

MuxRequest request(const MediaTempDir& d, const std::string& clip, int64_t id, const std::string& out_dir = "") {
  const std::string o = out_dir.empty() ? d.path : out_dir;
  MuxRequest r;
  r.job_id = id;
  r.clip_path = clip;
  r.mp4_path = o + "/" + std::to_string(id) + ".mp4";
  r.png_path = o + "/" + std::to_string(id) + ".png";
  return r;
}

}  // namespace

TEST_CASE("RGB -> yuv420p BT.709 limited: the reference's matrix, scaling and truncation") {
  Yuv k = solid(0, 0, 0);
  CHECK(k.y[0] == 16);
  CHECK(k.u[0] == 128);
  CHECK(k.v[0] == 128);
  // red: Y' 0.2126 -> 62.56, U' -0.1146 -> 102.33, V' 0.5 -> 240 (truncated, not rounded)
  Yuv r = solid(255, 0, 0);
  CHECK(r.y[0] == 62);
  CHECK(r.u[0] == 102);
  CHECK(r.v[0] == 240);
  Yuv g = solid(0, 255, 0);  // Y 172.63, U 41.67, V 26.26
  CHECK(g.y[0] == 172);
  CHECK(g.u[0] == 41);
  CHECK(g.v[0] == 26);
  Yuv b = solid(0, 0, 255);  // Y 31.81, U 240, V 117.74
  CHECK(b.y[0] == 31);
  CHECK(b.u[0] == 240);
  CHECK(b.v[0] == 117);
  Yuv w = solid(255, 255, 255);  // 235 up to float rounding of 0.2126 + 0.7152 + 0.0722
  CHECK(w.y[0] >= 234);
  CHECK(w.y[0] <= 235);
}

TEST_CASE("chroma is the 2x2 average of the unscaled U and V, luma stays per pixel") {
  // red red / black black: U' = -0.1146 / 2 -> 115.16, V' = 0.25 -> 184
  const std::vector<uint8_t> rgb = {255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 0};
  Yuv o = convert(rgb, 2, 2);
  CHECK(o.y == std::vector<uint8_t>{62, 62, 16, 16});
  CHECK(o.u[0] == 115);
  CHECK(o.v[0] == 184);
}

TEST_CASE("random frames match the double-precision formula, truncated, wherever float rounding cannot decide") {
  const int w = 32, h = 16;
  std::mt19937 rng(7);
  std::vector<uint8_t> rgb(w * h * 3);
  for (auto& c : rgb) c = static_cast<uint8_t>(rng() & 255);
  Yuv o = convert(rgb, w, h);
  auto at = [&](int x, int y, int c) { return rgb[(y * w + x) * 3 + c] / 255.0; };
  int decided = 0, mismatched = 0;
  auto expect = [&](double value, uint8_t got) {
    value = std::min(255.0, std::max(0.0, value));
    const double frac = value - std::floor(value);
    if (frac < 1e-3 || frac > 1 - 1e-3) return;  // float32 may land on either side
    ++decided;
    if (got != static_cast<int>(std::floor(value))) ++mismatched;
  };
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      expect((0.2126 * at(x, y, 0) + 0.7152 * at(x, y, 1) + 0.0722 * at(x, y, 2)) * 219 + 16, o.y[y * w + x]);
  for (int by = 0; by < h / 2; ++by)
    for (int bx = 0; bx < w / 2; ++bx) {
      double us = 0, vs = 0;
      for (int k = 0; k < 4; ++k) {
        const int x = 2 * bx + k % 2, y = 2 * by + k / 2;
        us += -0.1146 * at(x, y, 0) - 0.3854 * at(x, y, 1) + 0.5 * at(x, y, 2);
        vs += 0.5 * at(x, y, 0) - 0.4542 * at(x, y, 1) - 0.0458 * at(x, y, 2);
      }
      expect(us / 4 * 224 + 128, o.u[by * (w / 2) + bx]);
      expect(vs / 4 * 224 + 128, o.v[by * (w / 2) + bx]);
    }
  CHECK(decided > 700);
  CHECK(mismatched == 0);
}

TEST_CASE("audio samples become s16 as the reference does: clip, x32767, truncate toward zero") {
  CHECK(sample_to_s16(0.0f) == 0);
  CHECK(sample_to_s16(1.0f) == 32767);
  CHECK(sample_to_s16(-1.0f) == -32767);
  CHECK(sample_to_s16(0.5f) == 16383);    // 16383.5 truncated
  CHECK(sample_to_s16(-0.5f) == -16383);  // toward zero, not down
  CHECK(sample_to_s16(3.0f) == 32767);
  CHECK(sample_to_s16(-3.0f) == -32767);
  CHECK(sample_to_s16(std::nanf("")) == 0);
  std::vector<float> in = {0.25f, -0.25f};
  std::vector<int16_t> out(2);
  samples_to_s16(in, out);
  CHECK(out == std::vector<int16_t>{8191, -8191});
}

TEST_CASE("part files: hidden names in the final directory, stale ones of dead processes are swept") {
  MediaTempDir d;
  const std::string part = part_path_for(d.path + "/42.mp4");
  CHECK(fs::path(part).parent_path() == fs::path(d.path));
  const std::string name = fs::path(part).filename().string();
  CHECK(name.rfind(".42.mp4.part-" + hostname() + "-" + std::to_string(::getpid()) + "-", 0) == 0);
  CHECK(part_path_for(d.path + "/42.mp4") != part);

  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  ::waitpid(child, nullptr, 0);  // now a pid no process has
  const std::string dead = ".7.mp4.part-" + hostname() + "-" + std::to_string(child) + "-3";
  const std::string mine = fs::path(part_path_for(d.path + "/8.mp4")).filename().string();
  const std::string other_host = ".9.mp4.part-some-other-host-" + std::to_string(child) + "-0";
  for (const auto& n : {dead, mine, other_host, std::string("7.mp4")}) touch(d.path + "/" + n);
  CHECK(remove_stale_parts(d.path) == std::vector<std::string>{dead});
  CHECK(d.names() == std::vector<std::string>{mine, other_host, "7.mp4"});
  CHECK(remove_stale_parts(d.path + "/missing").empty());

  {
    PartFile p(d.path + "/a.bin");
    touch(p.path());
  }  // not committed: removed
  PartFile p(d.path + "/b.bin");
  touch(p.path());
  p.commit();
  CHECK(d.names() == std::vector<std::string>{mine, other_host, "7.mp4", "b.bin"});
}

TEST_CASE("the poster is a lossless libpng RGB image, a bad frame size is refused, leaving nothing") {
  MediaTempDir d;
  const auto c = ff::test::synth_clip(10, 6, 1, 24, false);
  write_png_poster(d.path + "/p.png", c.rgb, 10, 6);
  CHECK(d.names() == std::vector<std::string>{"p.png"});
  const auto img = ff::test::read_png(d.path + "/p.png");
  CHECK(img.width == 10);
  CHECK(img.height == 6);
  CHECK(img.rgb == c.rgb);
  CHECK_THROWS_WITH_AS(write_png_poster(d.path + "/q.png", c.rgb, 10, 7), doctest::Contains("180 bytes for a 10x7"),
                       MediaError);
  CHECK_THROWS_WITH_AS(write_png_poster(d.path + "/no/dir/q.png", c.rgb, 10, 6), doctest::Contains("png: create"),
                       MediaError);
  CHECK(d.names() == std::vector<std::string>{"p.png"});
}

TEST_CASE("crf and preset are checked by name") {
  Mp4Options o;
  CHECK_NOTHROW(validate_mp4_options(o));
  o.crf = 52;
  CHECK_THROWS_WITH_AS(validate_mp4_options(o), "options: crf = 52 is out of range [0, 51]", MediaError);
  o.crf = 0;
  o.preset = "fastest";
  CHECK_THROWS_WITH_AS(validate_mp4_options(o), doctest::Contains("preset 'fastest' is not an x264 preset"),
                       MediaError);
}

TEST_CASE("a cancelled mux leaves no part file and an older MP4 under the name untouched") {
  MediaTempDir d;
  const auto c = ff::test::synth_clip(64, 96, 17, 24, true);
  const std::string clip = ff::test::write_synth_clip(d.path + "/c.clip", c);
  {
    std::ofstream(d.path + "/1.mp4") << "older";
  }
  ff::clip::ClipReader reader(clip);
  CHECK_THROWS_WITH_AS(write_mp4(reader, d.path + "/1.mp4", Mp4Options{}, [](int32_t n) { return n < 5; }),
                       "cancelled after 5 of 17 frames", MediaError);
  CHECK(d.names() == std::vector<std::string>{"1.mp4", "c.clip"});
  CHECK(ff::test::run_command("cat " + d.path + "/1.mp4", nullptr) == "older");
}

TEST_CASE("the mux thread: ok outcome with the media fields, the clip is deleted") {
  MediaTempDir d;
  Outcomes got;
  MuxWorker mux(got.callback());
  const auto c = ff::test::synth_clip(64, 96, 17, 24, true);
  mux.submit(request(d, ff::test::write_synth_clip(d.path + "/5.clip", c), 5));
  REQUIRE(got.wait_for(1));
  const MuxOutcome& o = got.all[0];
  INFO(o.error);
  REQUIRE(o.ok);
  CHECK(o.job_id == 5);
  CHECK(o.mp4_path == d.path + "/5.mp4");
  CHECK(o.png_path == d.path + "/5.png");
  CHECK(o.frames == 17);
  CHECK(o.fps == doctest::Approx(24));
  CHECK(o.width == 64);
  CHECK(o.height == 96);
  CHECK(o.duration_s == doctest::Approx(17.0 / 24));
  CHECK(o.audio_sample_rate == 48000);
  CHECK(o.audio_channels == 2);
  CHECK(o.bytes == static_cast<int64_t>(fs::file_size(o.mp4_path)));
  CHECK(o.seconds > 0);
  CHECK(d.names() == std::vector<std::string>{"5.mp4", "5.png"});
  CHECK(mux.pending() == 0);
}

TEST_CASE("the mux thread fails clearly and leaves nothing: corrupt clip, missing directory, odd size") {
  MediaTempDir d;
  Outcomes got;
  MuxWorker mux(got.callback());
  {
    std::ofstream(d.path + "/1.clip") << "this is not a clip file, but it is long enough to hold a header, so the magic is read";
  }
  mux.submit(request(d, d.path + "/1.clip", 1));
  mux.submit(request(d, ff::test::write_synth_clip(d.path + "/2.clip", ff::test::synth_clip(64, 96, 3, 24, true)), 2,
                     d.path + "/missing"));
  mux.submit(request(d, ff::test::write_synth_clip(d.path + "/3.clip", ff::test::synth_clip(63, 96, 3, 24, false)), 3));
  REQUIRE(got.wait_for(3));
  CHECK_FALSE(got.all[0].ok);
  CHECK(got.all[0].error.find("clip file " + d.path + "/1.clip: bad magic") != std::string::npos);
  CHECK_FALSE(got.all[1].ok);
  CHECK(got.all[1].error.find("png: create " + d.path + "/missing/") != std::string::npos);
  CHECK_FALSE(got.all[2].ok);
  // The poster was written before the MP4 failed: it is removed again.
  CHECK(got.all[2].error ==
        "check size: the clip is 63x96; H.264 yuv420p needs an even width and height");
  CHECK(d.names().empty());  // no output, no part file, clips deleted
}

TEST_CASE("stopping the mux thread aborts the mux in progress and fails the queue, leaving nothing") {
  MediaTempDir d;
  Outcomes got;
  auto mux = std::make_unique<MuxWorker>(got.callback());
  const auto big = ff::test::synth_clip(320, 240, 60, 24, true);
  for (int id = 1; id <= 3; ++id) {
    MuxRequest r = request(d, ff::test::write_synth_clip(d.path + "/" + std::to_string(id) + ".clip", big), id);
    r.options.preset = "veryslow";
    mux->submit(r);
  }
  // Wait until job 1's MP4 part exists (the mux is under way), then stop.
  bool started = false;
  for (int i = 0; i < 2000 && !started; ++i) {
    for (const auto& n : d.names()) started |= n.rfind(".1.mp4.part-", 0) == 0;
    if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  CHECK(started);
  CHECK(mux->pending() == 3);
  mux.reset();
  REQUIRE(got.all.size() == 3);
  CHECK_FALSE(got.all[0].ok);
  CHECK(got.all[0].error.find("cancelled after") != std::string::npos);
  CHECK(got.all[1].error == "mux worker stopped");
  CHECK(got.all[2].error == "mux worker stopped");
  CHECK(d.names().empty());
}

TEST_CASE("the job params crf/preset/audio default to the writer's defaults, preset choices are x264's but placebo") {
  const ff::proto::JobParams p;
  const Mp4Options o;
  CHECK(p.crf == o.crf);
  CHECK(p.preset == o.preset);
  CHECK(p.audio == o.audio);
  const auto* spec = ff::params::find("preset");
  REQUIRE(spec);
  std::string all;
  for (const char* name : kX264Presets)
    if (std::string(name) != "placebo") all += (all.empty() ? "" : ", ") + std::string(name);
  CHECK(spec->choices == all);
  const auto* crf = ff::params::find("crf");
  REQUIRE(crf);
  CHECK(crf->min == "0");
  CHECK(crf->max == "51");
  REQUIRE(ff::params::find("audio"));
}
