// unit: the clip file (common/clip_file.hpp): round trips with and without audio, the incremental
// writer, and a named error for every kind of bad file; nothing stays behind a failed write.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/clip_file.hpp"

namespace fs = std::filesystem;
using namespace ff::clip;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/ff-clip-test-XXXXXX";
    REQUIRE(::mkdtemp(t) != nullptr);
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (const auto& e : fs::directory_iterator(path)) n.push_back(e.path().filename().string());
    return n;
  }
};

ClipHeader small_header(bool audio) {
  ClipHeader h;
  h.width = 6;
  h.height = 4;
  h.frames = 3;
  h.fps_num = 25;
  h.fps_den = 1;
  if (audio) {
    h.audio_sample_rate = 48000;
    h.audio_channels = 2;
    h.audio_samples = 5;
  }
  return h;
}

std::vector<uint8_t> ramp(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + 3);
  return v;
}

std::vector<float> tone(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) * 0.125f - 0.5f;
  return v;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void spit(const std::string& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string error_of(const std::string& path) {
  try {
    read_clip_file(path);
  } catch (const ClipFileError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

}  // namespace

TEST_CASE("a clip with audio round-trips exactly, in the documented layout") {
  TempDir d;
  const std::string p = d.path + "/7.clip";
  const ClipHeader h = small_header(true);
  const auto rgb = ramp(h.video_bytes());
  const auto audio = tone(h.audio_values());
  write_clip_file(p, h, rgb, audio);
  CHECK(d.names() == std::vector<std::string>{"7.clip"});  // no temp file left
  CHECK(fs::file_size(p) == 64 + 3 * 6 * 4 * 3 + 5 * 2 * 4);

  const std::string bytes = slurp(p);
  CHECK(bytes.substr(0, 8) == std::string("FFCLIP\r\n", 8));
  uint32_t w = 0, fps = 0;
  std::memcpy(&w, bytes.data() + 16, 4);
  std::memcpy(&fps, bytes.data() + 28, 4);
  CHECK(w == 6);
  CHECK(fps == 25);
  CHECK(static_cast<uint8_t>(bytes[64]) == rgb[0]);  // frames start at byte 64

  const Clip c = read_clip_file(p);
  CHECK(c.header.width == 6);
  CHECK(c.header.height == 4);
  CHECK(c.header.frames == 3);
  CHECK(c.header.fps_num == 25);
  CHECK(c.header.fps_den == 1);
  CHECK(c.header.audio_sample_rate == 48000);
  CHECK(c.header.audio_channels == 2);
  CHECK(c.header.audio_samples == 5);
  CHECK(c.rgb == rgb);
  CHECK(c.audio == audio);

  ClipReader r(p);
  std::vector<uint8_t> frame(r.header().frame_bytes());
  r.read_frame(2, frame);
  CHECK(std::equal(frame.begin(), frame.end(), rgb.begin() + 2 * 72));
  CHECK_THROWS_AS(r.read_frame(3, frame), ClipFileError);
}

TEST_CASE("a clip without audio has all three audio fields zero") {
  TempDir d;
  const std::string p = d.path + "/a.clip";
  const ClipHeader h = small_header(false);
  write_clip_file(p, h, ramp(h.video_bytes()), {});
  const Clip c = read_clip_file(p);
  CHECK_FALSE(c.header.has_audio());
  CHECK(c.audio.empty());
  CHECK(fs::file_size(p) == 64 + h.video_bytes());
}

TEST_CASE("the incremental writer takes frames in chunks, then audio, abandoned, it leaves nothing") {
  TempDir d;
  const std::string p = d.path + "/inc.clip";
  const ClipHeader h = small_header(true);
  const auto rgb = ramp(h.video_bytes());
  const auto audio = tone(h.audio_values());
  {
    ClipWriter w(p, h);
    w.write_frames(std::span<const uint8_t>(rgb.data(), 72));
    w.write_frames(std::span<const uint8_t>(rgb.data() + 72, 144));
    w.write_audio(std::span<const float>(audio.data(), 4));
    w.write_audio(std::span<const float>(audio.data() + 4, 6));
    CHECK_FALSE(fs::exists(p));  // not under the final name before commit
    w.commit();
  }
  CHECK(read_clip_file(p).audio == audio);

  const std::string q = d.path + "/abandoned.clip";
  {
    ClipWriter w(q, h);
    w.write_frames(std::span<const uint8_t>(rgb.data(), 72));
  }
  CHECK(d.names() == std::vector<std::string>{"inc.clip"});

  ClipWriter w(q, h);
  CHECK_THROWS_WITH_AS(w.commit(), doctest::Contains("commit after 0 of 3 frames"), ClipFileError);
  CHECK(d.names() == std::vector<std::string>{"inc.clip"});
}

TEST_CASE("writes with wrong sizes or bad headers are refused by name, leaving nothing") {
  TempDir d;
  const std::string p = d.path + "/bad.clip";
  ClipHeader h = small_header(true);
  CHECK_THROWS_WITH_AS(write_clip_file(p, h, ramp(h.video_bytes() - 1), tone(h.audio_values())),
                       doctest::Contains("bytes of frames for 3 frames of 6x4 RGB24"), ClipFileError);
  CHECK_THROWS_WITH_AS(write_clip_file(p, h, ramp(h.video_bytes()), tone(3)),
                       doctest::Contains("3 audio values for 5 samples x 2 channels"), ClipFileError);
  h.width = 0;
  CHECK_THROWS_WITH_AS(write_clip_file(p, h, {}, {}), doctest::Contains("width = 0 is out of range"),
                       ClipFileError);
  h = small_header(false);
  h.audio_sample_rate = 48000;
  CHECK_THROWS_WITH_AS(write_clip_file(p, h, ramp(h.video_bytes()), {}),
                       doctest::Contains("audio_channels = 0 (no audio) but audio_sample_rate = 48000"),
                       ClipFileError);
  h = small_header(true);
  h.audio_channels = 3;
  CHECK_THROWS_WITH_AS(write_clip_file(p, h, ramp(h.video_bytes()), tone(15)),
                       doctest::Contains("audio_channels = 3 is out of range [1, 2]"), ClipFileError);
  CHECK(d.names().empty());
  CHECK_THROWS_WITH_AS(write_clip_file(d.path + "/no/such/dir.clip", small_header(false),
                                       ramp(small_header(false).video_bytes()), {}),
                       doctest::Contains("cannot create"), ClipFileError);
}

TEST_CASE("bad files are refused with a reason: missing, truncated, bad magic, version, trailing bytes") {
  TempDir d;
  const std::string good = d.path + "/good.clip";
  const ClipHeader h = small_header(true);
  write_clip_file(good, h, ramp(h.video_bytes()), tone(h.audio_values()));
  const std::string bytes = slurp(good);
  const std::string p = d.path + "/x.clip";

  CHECK(contains(error_of(d.path + "/missing.clip"), "cannot open"));

  spit(p, bytes.substr(0, 10));
  CHECK(contains(error_of(p), "truncated: 10 bytes, shorter than the 64-byte header"));

  spit(p, bytes.substr(0, bytes.size() - 1));
  const std::string trunc = error_of(p);
  CHECK(contains(trunc, "truncated: " + std::to_string(bytes.size() - 1) + " bytes, the header promises " +
                            std::to_string(bytes.size())));
  CHECK(contains(trunc, p));  // errors name the file

  spit(p, bytes + "xx");
  CHECK(contains(error_of(p), "2 trailing bytes after the audio"));

  std::string b = bytes;
  b[0] = 'G';
  spit(p, b);
  CHECK(contains(error_of(p), "bad magic"));

  b = bytes;
  b[8] = 2;
  spit(p, b);
  CHECK(contains(error_of(p), "version 2 (this build reads version 1)"));

  b = bytes;
  b[44] = 9;
  spit(p, b);
  CHECK(contains(error_of(p), "pixel_format 9"));

  b = bytes;
  const int32_t huge = 20000;
  std::memcpy(b.data() + 16, &huge, 4);
  spit(p, b);
  CHECK(contains(error_of(p), "width = 20000 is out of range [1, 16384]"));

  b = bytes;
  const int64_t samples = -1;
  std::memcpy(b.data() + 48, &samples, 8);
  spit(p, b);
  CHECK(contains(error_of(p), "audio_samples = -1 is out of range"));
}
