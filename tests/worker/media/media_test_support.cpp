#include "tests/worker/media/media_test_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include <png.h>
#include <sys/wait.h>

namespace fs = std::filesystem;

namespace ff::test {

MediaTempDir::MediaTempDir() {
  char t[] = "/tmp/ff-media-test-XXXXXX";
  REQUIRE(::mkdtemp(t) != nullptr);
  path = t;
}

MediaTempDir::~MediaTempDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

std::vector<std::string> MediaTempDir::names() const {
  std::vector<std::string> n;
  for (const auto& e : fs::directory_iterator(path)) n.push_back(e.path().filename().string());
  std::sort(n.begin(), n.end());
  return n;
}

SynthClip synth_clip(int width, int height, int frames, int fps, bool audio) {
  SynthClip c;
  c.header.width = width;
  c.header.height = height;
  c.header.frames = frames;
  c.header.fps_num = fps;
  c.header.fps_den = 1;
  c.rgb.resize(c.header.video_bytes());
  size_t i = 0;
  for (int f = 0; f < frames; ++f)
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        c.rgb[i++] = static_cast<uint8_t>(x * 255 / std::max(1, width - 1));
        c.rgb[i++] = static_cast<uint8_t>(y * 255 / std::max(1, height - 1));
        c.rgb[i++] = static_cast<uint8_t>(40 + f * 10 % 170);
      }
  if (audio) {
    c.header.audio_sample_rate = 48000;
    c.header.audio_channels = 2;
    c.header.audio_samples = int64_t(frames) * 48000 / fps;
    c.audio.resize(c.header.audio_values());
    for (int64_t s = 0; s < c.header.audio_samples; ++s) {
      const double v = std::sin(2 * M_PI * 440.0 * double(s) / 48000.0);
      c.audio[2 * s] = static_cast<float>(0.5 * v);
      c.audio[2 * s + 1] = static_cast<float>(0.25 * v);
    }
  }
  return c;
}

std::string write_synth_clip(const std::string& path, const SynthClip& c) {
  clip::write_clip_file(path, c.header, c.rgb, c.audio);
  return path;
}

Image read_png(const std::string& path) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  INFO("png ", path);
  REQUIRE(png_image_begin_read_from_file(&img, path.c_str()) != 0);
  img.format = PNG_FORMAT_RGB;
  Image out;
  out.width = static_cast<int>(img.width);
  out.height = static_cast<int>(img.height);
  out.rgb.resize(PNG_IMAGE_SIZE(img));
  REQUIRE(png_image_finish_read(&img, nullptr, out.rgb.data(), 0, nullptr) != 0);
  return out;
}

double psnr(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  REQUIRE(a.size() == b.size());
  REQUIRE(!a.empty());
  double se = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double(a[i]) - double(b[i]);
    se += d * d;
  }
  if (se == 0) return std::numeric_limits<double>::infinity();
  return 10 * std::log10(255.0 * 255.0 / (se / double(a.size())));
}

std::string run_command(const std::string& cmd, int* rc) {
  std::FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  if (rc) *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

}  // namespace ff::test
