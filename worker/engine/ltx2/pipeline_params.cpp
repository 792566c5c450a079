#include "worker/engine/ltx2/pipeline_params.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace ff::ltx2 {
namespace {

// Python's round(x) for finite x: nearest integer, ties to even.
double round_half_even(double x) {
  const double r = std::floor(x);
  const double d = x - r;
  if (d > 0.5) return r + 1.0;
  if (d < 0.5) return r;
  return std::fmod(r, 2.0) == 0.0 ? r : r + 1.0;
}

[[noreturn]] void bad(const std::string& field, const std::string& rule) {
  throw std::invalid_argument("pipeline params: " + field + " " + rule);
}

}  // namespace

VideoLatentGrid video_latent_grid(int64_t frames, int64_t height, int64_t width, const VideoScaleFactors& s) {
  return {(frames - 1) / s.time + 1, height / s.height, width / s.width};
}

int64_t audio_latent_frames(int64_t frames, double fps, const AudioTiming& t) {
  const double per_second = static_cast<double>(t.sample_rate) / static_cast<double>(t.hop_length) /
                            static_cast<double>(t.latent_downsample);
  const double duration = static_cast<double>(frames) / fps;
  return static_cast<int64_t>(round_half_even(duration * per_second));
}

void PipelineParams::validate(int64_t num_layers) const {
  if (frames < 1 || (frames - 1) % 8 != 0) {
    bad("frames", "must be 8k + 1 (1, 9, ..., 121), got " + std::to_string(frames));
  }
  if (width <= 0 || width % 64 != 0) bad("width", "must be a positive multiple of 64, got " + std::to_string(width));
  if (height <= 0 || height % 64 != 0) bad("height", "must be a positive multiple of 64, got " + std::to_string(height));
  if (!std::isfinite(fps) || fps <= 0) bad("fps", "must be finite and > 0, got " + std::to_string(fps));
  if (steps < 1) bad("steps", "must be >= 1, got " + std::to_string(steps));
  if (audio_latent_frames(frames, fps) < 1) {
    bad("frames/fps", "give an audio latent of 0 frames (round(frames / fps * 25) must be >= 1)");
  }
  video_guider.validate("pipeline params: video_guider", num_layers);
  audio_guider.validate("pipeline params: audio_guider", num_layers);
  if (video_guider.skip_step != audio_guider.skip_step) {
    bad("video_guider.skip_step / audio_guider.skip_step",
        "must be equal (a step that skips one stream only is not supported)");
  }
}

}  // namespace ff::ltx2
