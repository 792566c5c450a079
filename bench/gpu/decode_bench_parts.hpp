// The decode bench's inputs and timer: LTX-2.3's video decoder, audio decoder, vocoder and
// upsampler with random weights built on the device (the ltx23-22b preset's configs, or the tiny
// preset's for a CPU smoke), the latents of a 121-frame 1024x1536 job, and a median timer that
// records the allocator's peak. Engine thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <ATen/ATen.h>

#include "worker/engine/ltx2/audio_decoder.hpp"
#include "worker/engine/ltx2/upsampler.hpp"
#include "worker/engine/ltx2/video_decoder.hpp"
#include "worker/engine/ltx2/vocoder.hpp"
#include "worker/engine/runtime/device_backend.hpp"

namespace ff::bench {

// Configs and latents always; each component's weights only between its build_* and drop_*, so
// that a component is measured with nothing else of ours resident (as the reference builds one
// decoder at a time).
struct DecodeParts {
  bool full = true;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kBFloat16;
  ltx2::VideoDecoderConfig video;
  ltx2::VideoDecoderWeights video_weights;  // dtype, on the device (build_video)
  int64_t video_weight_bytes = 0;
  at::Tensor stats_mean, stats_std;         // the VAE's per-channel statistics [C] (dtype, device)
  ltx2::AudioDecoderModel audio;            // dtype, on the device (build_audio)
  ltx2::VocoderModel vocoder;               // float32 (as the engine loads it), on the device
  ltx2::Upsampler upsampler;                // dtype, on the device (build_upsampler)
  at::Tensor video_latent;                  // [1, C, 16, 32, 48] (tiny: [1, 8, 3, 4, 6])
  at::Tensor audio_latent;                  // [1, z, 126, F]
  at::Tensor stage1_latent;                 // [1, C, 16, 16, 24] (tiny: [1, 8, 3, 2, 3])
};

// `full`: the ltx23-22b preset's configs and real shapes; else the tiny preset's. No weights yet.
DecodeParts make_decode_parts(bool full, at::Device device, at::ScalarType dtype);
// Random weights of one component on the device (and drop them again).
void build_video(DecodeParts& p);
void drop_video(DecodeParts& p);
void build_audio(DecodeParts& p);
void drop_audio(DecodeParts& p);
void build_upsampler(DecodeParts& p);
void drop_upsampler(DecodeParts& p);

struct Measured {
  double seconds = 0;      // median
  int64_t peak_bytes = 0;  // allocator peak over the timed runs
  int64_t base_bytes = 0;  // allocated before them
  at::Tensor out;          // the last result
};

// One warm-up, then `repeats` timed calls (synchronized); prints one progress line.
Measured time_it(engine::rt::DeviceBackend& be, const std::function<at::Tensor()>& fn, int repeats,
                 const std::string& label);

// Audio decoder + vocoder: waveform [1, 2, samples] float32 on the host.
at::Tensor decode_audio_to_host(const DecodeParts& p);
// upsample_video_latent of the stage-1 latent with the VAE's statistics.
at::Tensor upsample(const DecodeParts& p);

// cuDNN's benchmark mode (autotuning per shape); no-op without CUDA.
void set_cudnn_benchmark(bool on);

}  // namespace ff::bench
