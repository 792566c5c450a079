// LTX-2.3's vocoder (ltx-core VocoderWithBWE): stereo log-mel [B, 2, T, 64] from the audio VAE
// decoder -> a 48 kHz stereo waveform.
//
// 1. Base BigVGAN v2 (mel frames at 16 kHz / hop 160 -> 16 kHz): conv_pre k7 (2x64 -> C), then per
//    stage i a ConvTranspose1d (stride r_i, kernel k_i, padding (k_i - r_i)/2) and the mean of the
//    AMPBlock1s of that stage (kernels 3/7/11, dilations 1/3/5); act_post, conv_post k7 -> 2,
//    clamp to [-1, 1] (tanh when use_tanh_at_final).
//    AMPBlock1: three times x += c2(a2(c1(a1(x)))), c1 dilated. Each a = anti-aliased SnakeBeta:
//    x2 upsample with the stored kaiser filter (replicate pad, transposed conv, x2), then
//    x + 1/(exp(beta) + 1e-9) * sin(exp(alpha) x)^2, then the stored low-pass filter with stride 2.
// 2. Bandwidth extension: pad the base waveform with zeros to a multiple of hop_length; per channel
//    a causal STFT (left zero pad n_fft - hop, conv1d with the stored forward basis [2 nf, 1, n_fft],
//    stride hop), magnitude, mel = mel_basis @ |X|, log(max(mel, 1e-5)); the BWE generator (same
//    recipe, no final activation) maps that log-mel [B, 2, frames, 64] to a residual at 48 kHz,
//    added to a Hann-windowed-sinc x3 resample of the padded base waveform (the filter is computed,
//    not stored: hann_resampler_filter); clamp to [-1, 1]; keep len * out_rate / in_rate samples.
// Everything runs in fp32 whatever the weights' dtype (weights are cast per use), as ltx-core runs
// it under fp32 autocast; the result is returned in the input mel's dtype (the reference's
// `.to(input_dtype)`: a bf16 mel gives the bf16-rounded waveform).
//
// Checkpoint names (prefix "vocoder."; G = "vocoder." for the base, "bwe_generator." for the BWE):
//   G conv_pre.{weight [C, 128, 7], bias}, G ups.{i}.{weight [C_in, C_out, k_i], bias},
//   G resblocks.{i*K + j}.convs{1,2}.{0,1,2}.{weight [c, c, k_j], bias},
//   G resblocks.{n}.acts{1,2}.{0,1,2}.{act.alpha, act.beta [c], upsample.filter [1,1,12],
//     downsample.lowpass.filter [1,1,12]},
//   G act_post.* (as one act), G conv_post.weight [2, c, 7] (+ .bias when use_bias_at_final),
//   mel_stft.mel_basis [64, n_fft/2+1], mel_stft.stft_fn.{forward_basis, inverse_basis} [2 nf, 1, n_fft]
//   (inverse_basis is loaded for completeness; the forward pass does not use it).
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/stage_hooks.hpp"
#include "worker/engine/ltx2/vocoder_config.hpp"
#include "worker/engine/layers/weight_spec.hpp"

