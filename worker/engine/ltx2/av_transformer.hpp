// LTX-2.3's audio-video diffusion transformer (ltx-core LTXModel, AudioVideo) as pure functions
// over the weight structs of av_transformer_weights.hpp. Predicts the velocity of both streams.
//
// Compute dtype = the video latent's dtype (bf16 in production, fp32 for parity); weights stored
// in another dtype (F32 scale-shift tables, fp8 Linears) are cast at use; the rounding points
// follow ltx-core (timestep sinusoids in fp32 then cast, RMSNorm in fp32 rounded once, RoPE
// tables cast to the compute dtype, to_denoised in fp32).
//
// Two ways to run a pass:
//  - av_transformer_forward: resident weights, everything in one call.
//  - the step API: av_prepare -> av_block_forward for blocks 0..L-1 (weights may arrive one block
//    at a time, e.g. from a streaming slot) -> av_finish. An AVState is a bundle of tensors:
//    copying it shares them, and av_block_forward only REPLACES state tensors (never writes into
//    them), so a copy taken after block k can seed several passes that differ from block k on
//    (e.g. the STG pass shares the cond pass's prefix up to its perturbed block).
// Threads: any thread; functions are stateless. Tensors on one device.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/ltx2/av_positions.hpp"
#include "worker/engine/ltx2/av_transformer_config.hpp"
#include "worker/engine/ltx2/av_transformer_weights.hpp"

namespace ff::ltx2 {

// One modality's input (ltx-core Modality).
struct ModalityInput {
  at::Tensor latent;      // [B, N, C] patchified; its dtype is the compute dtype
  at::Tensor sigma;       // [B, N] (or [B, N, 1]) per-token sigma = denoise_mask * step sigma
                          // (ltx-core Modality.timesteps); usually float32
  at::Tensor step_sigma;  // [B] the step's sigma (ltx-core Modality.sigma; 0 for a frozen
                          // state): drives the prompt AdaLN and the OTHER stream's A/V gate. Required.
  at::Tensor positions;   // video [B, 3, N, 2], audio [B, 1, N, 2] float32 (video_positions /
                          // audio_positions); batch may be 1 (broadcast)
  at::Tensor context;     // [B, T, ctx_dim] text context (connector output); no mask
};

// Which attentions a pass perturbs (ltx-core PerturbationType, applied to the whole batch).
// Self-attention skipped = value pass-through (out = to_v(x), then gate and to_out);
// cross-modal skipped = the A2V / V2A residual is not added.
struct PassConfig {
  std::vector<int64_t> skip_self_attention_blocks;  // STG: video AND audio self-attn in these blocks
  bool skip_cross_modal = false;                    // modality-isolated: A2V and V2A in all blocks
  // The four ltx-core types separately (combined with the two fields above by OR).
  std::vector<int64_t> skip_video_self_attention_blocks;
  std::vector<int64_t> skip_audio_self_attention_blocks;
  std::vector<int64_t> skip_a2v_blocks;
  std::vector<int64_t> skip_v2a_blocks;

  bool skips_video_self(int64_t block) const;
  bool skips_audio_self(int64_t block) const;
  bool skips_a2v(int64_t block) const;
  bool skips_v2a(int64_t block) const;
};

// One stream's running state between blocks (ltx-core TransformerArgs).
struct AVStreamState {
  at::Tensor x;                           // [B, N, D] hidden tokens
  at::Tensor timestep;                    // [B, N, coef*D] AdaLN output per token
  at::Tensor embedded_timestep;           // [B, N, D] for the output modulation
  at::Tensor prompt_timestep;             // [B, 1, 2D] prompt AdaLN output, or undefined
  at::Tensor context;                     // [B, T, D]
  RopeTables rope;                        // self-attention RoPE [B|1, H, N, Dh/2]
  RopeTables cross_rope;                  // A/V cross-attention time-only RoPE [B|1, H, N, Dca/H/2]
  at::Tensor cross_scale_shift_timestep;  // [B, N, 4D] own per-token sigma
  at::Tensor cross_gate_timestep;         // [B, 1, D]  the OTHER stream's step sigma
};

struct AVState {
  AVStreamState video, audio;
};

struct AVVelocity {
  at::Tensor video;  // [B, Nv, out_channels]
  at::Tensor audio;  // [B, Na, audio_out_channels]
};

// Patchify projections, AdaLN embeddings, RoPE tables. Throws std::invalid_argument on inputs
// whose shapes do not fit `c` (naming the input).
AVState av_prepare(const AVGlobals& g, const AVTransformerConfig& c, const ModalityInput& video,
                   const ModalityInput& audio);

// Block `block_index` (0-based; selects the perturbations of `pass`). Replaces state.video.x and
// state.audio.x with new tensors; nothing else in `state` changes.
void av_block_forward(const AVBlockWeights& b, const AVTransformerConfig& c, int64_t block_index,
                      const PassConfig& pass, AVState& state);

// Output LayerNorm + (shift, scale) modulation + proj_out for both streams.
AVVelocity av_finish(const AVGlobals& g, const AVTransformerConfig& c, const AVState& state);

// prepare + all blocks + finish.
AVVelocity av_transformer_forward(const AVTransformerWeights& w, const AVTransformerConfig& c,
                                  const ModalityInput& video, const ModalityInput& audio,
                                  const PassConfig& pass = {});

// ltx-core to_denoised / X0Model: (x - v * sigma) in float32, cast to x's dtype.
// sigma_per_token [B, N] or [B, N, 1] (or anything broadcastable after an unsqueeze(-1) of [B, N]).
at::Tensor to_denoised(const at::Tensor& x, const at::Tensor& velocity, const at::Tensor& sigma_per_token);

}  // namespace ff::ltx2
