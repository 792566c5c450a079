// YUV4MPEG2 writer: 4:2:0 (C420jpeg), BT.601 limited range, progressive, square pixels.
// Header "YUV4MPEG2 W<w> H<h> F<fps>:1 Ip A1:1 C420jpeg\n", then per frame "FRAME\n" + Y + Cb + Cr
// planes (chroma planes ceil(w/2) x ceil(h/2), 2x2 box-averaged). Torch-free.
#pragma once

#include <string>

#include "worker/engine/video/rgb_video.hpp"

namespace ff::video {

// Writes `v` to `path` (via a temporary file renamed into place, so readers never see a partial
// file). Throws std::runtime_error naming the path on I/O failure, std::invalid_argument on an
// empty or inconsistent video.
void write_y4m(const RgbVideo& v, const std::string& path);

}  // namespace ff::video