namespace ff::ltx2 {

struct VocoderConv {
  at::Tensor weight, bias;  // Conv1d [Co, Ci, k] or ConvTranspose1d [Ci, Co, k]; bias [Co] or undefined
};
// Activation1d(SnakeBeta): log-scale alpha/beta [C] and the two stored 12-tap filters.
struct SnakeBetaAct {
  at::Tensor alpha, beta;
  at::Tensor up_filter, down_filter;  // [1, 1, 12]
};
struct AmpBlock {
  VocoderConv convs1[3], convs2[3];
  SnakeBetaAct acts1[3], acts2[3];
};
struct BigVganWeights {
  VocoderConv conv_pre;
  std::vector<VocoderConv> ups;     // one per stage
  std::vector<AmpBlock> resblocks;  // stages x kernels, stage-major
  SnakeBetaAct act_post;
  VocoderConv conv_post;
};
struct MelStftWeights {
  at::Tensor mel_basis;      // [num_mels, n_fft/2 + 1]
  at::Tensor forward_basis;  // [2 (n_fft/2 + 1), 1, n_fft]: real rows, then imaginary rows
  at::Tensor inverse_basis;  // same shape, unused
};
struct VocoderWeights {
  BigVganWeights vocoder, bwe_generator;
  MelStftWeights mel_stft;
};
struct VocoderModel {
  VocoderConfig config;
  VocoderWeights weights;
};

inline const std::string kVocoderPrefix = "vocoder.";

// Slots of `w` under `prefix` + the names above; sizes the vectors first.
std::vector<layers::WeightSlot> vocoder_slots(VocoderWeights& w, const VocoderConfig& c,
                                             const std::string& prefix = kVocoderPrefix);

// Config from `file`'s metadata "config" section "vocoder" and every vocoder tensor, stored as
// `dtype` on `device` (bf16 keeps the file's values and half the memory; compute is fp32 anyway).
// Throws std::invalid_argument (config) or io::CheckpointError naming file and tensor.
VocoderModel load_vocoder(const io::SafetensorsFile& file, at::Device device, at::ScalarType dtype);

// The stages, for placement (stage_hooks.hpp): per stage, the name prefixes (under `prefix`) of
// the weights it reads. A generator (under its own prefix, e.g. "vocoder.vocoder."): conv_pre,
// then per upsampling stage i its ups.i and resblocks i*K .. i*K+K-1, then act_post and conv_post.
// vocode: the base generator's stages, then the BWE generator's; the mel_stft bases belong to no
// stage (fixed).
std::vector<std::vector<std::string>> bigvgan_stage_prefixes(const BigVganConfig& c, const std::string& prefix);
std::vector<std::vector<std::string>> vocoder_stage_prefixes(const VocoderConfig& c,
                                                             const std::string& prefix = kVocoderPrefix);

// One BigVGAN generator: mel [B, 2, T, 64] -> [B, 2, T * total_upsample] in fp32 (input cast to
// fp32), with the final clamp/tanh when c.apply_final_activation. `hooks` wrap each stage.
at::Tensor bigvgan_forward(const BigVganWeights& w, const BigVganConfig& c, const at::Tensor& mel,
                           const StageHooks& hooks = {});

// The BWE's causal log-mel of a waveform [B, C, L] (L a multiple of hop) -> [B, C, num_mels, L/hop], fp32.
at::Tensor bwe_log_mel(const MelStftWeights& w, const VocoderConfig& c, const at::Tensor& wave);

// The Hann-windowed sinc filter [1, 1, 2*7*ratio + 1] of ltx-core's UpSample1d(window "hann")
// (rolloff 0.99, 6 zero crossings; torchaudio.functional.resample's), computed in fp32 on the CPU.
at::Tensor hann_resampler_filter(int64_t ratio);
// x [B, C, L] -> [B, C, L * ratio] with that filter (replicate padding), in x's dtype.
at::Tensor hann_upsample(const at::Tensor& x, const at::Tensor& filter, int64_t ratio);

// The whole vocoder: mel [B, 2, T, 64] (the decoder's output) -> waveform [B, 2, samples] at
// output_sample_rate(), samples = T * total_upsample(base) * ratio, in mel's dtype. Any device;
// the weights must be on mel's device. `hooks` wrap each stage (vocoder_stage_prefixes).
at::Tensor vocode(const VocoderModel& m, const at::Tensor& mel, const StageHooks& hooks = {});

inline int64_t output_sample_rate(const VocoderConfig& c) { return c.output_sampling_rate; }
inline int64_t output_sample_rate(const VocoderModel& m) { return m.config.output_sampling_rate; }

}  // namespace ff::ltx2
