#include "worker/engine/video/stage_working_set.hpp"

#include <algorithm>

#include "worker/engine/runtime/torch_version.hpp"

namespace ff::video {

int64_t stage_working_bytes(const TransformerConfig& c, const LatentGrid& g, int64_t context_rows,
                            int64_t compute_bytes) {
  const int64_t n = (g.frames / c.patch_size_t) * (g.height / c.patch_size) * (g.width / c.patch_size);
  const int64_t d = c.inner_dim();
  const int64_t t = std::max<int64_t>(1, context_rows);
  const int64_t e = compute_bytes;
  // Inside one block: hidden-width tensors alive at once (x, norm out, q, k, v, rotary temporaries,
  // attention out, merged heads, residual sums) and two float32 norm copies; the MLP's three
  // ffn-width tensors; cross-attention keys/values and the context in compute dtype.
  int64_t bytes = 12 * n * d * e + 2 * n * d * 4 + 3 * n * c.ffn_dim * e + 3 * t * d * e;
#if !FF_TORCH_AT_LEAST(2, 0)
  // No fused attention: self-attention scores (float32 + softmax) and their compute-dtype copy.
  bytes += c.num_attention_heads * n * std::max(n, t) * (2 * 4 + e);
#else
  // Fused attention keeps no score matrix; its workspace is a few hidden-width rows.
  bytes += 2 * n * d * e;
#endif
  // Whole phase: rotary tables, the latent, its tokens, the velocity and the guidance mix (float32).
  bytes += 2 * n * c.attention_head_dim * e + 6 * n * c.patch_dim() * 4;
  return bytes;
}

}  // namespace ff::video
