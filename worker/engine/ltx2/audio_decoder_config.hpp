// LTX-2's audio VAE decoder configuration, decoded from the section "audio_vae" of the published
// checkpoint's metadata "config" (ltx-core AudioDecoderConfigurator). Torch-free.
//
// The section is {"model": {"params": {"ddconfig": {...}, "sampling_rate": 16000}},
// "preprocessing": {"stft": {"hop_length": 160, ...}, "mel": {"n_mel_channels": 64, ...}}, ...}.
// Only "model.params.ddconfig" shapes the decoder; it is read strictly (unknown keys refused).
// Outside ddconfig only sampling_rate, stft.hop_length and the mel-bin fallbacks
// (preprocessing.mel.n_mel_channels, variables.mel_bins) are read; everything else there
// (training and preprocessing settings) does not affect decoding and is ignored.
//
// Absent ddconfig keys take the configurator's defaults. Implemented: PixelNorm blocks, causal
// convolutions on the time axis (causality_axis "height"), no attention anywhere. Refused (with
// std::invalid_argument naming `what` and the key): norm_type other than "pixel", causality_axis
// other than "height", mid_block_add_attention true or absent (ltx-core's default is true), and an
// attn_resolutions list that hits one of the decoder's level resolutions (ltx-core's default
// {8, 16, 32} with resolution 256 hits none).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json_fields.hpp"

namespace ff::ltx2 {

struct AudioDecoderConfig {
  int64_t ch = 128;           // base width; also the size of the per-channel statistics
  int64_t out_ch = 2;         // stereo
  std::vector<int64_t> ch_mult = {1, 2, 4};  // level l has ch * ch_mult[l] channels
  int64_t num_res_blocks = 2;  // each up level has num_res_blocks + 1 ResnetBlocks
  int64_t z_channels = 8;
  int64_t resolution = 256;    // only used to place attention (none here)
  // Output mel bins: the crop/pad target. 0 means absent, and then ltx-core keeps the latent's
  // own mel-bin count (the decoded width is cropped to it).
  int64_t mel_bins = 64;
  int64_t sample_rate = 16000;   // model.params.sampling_rate (mel frame rate = sample_rate / hop)
  int64_t mel_hop_length = 160;  // preprocessing.stft.hop_length

  int64_t levels() const { return static_cast<int64_t>(ch_mult.size()); }
  int64_t level_channels(int64_t level) const { return ch * ch_mult.at(static_cast<size_t>(level)); }
  int64_t base_channels() const { return level_channels(levels() - 1); }  // conv_in / mid width
};

// ltx-core's fixed latent-to-mel time factor: T latent frames decode to max(4T - 3, 1) mel frames
// (causal decoders), whatever ch_mult is.
constexpr int64_t kAudioLatentDownsample = 4;

// `section` is the "audio_vae" object.
AudioDecoderConfig audio_decoder_config_from_json(const json::Json& section, const std::string& what);
// The "audio_vae" section for `c` (round-trips through audio_decoder_config_from_json).
json::Json audio_decoder_config_to_json(const AudioDecoderConfig& c);

}  // namespace ff::ltx2
