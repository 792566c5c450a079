// Token layout of LTX-2.3's audio-video transformer: patchify/unpatchify of the video and audio
// latents, the per-token positions (ltx-core Modality.positions) and the split-RoPE cos/sin
// tables built from them (ltx-core rope.py precompute_freqs_cis, SPLIT type).
// Stateless; any thread; any device (positions are built on CPU; move them where needed).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace ff::ltx2 {

// ---- patchify (patch size 1) ----
// Video [B, C, F, H, W] -> tokens [B, F*H*W, C] (frame slowest, width fastest) and back.
at::Tensor patchify_video(const at::Tensor& latent);
at::Tensor unpatchify_video(const at::Tensor& tokens, int64_t frames, int64_t height, int64_t width);
// Audio [B, C, T, F] -> tokens [B, T, C*F] (mel bin fastest) and back.
at::Tensor patchify_audio(const at::Tensor& latent);
at::Tensor unpatchify_audio(const at::Tensor& tokens, int64_t channels, int64_t mel_bins);

// ---- positions ----
// VAE scale factors (time, height, width): 8, 32, 32 for LTX-2.3's video VAE.
struct VideoScaleFactors {
  int64_t time = 8, height = 32, width = 32;
};
// Video positions [batch, 3, F*H*W, 2] float32: per latent cell [start, end) of
// (time in seconds, height px, width px). Latent bounds [f, f+1) x scale; with `causal_fix` the
// time bounds become (t + 1 - scale.time).clamp(0); then time / fps (in float32), as ltx-core's
// VideoLatentTools.create_initial_state.
at::Tensor video_positions(int64_t latent_frames, int64_t latent_h, int64_t latent_w, double fps,
                           VideoScaleFactors scale = {}, bool causal_fix = true, int64_t batch = 1);

// Audio timing (ltx-core AudioPatchifier defaults): 16 kHz, hop 160, 4 mel frames per latent, causal.
struct AudioTiming {
  int64_t sample_rate = 16000, hop_length = 160, latent_downsample = 4;
  bool causal = true;
  int64_t shift = 0;
};
// Audio positions [batch, 1, T, 2] float32 seconds: latent i spans
// [max(4i-3, 0), max(4i+1, 0)] * hop / sample_rate (float32 arithmetic, as ltx-core).
at::Tensor audio_positions(int64_t latent_frames, int64_t batch = 1, AudioTiming timing = {});

// ---- RoPE ----
// The frequency grid theta^linspace(0, 1, n) * pi/2 with n = dim / (2 * n_pos_dims), float32
// [n]. double_precision: computed in float64 then cast (ltx-core generate_freq_grid_np; the 2.3
// file's "frequencies_precision": "float64"); else in float32 (generate_freq_grid_pytorch).
at::Tensor rope_freq_grid(double theta, int64_t n_pos_dims, int64_t dim, bool double_precision);

// Split-RoPE cos/sin, each [B, heads, N, dim / heads / 2] in `dtype` (the latent dtype), on the
// device of `positions`.
struct RopeTables {
  at::Tensor cos, sin;
};
// positions [B, P, N, 2] (use_middle: the midpoint of [start, end) is used) or [B, P, N]
// (legacy, or [B, P, N, 2] with use_middle false: start used). Per axis p: frac = pos / max_pos[p]
// mapped to 2*frac - 1; freqs[b, n, i*P + p] = grid[i] * (2*frac_p - 1) (float32); cos/sin of those,
// left-padded with (dim/2 - P*n) identity entries (cos 1, sin 0), reshaped to [B, N, heads, -1],
// transposed to [B, heads, N, -1], cast to `dtype`.
RopeTables rope_tables(const at::Tensor& positions, int64_t dim, int64_t heads,
                       const std::vector<int64_t>& max_pos, double theta, bool double_precision,
                       bool use_middle, at::ScalarType dtype);

}  // namespace ff::ltx2
