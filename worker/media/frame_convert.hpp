// Pixel and sample conversions of the MP4 output, mirroring the LTX-2.3 reference encoder
// (ltx-core color/yuv.py and color/audio_mux.py, as used by ltx-pipelines media_io/encode.py).
//
// Video, RGB24 -> yuv420p BT.709 limited range ("MPEG"), per frame:
//   r, g, b = code / 255                       (the decoder's [0, 1] value, from its RGB24 code)
//   Y' =  0.2126 r + 0.7152 g + 0.0722 b
//   U' = -0.1146 r - 0.3854 g + 0.5    b
//   V' =  0.5    r - 0.4542 g - 0.0458 b
//   U', V' averaged over each 2x2 block (chroma 4:2:0; the reference's avg_pool2d)
//   Y = Y' x 219 + 16, U = U' x 224 + 128, V = V' x 224 + 128
//   each clamped to [0, 255] and TRUNCATED to uint8 (the reference's .to(uint8), not rounding)
// Computed in float32. The reference computes in the decoder's dtype on the decoder's float
// output; the clip file carries RGB24 codes, so the input here is already quantised to 1/255 and,
// against a bf16 reference run, codes may differ by one or two where bf16 rounds an intermediate.
// Width and height must be even (the reference refuses odd sizes too).
//
// Audio: float [-1, 1] -> s16 as the reference does before resampling for AAC: clip to [-1, 1],
// multiply by 32767, truncate toward zero. NaN becomes 0.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>

namespace ff::media {

// Converts one RGB24 frame (width*height*3 bytes, row-major) into the three planes; each plane
// pointer has its own stride (bytes per row). Y is width x height, U and V width/2 x height/2.
void rgb24_to_yuv420p_bt709(const uint8_t* rgb, int width, int height, uint8_t* y, int y_stride,
                            uint8_t* u, int u_stride, uint8_t* v, int v_stride);

// One float sample to s16 as above.
int16_t sample_to_s16(float x);

// `in.size()` samples to s16 into `out` (same size).
void samples_to_s16(std::span<const float> in, std::span<int16_t> out);

}  // namespace ff::media
