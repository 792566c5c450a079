// Decoded frames in host memory, torch-free: what the writers consume.
#pragma once

#include <cstdint>
#include <vector>

namespace ff::video {

// Frames of interleaved 8-bit RGB, row-major: pixel (f, y, x) starts at ((f*height + y)*width + x)*3.
struct RgbVideo {
  int width = 0;
  int height = 0;
  int frames = 0;
  int fps = 24;
  std::vector<uint8_t> rgb;

  const uint8_t* frame(int f) const { return rgb.data() + static_cast<size_t>(f) * width * height * 3; }
};

}  // namespace ff::video
