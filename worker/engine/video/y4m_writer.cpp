#include "worker/engine/video/y4m_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "worker/engine/video/file_output.hpp"

namespace ff::video {
namespace {

uint8_t clamp_u8(double v) { return static_cast<uint8_t>(std::clamp(v + 0.5, 0.0, 255.0)); }

}  // namespace

void write_y4m(const RgbVideo& v, const std::string& path) {
  if (v.width <= 0 || v.height <= 0 || v.frames <= 0 || v.fps <= 0)
    throw std::invalid_argument("write_y4m: empty video or bad fps");
  if (v.rgb.size() != static_cast<size_t>(v.width) * v.height * v.frames * 3)
    throw std::invalid_argument("write_y4m: pixel buffer size does not match W x H x frames x 3");
  const int w = v.width, h = v.height, cw = (w + 1) / 2, ch = (h + 1) / 2;
  std::string out = "YUV4MPEG2 W" + std::to_string(w) + " H" + std::to_string(h) + " F" +
                    std::to_string(v.fps) + ":1 Ip A1:1 C420jpeg\n";
  std::vector<uint8_t> y(static_cast<size_t>(w) * h), cb(static_cast<size_t>(cw) * ch), cr(cb.size());
  std::vector<double> u_full(y.size()), v_full(y.size());
  for (int f = 0; f < v.frames; ++f) {
    const uint8_t* px = v.frame(f);
    for (size_t i = 0; i < y.size(); ++i) {
      const double r = px[3 * i] / 255.0, g = px[3 * i + 1] / 255.0, b = px[3 * i + 2] / 255.0;
      y[i] = clamp_u8(16.0 + 65.481 * r + 128.553 * g + 24.966 * b);
      u_full[i] = 128.0 - 37.797 * r - 74.203 * g + 112.0 * b;
      v_full[i] = 128.0 + 112.0 * r - 93.786 * g - 18.214 * b;
    }
    for (int cy = 0; cy < ch; ++cy)
      for (int cx = 0; cx < cw; ++cx) {
        double su = 0, sv = 0;
        int n = 0;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx) {
            const int yy = 2 * cy + dy, xx = 2 * cx + dx;
            if (yy >= h || xx >= w) continue;
            su += u_full[static_cast<size_t>(yy) * w + xx];
            sv += v_full[static_cast<size_t>(yy) * w + xx];
            ++n;
          }
        cb[static_cast<size_t>(cy) * cw + cx] = clamp_u8(su / n);
        cr[static_cast<size_t>(cy) * cw + cx] = clamp_u8(sv / n);
      }
    out += "FRAME\n";
    out.append(reinterpret_cast<const char*>(y.data()), y.size());
    out.append(reinterpret_cast<const char*>(cb.data()), cb.size());
    out.append(reinterpret_cast<const char*>(cr.data()), cr.size());
  }
  write_file_atomically(path, out);
}

}  // namespace ff::video
