#include "bench/gpu/decode_mux.hpp"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "common/clip_file.hpp"
#include "worker/media/mp4_writer.hpp"

namespace ff::bench {

MuxTiming mux_clip(const std::string& dir, const std::string& name, std::span<const uint8_t> rgb, int32_t frames,
                   int32_t height, int32_t width, std::span<const float> audio, int32_t sample_rate) {
  using Clock = std::chrono::steady_clock;
  MuxTiming t;
  clip::ClipHeader h;
  h.width = width;
  h.height = height;
  h.frames = frames;
  h.fps_num = 24;
  h.fps_den = 1;
  if (!audio.empty()) {
    h.audio_sample_rate = sample_rate;
    h.audio_channels = 2;
    h.audio_samples = static_cast<int64_t>(audio.size() / 2);
  }
  const std::string clip_path = dir + "/" + name + ".clip", mp4_path = dir + "/" + name + ".mp4";
  auto t0 = Clock::now();
  clip::write_clip_file(clip_path, h, rgb, audio);
  t.clip_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  clip::ClipReader reader(clip_path);
  const media::Mp4Info info = media::write_mp4(reader, mp4_path, media::Mp4Options{});
  t.mp4_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  t.mp4_bytes = info.bytes;
  t.frames = info.frames;
  t.duration_s = info.duration_s;
  std::filesystem::remove(clip_path);
  std::filesystem::remove(mp4_path);
  return t;
}

std::string synthetic_frames(int32_t frames, int32_t height, int32_t width) {
  // Per channel a row wave plus a column wave that drift over time, plus 4 bits of noise: cheap
  // to make, not trivially compressible.
  std::vector<int> rows(static_cast<size_t>(height) * 3), cols(static_cast<size_t>(width) * 3);
  for (int32_t y = 0; y < height; ++y)
    for (int c = 0; c < 3; ++c) rows[y * 3 + c] = static_cast<int>(60.0 * std::sin(4.0 * (c + 1) * y / height + c));
  for (int32_t x = 0; x < width; ++x)
    for (int c = 0; c < 3; ++c) cols[x * 3 + c] = static_cast<int>(60.0 * std::sin(6.0 * x / width + 2.0 * c));
  std::string out(static_cast<size_t>(frames) * height * width * 3, '\0');
  uint32_t noise = 2303;
  size_t i = 0;
  for (int32_t f = 0; f < frames; ++f)
    for (int32_t y = 0; y < height; ++y)
      for (int32_t x = 0; x < width; ++x)
        for (int c = 0; c < 3; ++c) {
          noise = noise * 1664525u + 1013904223u;
          const int v = 128 + rows[y * 3 + c] + cols[((x + 3 * f) % width) * 3 + c] / 2 + static_cast<int>((noise >> 28) & 15) - 8;
          out[i++] = static_cast<char>(static_cast<uint8_t>(std::clamp(v, 0, 255)));
        }
  return out;
}

}  // namespace ff::bench
