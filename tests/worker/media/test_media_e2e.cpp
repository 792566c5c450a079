// e2e: the MP4 the mux thread writes, checked by FFmpeg's own tools run as subprocesses
// (ffprobe for streams and tags, ffmpeg to decode the first frame and the audio), and a mux
// killed with SIGKILL (its part file is swept, no .mp4 appears).
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include "common/json_fields.hpp"
#include "tests/worker/media/media_test_support.hpp"
#include "worker/media/mux_worker.hpp"
#include "worker/media/part_file.hpp"

namespace fs = std::filesystem;
namespace json = ff::json;
using namespace ff::media;
using ff::test::MediaTempDir;
using ff::test::run_command;

namespace {

// Muxes one clip on a MuxWorker and returns the outcome.
MuxOutcome mux_one(const std::string& clip, const std::string& out_dir, int64_t id, Mp4Options opts = {}) {
  std::mutex mu;
  std::vector<MuxOutcome> got;
  {
    MuxWorker w([&](MuxOutcome o) {
      std::lock_guard<std::mutex> lk(mu);
      got.push_back(std::move(o));
    });
    MuxRequest r;
    r.job_id = id;
    r.clip_path = clip;
    r.mp4_path = out_dir + "/" + std::to_string(id) + ".mp4";
    r.png_path = out_dir + "/" + std::to_string(id) + ".png";
    r.options = std::move(opts);
    w.submit(r);
    for (int i = 0; i < 6000 && w.pending() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(got.size() == 1);
  return got[0];
}

json::Json probe(const std::string& file) {
  int rc = -1;
  const std::string out = run_command(
      "ffprobe -v error -count_frames -show_streams -show_format -of json '" + file + "' 2>&1", &rc);
  INFO(out);
  REQUIRE(rc == 0);
  return json::parse(out, "test");
}

const json::Json* stream_of(const json::Json& p, const std::string& type) {
  for (const auto& s : p["streams"])
    if (s["codec_type"].get<std::string>() == type) return &s;
  return nullptr;
}

double num(const json::Json& v) { return v.is_string() ? std::stod(v.get<std::string>()) : v.get<double>(); }

std::string read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("an MP4 with sound as the reference writes it: H.264 yuv420p BT.709 limited + AAC 48 kHz stereo") {
  MediaTempDir d;
  const auto clip = ff::test::synth_clip(64, 96, 17, 24, true);
  const MuxOutcome o = mux_one(ff::test::write_synth_clip(d.path + "/11.clip", clip), d.path, 11);
  INFO(o.error);
  REQUIRE(o.ok);
  CHECK(d.names() == std::vector<std::string>{"11.mp4", "11.png"});

  const json::Json p = probe(o.mp4_path);
  REQUIRE(p["streams"].size() == 2);
  const json::Json* v = stream_of(p, "video");
  const json::Json* a = stream_of(p, "audio");
  REQUIRE(v);
  REQUIRE(a);
  CHECK((*v)["codec_name"].get<std::string>() == "h264");
  CHECK((*v)["pix_fmt"].get<std::string>() == "yuv420p");
  CHECK((*v)["color_space"].get<std::string>() == "bt709");
  CHECK((*v)["color_range"].get<std::string>() == "tv");
  CHECK((*v)["color_primaries"].get<std::string>() == "bt709");
  CHECK((*v)["color_transfer"].get<std::string>() == "bt709");
  CHECK((*v)["chroma_location"].get<std::string>() == "center");  // where the 2x2 average puts chroma
  CHECK((*v)["width"].get<int64_t>() == 64);
  CHECK((*v)["height"].get<int64_t>() == 96);
  CHECK((*v)["r_frame_rate"].get<std::string>() == "24/1");
  CHECK((*v)["avg_frame_rate"].get<std::string>() == "24/1");
  CHECK(num((*v)["nb_read_frames"]) == 17);
  CHECK(num((*v)["duration"]) == doctest::Approx(17.0 / 24).epsilon(0.01));
  CHECK((*a)["codec_name"].get<std::string>() == "aac");
  CHECK(num((*a)["sample_rate"]) == 48000);
  CHECK((*a)["channels"].get<int64_t>() == 2);
  CHECK((*a)["sample_fmt"].get<std::string>() == "fltp");
  CHECK(num(p["format"]["duration"]) == doctest::Approx(17.0 / 24).epsilon(0.05));
  CHECK(num(p["format"]["size"]) == o.bytes);
  // The reference's encoder settings, as x264 records them in its SEI.
  const std::string bytes = read_all(o.mp4_path);
  CHECK(bytes.find("crf=19.0") != std::string::npos);
  CHECK(bytes.find("subme=2") != std::string::npos);  // preset veryfast
  // +faststart: the index (moov) precedes the media data (mdat).
  CHECK(bytes.find("moov") < bytes.find("mdat"));

  // The poster is frame 0 exactly; the decoded first frame is within 40 dB of it.
  const auto poster = ff::test::read_png(o.png_path);
  CHECK(poster.width == 64);
  CHECK(poster.height == 96);
  CHECK(poster.rgb == std::vector<uint8_t>(clip.rgb.begin(), clip.rgb.begin() + 64 * 96 * 3));
  int rc = -1;
  // The decoder converts with the matrix and range the stream is tagged with (a BT.601 decode of
  // this frame gives 28 dB); accurate rounding and full chroma interpolation keep swscale's own
  // shortcuts out of the measurement (its default fast path gives 38.7 dB on this steep gradient).
  const std::string frame = run_command("ffmpeg -v error -i '" + o.mp4_path +
                                            "' -frames:v 1 -vf scale=flags=accurate_rnd+full_chroma_int"
                                            " -f rawvideo -pix_fmt rgb24 - 2>/dev/null",
                                        &rc);
  REQUIRE(rc == 0);
  REQUIRE(frame.size() == poster.rgb.size());
  const double db = ff::test::psnr(std::vector<uint8_t>(frame.begin(), frame.end()), poster.rgb);
  MESSAGE("first frame vs poster: PSNR " << db << " dB");
  CHECK(db >= 40.0);

  // The tone comes back on the right channels at the right level (RMS of 0.5 and 0.25 sines).
  const std::string pcm = run_command(
      "ffmpeg -v error -i '" + o.mp4_path + "' -map 0:a -f f32le -acodec pcm_f32le - 2>/dev/null", &rc);
  REQUIRE(rc == 0);
  std::vector<float> s(pcm.size() / 4);
  std::memcpy(s.data(), pcm.data(), s.size() * 4);
  const size_t frames = s.size() / 2;
  CHECK(frames == doctest::Approx(double(clip.header.audio_samples)).epsilon(0.05));
  double l = 0, r = 0;
  size_t n = 0;
  for (size_t i = frames / 4; i < 3 * frames / 4; ++i, ++n) {
    l += double(s[2 * i]) * s[2 * i];
    r += double(s[2 * i + 1]) * s[2 * i + 1];
  }
  CHECK(std::sqrt(l / n) == doctest::Approx(0.5 / std::sqrt(2.0)).epsilon(0.05));
  CHECK(std::sqrt(r / n) == doctest::Approx(0.25 / std::sqrt(2.0)).epsilon(0.05));
}

TEST_CASE("a job that asks for no audio gets no audio stream, a clip without audio neither") {
  MediaTempDir d;
  Mp4Options no_audio;
  no_audio.audio = false;
  no_audio.crf = 30;
  no_audio.preset = "ultrafast";
  const MuxOutcome o = mux_one(ff::test::write_synth_clip(d.path + "/1.clip", ff::test::synth_clip(64, 96, 17, 24, true)),
                               d.path, 1, no_audio);
  INFO(o.error);
  REQUIRE(o.ok);
  CHECK(o.audio_sample_rate == 0);
  CHECK(o.audio_channels == 0);
  json::Json p = probe(o.mp4_path);
  CHECK(p["streams"].size() == 1);
  CHECK(stream_of(p, "audio") == nullptr);
  const std::string bytes = read_all(o.mp4_path);
  CHECK(bytes.find("crf=30.0") != std::string::npos);
  CHECK(bytes.find("subme=0") != std::string::npos);  // preset ultrafast

  const MuxOutcome q = mux_one(ff::test::write_synth_clip(d.path + "/2.clip", ff::test::synth_clip(64, 96, 5, 25, false)),
                               d.path, 2);
  REQUIRE(q.ok);
  p = probe(q.mp4_path);
  CHECK(p["streams"].size() == 1);
  CHECK(p["streams"][0]["r_frame_rate"].get<std::string>() == "25/1");
  CHECK(num(p["streams"][0]["nb_read_frames"]) == 5);
  CHECK(q.duration_s == doctest::Approx(0.2));
}

TEST_CASE("a mono clip at 24 kHz becomes 48 kHz stereo AAC") {
  MediaTempDir d;
  auto c = ff::test::synth_clip(64, 64, 12, 24, false);
  c.header.audio_sample_rate = 24000;
  c.header.audio_channels = 1;
  c.header.audio_samples = 12000;
  c.audio.resize(12000);
  for (size_t i = 0; i < c.audio.size(); ++i) c.audio[i] = 0.5f * std::sin(2 * M_PI * 440.0 * i / 24000.0);
  const MuxOutcome o = mux_one(ff::test::write_synth_clip(d.path + "/3.clip", c), d.path, 3);
  INFO(o.error);
  REQUIRE(o.ok);
  CHECK(o.audio_sample_rate == 48000);
  CHECK(o.audio_channels == 2);
  const json::Json p = probe(o.mp4_path);
  const json::Json* a = stream_of(p, "audio");
  REQUIRE(a);
  CHECK(num((*a)["sample_rate"]) == 48000);
  CHECK((*a)["channels"].get<int64_t>() == 2);
  CHECK(num(p["format"]["duration"]) == doctest::Approx(0.5).epsilon(0.05));
}

TEST_CASE("a mux killed with SIGKILL leaves a part file that the next start sweeps, no .mp4 appears") {
  MediaTempDir d;
  const auto big = ff::test::synth_clip(320, 240, 60, 24, true);
  const std::string clip = ff::test::write_synth_clip(d.path + "/9.clip", big);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    MuxWorker w([](MuxOutcome) {});
    MuxRequest r;
    r.job_id = 9;
    r.clip_path = clip;
    r.mp4_path = d.path + "/9.mp4";
    r.png_path = d.path + "/9.png";
    r.options.preset = "veryslow";
    w.submit(r);
    for (;;) ::pause();
  }
  bool part = false;
  for (int i = 0; i < 5000 && !part; ++i) {
    for (const auto& n : d.names()) part |= n.rfind(".9.mp4.part-", 0) == 0;
    if (!part) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  REQUIRE(part);
  for (const auto& n : d.names()) CHECK(n != "9.mp4");
  const auto removed = remove_stale_parts(d.path);
  CHECK(removed.size() == 1);
  for (const auto& n : d.names()) {
    CHECK(n != "9.mp4");
    CHECK(n.find(".part-") == std::string::npos);
  }
}
