#include "worker/media/frame_convert.hpp"

#include <algorithm>
#include <cmath>

namespace ff::media {
namespace {

// BT.709 rows of the reference's RGB -> YUV matrix (float32 as the reference stores them).
constexpr float kY[3] = {0.2126f, 0.7152f, 0.0722f};
constexpr float kU[3] = {-0.1146f, -0.3854f, 0.5f};
constexpr float kV[3] = {0.5f, -0.4542f, -0.0458f};

inline uint8_t to_code(float x) {
  // clamp, then truncate (float -> uint8 conversion of a value in [0, 255] truncates).
  x = std::min(255.0f, std::max(0.0f, x));
  return static_cast<uint8_t>(x);
}

inline float dot(const float (&m)[3], float r, float g, float b) { return m[0] * r + m[1] * g + m[2] * b; }

// code / 255 for every code: a division (exact: code 255 is 1.0 as the decoder's is), looked up.
struct UnitTable {
  float v[256];
  UnitTable() {
    for (int i = 0; i < 256; ++i) v[i] = static_cast<float>(i) / 255.0f;
  }
};
const UnitTable kUnit;

}  // namespace

void rgb24_to_yuv420p_bt709(const uint8_t* rgb, int width, int height, uint8_t* y, int y_stride,
                            uint8_t* u, int u_stride, uint8_t* v, int v_stride) {
  const size_t row = static_cast<size_t>(width) * 3;
  for (int by = 0; by < height / 2; ++by) {
    const uint8_t* r0 = rgb + static_cast<size_t>(2 * by) * row;
    const uint8_t* r1 = r0 + row;
    uint8_t* y0 = y + static_cast<size_t>(2 * by) * y_stride;
    uint8_t* y1 = y0 + y_stride;
    uint8_t* up = u + static_cast<size_t>(by) * u_stride;
    uint8_t* vp = v + static_cast<size_t>(by) * v_stride;
    for (int bx = 0; bx < width / 2; ++bx) {
      float us = 0, vs = 0;
      const uint8_t* px[4] = {r0 + 6 * bx, r0 + 6 * bx + 3, r1 + 6 * bx, r1 + 6 * bx + 3};
      uint8_t* yo[4] = {y0 + 2 * bx, y0 + 2 * bx + 1, y1 + 2 * bx, y1 + 2 * bx + 1};
      for (int k = 0; k < 4; ++k) {
        const float r = kUnit.v[px[k][0]], g = kUnit.v[px[k][1]], b = kUnit.v[px[k][2]];
        *yo[k] = to_code(dot(kY, r, g, b) * 219.0f + 16.0f);
        us += dot(kU, r, g, b);
        vs += dot(kV, r, g, b);
      }
      *up++ = to_code(us / 4.0f * 224.0f + 128.0f);
      *vp++ = to_code(vs / 4.0f * 224.0f + 128.0f);
    }
  }
}

int16_t sample_to_s16(float x) {
  if (std::isnan(x)) return 0;
  x = std::min(1.0f, std::max(-1.0f, x));
  return static_cast<int16_t>(x * 32767.0f);  // truncates toward zero, as torch's .to(int16)
}

void samples_to_s16(std::span<const float> in, std::span<int16_t> out) {
  const size_t n = std::min(in.size(), out.size());
  for (size_t i = 0; i < n; ++i) out[i] = sample_to_s16(in[i]);
}

}  // namespace ff::media
