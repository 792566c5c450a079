// LTX-2.3's vocoder configuration, decoded from the section "vocoder" of the published
// checkpoint's metadata "config" (ltx-core VocoderConfigurator with the "bwe" sub-config, which
// builds VocoderWithBWE). Torch-free.
//
// The section is {"vocoder": {...BigVGAN v2...}, "bwe": {...BigVGAN v2..., "input_sampling_rate",
// "output_sampling_rate", "hop_length", "n_fft", "num_mels", ...}}. Both sub-configs must say
// resblock "AMP1", activation "snakebeta", stereo true (as ltx-core checks). Absent keys take
// ltx-core's _vocoder_from_config defaults. Refused with std::invalid_argument naming `what` and
// the key: a section without "bwe" (the pre-2.3 HiFi-GAN vocoder is not implemented), unknown
// keys, inconsistent list lengths, num_mels other than 64 (ltx-core's vocoders take 2 x 64 input
// channels), an output rate that is not a multiple of the input rate.
// Accepted and ignored, as ltx-core ignores them: "apply_final_activation" (the base vocoder
// always applies its final clamp/tanh, the BWE generator never does), "output_sampling_rate" of
// the base vocoder (the BWE input rate is used), "win_size" (the STFT window is n_fft long).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json_fields.hpp"

namespace ff::ltx2 {

// One BigVGAN v2 generator (ltx-core Vocoder with resblock "AMP1", snakebeta).
struct BigVganConfig {
  int64_t upsample_initial_channel = 1024;
  std::vector<int64_t> upsample_rates = {6, 5, 2, 2, 2};
  std::vector<int64_t> upsample_kernel_sizes = {16, 15, 8, 4, 4};
  std::vector<int64_t> resblock_kernel_sizes = {3, 7, 11};
  std::vector<std::vector<int64_t>> resblock_dilation_sizes = {{1, 3, 5}, {1, 3, 5}, {1, 3, 5}};
  bool use_tanh_at_final = true;
  bool use_bias_at_final = true;      // conv_post has a bias
  bool apply_final_activation = true;  // set by the role (base: true, BWE: false), not read

  int64_t stages() const { return static_cast<int64_t>(upsample_rates.size()); }
  int64_t kernels() const { return static_cast<int64_t>(resblock_kernel_sizes.size()); }
  // Width after upsampling stage i (ltx-core: initial // 2^(i+1)); stage -1 is conv_pre's width.
  int64_t stage_channels(int64_t i) const { return upsample_initial_channel >> (i + 1); }
  int64_t final_channels() const { return stage_channels(stages() - 1); }
  int64_t total_upsample() const;  // product of upsample_rates (samples per mel frame)
};

struct VocoderConfig {
  BigVganConfig vocoder;  // mel [B, 2, T, 64] -> waveform at input_sampling_rate
  BigVganConfig bwe;      // log-mel of that waveform -> residual at output_sampling_rate
  int64_t input_sampling_rate = 16000;
  int64_t output_sampling_rate = 48000;
  int64_t hop_length = 80;  // BWE STFT hop (at the input rate)
  int64_t n_fft = 512;      // BWE STFT length = window length
  int64_t num_mels = 64;
  static constexpr int64_t kMelBins = 64;  // both generators read 2 x 64 mel channels

  int64_t resample_ratio() const { return output_sampling_rate / input_sampling_rate; }
};

// `section` is the "vocoder" object.
VocoderConfig vocoder_config_from_json(const json::Json& section, const std::string& what);
// The "vocoder" section for `c` (round-trips through vocoder_config_from_json).
json::Json vocoder_config_to_json(const VocoderConfig& c);

}  // namespace ff::ltx2
