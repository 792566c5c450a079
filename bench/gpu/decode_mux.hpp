// The decode bench's mux step: the engine's hand-off (one clip file in a run directory) and the
// supervisor's MP4 writer (worker/media write_mp4: libx264 + AAC), timed. Built only where
// FFmpeg's development files exist (FF_BENCH_MUX); torch-free.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace ff::bench {

struct MuxTiming {
  double clip_seconds = 0;  // write_clip_file (engine side)
  double mp4_seconds = 0;   // write_mp4 (supervisor's mux thread)
  int64_t mp4_bytes = 0;
  int32_t frames = 0;
  double duration_s = 0;
};

// Writes `rgb` (frames x height x width x 3 uint8) and `audio` (interleaved stereo float at
// `sample_rate`, may be empty) as a clip in `dir`, then muxes it to an MP4 there (crf 19,
// veryfast: the defaults). Throws on failure. Any thread.
MuxTiming mux_clip(const std::string& dir, const std::string& name, std::span<const uint8_t> rgb, int32_t frames,
                   int32_t height, int32_t width, std::span<const float> audio, int32_t sample_rate);

// A synthetic clip for mux timing without a GPU: smooth moving colour fields plus mild noise,
// frames x height x width x 3.
std::string synthetic_frames(int32_t frames, int32_t height, int32_t width);

}  // namespace ff::bench
