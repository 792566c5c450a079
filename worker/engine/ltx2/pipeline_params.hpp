// What an LTX-2.3 generation asks for (ltx-pipelines utils/constants.py LTX_2_3_PARAMS) and the
// latent geometry it implies (ltx-core types.py VideoLatentShape / AudioLatentShape).
// Torch-free; plain values; any thread.
#pragma once

#include <cstdint>

#include "worker/engine/ltx2/av_positions.hpp"
#include "worker/engine/ltx2/guider.hpp"

namespace ff::ltx2 {

// Defaults are the reference's for 2.3 (LTX_2_3_PARAMS; the output is twice its stage-1 size).
struct PipelineParams {
  int64_t width = 1536;   // output pixels; stage 1 runs at width / 2 x height / 2
  int64_t height = 1024;
  int64_t frames = 121;   // 8k + 1
  double fps = 24.0;
  int64_t seed = 10;
  int64_t steps = 30;     // two_stages' stage 1 (LTX2Scheduler, no latent); distilled ignores it
  GuiderParams video_guider{3.0, 1.0, 3.0, 0.7, 0, {28}};  // cfg, stg, modality, rescale, skip, STG blocks
  GuiderParams audio_guider{7.0, 1.0, 3.0, 0.7, 0, {28}};

  // Throws std::invalid_argument naming the field and the rule:
  //   frames >= 1 and frames = 8k + 1; width, height > 0 and multiples of 64 (two-stage
  //   pipelines: ltx-pipelines assert_resolution, so stage 1 at half size is a whole latent grid);
  //   fps finite and > 0; steps >= 1; the audio latent has >= 1 frame; the guider fields
  //   (GuiderParams::validate; STG blocks < num_layers when num_layers > 0); and
  //   video_guider.skip_step == audio_guider.skip_step (a step that skips one stream only would
  //   need a disabled stream inside the transformer, which this port does not have).
  void validate(int64_t num_layers = 0) const;
};

// Latent layout of the VAEs (2.3: video 128 channels, 8x/32x/32x; audio 8 channels x 16 mel bins,
// 16 kHz, hop 160, 4 mel frames per latent = 25 latents/s).
struct LatentLayout {
  int64_t video_channels = 128;
  int64_t audio_channels = 8;
  int64_t audio_mel_bins = 16;
  VideoScaleFactors video_scale;
  AudioTiming audio_timing;
  int64_t audio_token_width() const { return audio_channels * audio_mel_bins; }
};

// VideoLatentShape.from_pixel_shape: F = (frames - 1) / 8 + 1, H = height / 32, W = width / 32
// (floor divisions).
struct VideoLatentGrid {
  int64_t frames = 0, height = 0, width = 0;
  int64_t tokens() const { return frames * height * width; }
};
VideoLatentGrid video_latent_grid(int64_t frames, int64_t height, int64_t width,
                                  const VideoScaleFactors& scale = {});

// AudioLatentShape.from_video_pixel_shape: round(frames / fps * sample_rate / hop / downsample)
// in double with Python's round (half to even): 121 frames at 24 fps -> 126.
int64_t audio_latent_frames(int64_t frames, double fps, const AudioTiming& timing = {});

}  // namespace ff::ltx2
