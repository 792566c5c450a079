// LTX-2's audio VAE decoder (ltx-core AudioDecoder): a normalized audio latent -> a stereo
// log-mel spectrogram, which the vocoder (vocoder.hpp) turns into a waveform.
//
// Math (x [B, z, T, F]; every convolution is causal on time: zero-padded k-1 frames before, and
// zero-padded symmetrically on frequency; PixelNorm = x / sqrt(mean_c x^2 + 1e-6)):
//   un-normalize in the patchified layout: [B, T, z*F] * std + mean  (statistics [z*F], which
//     ltx-core sizes by `ch`: the published 128 = 8 x 16)
//   conv_in z -> ch*ch_mult[-1]; mid.block_1, mid.block_2 (ResnetBlocks)
//   up levels L-1 .. 0: num_res_blocks+1 ResnetBlocks to ch*ch_mult[l] (the first one with a 1x1
//     nin_shortcut when the width changes); then, except at level 0, nearest x2 on time and
//     frequency, a 3x3 conv, and the first time row dropped (T -> 2T-1)
//   PixelNorm, SiLU, conv_out -> out_ch; crop/zero-pad to [B, out_ch, max(4T-3, 1), mel_bins]
//   ResnetBlock: h = conv2(silu(pn(conv1(silu(pn(x)))))); return shortcut(x) + h
// Computed in the latent's dtype; weights of another dtype are cast per use (the reference runs
// the decoder in its load dtype, bf16 for the pipelines). No internal upcasts: the rounding points
// are ltx-core's.
//
// Checkpoint names (prefix "audio_vae.decoder."; every conv is a CausalConv2d, hence ".conv."):
//   conv_in.conv.{weight [C, z, 3, 3], bias}, mid.block_{1,2}.{conv1,conv2}.conv.{weight, bias},
//   up.{l}.block.{j}.{conv1,conv2}.conv.*, up.{l}.block.0.nin_shortcut.conv.{weight [Co, Ci, 1, 1], bias},
//   up.{l}.upsample.conv.conv.* (l > 0), conv_out.conv.{weight [out_ch, ch, 3, 3], bias};
//   "audio_vae.per_channel_statistics.{mean-of-means, std-of-means}" [ch].
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/audio_decoder_config.hpp"
#include "worker/engine/ltx2/stage_hooks.hpp"
#include "worker/engine/layers/weight_spec.hpp"

namespace ff::ltx2 {

struct AudioConv {
  at::Tensor weight, bias;  // [Co, Ci, kh, kw], [Co]
};
struct AudioResBlock {
  AudioConv conv1, conv2;
  AudioConv nin_shortcut;  // defined only when the block changes the width
};
struct AudioUpLevel {
  std::vector<AudioResBlock> blocks;  // num_res_blocks + 1
  AudioConv upsample;                 // undefined at level 0
};

struct AudioDecoderWeights {
  at::Tensor mean_of_means, std_of_means;  // [ch]
  AudioConv conv_in;
  AudioResBlock mid_block_1, mid_block_2;
  std::vector<AudioUpLevel> up;  // indexed by level (0 = last run, full width)
  AudioConv conv_out;
};

struct AudioDecoderModel {
  AudioDecoderConfig config;
  AudioDecoderWeights weights;
};

// The published checkpoint prefixes.
inline const std::string kAudioDecoderPrefix = "audio_vae.decoder.";
inline const std::string kAudioStatisticsPrefix = "audio_vae.per_channel_statistics.";

// Slots of `w` under `decoder_prefix` + names above and `statistics_prefix` + {mean,std}-of-means;
// resizes w.up first. The same list drives the loader and the random-weight writer.
std::vector<layers::WeightSlot> audio_decoder_slots(AudioDecoderWeights& w, const AudioDecoderConfig& c,
                                                   const std::string& decoder_prefix = kAudioDecoderPrefix,
                                                   const std::string& statistics_prefix = kAudioStatisticsPrefix);

// Config from `file`'s metadata "config" section "audio_vae" and every decoder tensor, cast to
// `dtype` on `device`. Throws std::invalid_argument (config) or io::CheckpointError (tensors).
AudioDecoderModel load_audio_decoder(const io::SafetensorsFile& file, at::Device device, at::ScalarType dtype);

// The transformer's patchified audio tokens [B, T, z*F] (z-major: channel c, bin f at c*F + f)
// -> the decoder's latent [B, z, T, F] (ltx-core AudioPatchifier.unpatchify). F = (z*F) / z.
at::Tensor audio_tokens_to_latent(const at::Tensor& tokens, int64_t z_channels);

// The decoder's stages, for placement (stage_hooks.hpp): per stage, the name prefixes (under
// `decoder_prefix`) of the weights it reads: conv_in, mid.block_1, mid.block_2, each up level
// from the last to level 0 (its blocks and upsample conv), conv_out. The statistics belong to no
// stage (fixed).
std::vector<std::vector<std::string>> audio_decoder_stage_prefixes(const AudioDecoderConfig& c,
                                                                   const std::string& decoder_prefix = kAudioDecoderPrefix);

// latent [B, z, T, F] (normalized, as the transformer produces it) -> log-mel
// [B, out_ch, max(4T-3, 1), mel_bins or F], in latent's dtype and on its device (the weights
// must be on that device). Throws std::invalid_argument on a latent whose z or z*F does not
// match the config and statistics. `hooks` wrap each stage.
at::Tensor decode_audio_latent(const AudioDecoderModel& m, const at::Tensor& latent, const StageHooks& hooks = {});

}  // namespace ff::ltx2
