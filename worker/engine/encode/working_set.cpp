#include "worker/engine/encode/working_set.hpp"

#include <algorithm>

namespace ff::engine::encode {

int64_t pass_persistent_bytes(const EncoderDims& d, const std::vector<MicroBatch>& mbs) {
  int64_t total = 0;
  for (const auto& mb : mbs) total += mb.tokens() * (d.hidden * d.compute_bytes + (d.video_dim + d.audio_dim) * 4);
  return total;
}

int64_t layer_transient_bytes(const EncoderDims& d, const MicroBatch& mb) {
  const int64_t t = mb.tokens();
  const int64_t b = static_cast<int64_t>(mb.prompts.size());
  const int64_t w = mb.window;
  const int64_t e = d.compute_bytes;
  // hidden-sized temporaries (residual, norms, attention output, fp32 norm input): 6 x hidden;
  // q, k, v; MLP gate, up, activation in compute dtype plus one fp32 copy of gate;
  // attention probabilities: fp32 scores + compute-dtype probs per head; the fold's normalised
  // hidden (fp32) and its projection outputs.
  const int64_t per_token = 6 * d.hidden * 4 + (d.heads + 2 * d.kv_heads) * d.head_dim * e +
                            d.intermediate * (3 * e + 4) + d.hidden * 4 + (d.video_dim + d.audio_dim) * 4;
  const int64_t attention = d.attention_stores_scores ? b * d.heads * w * w * (4 + e) : 0;
  return t * per_token + attention;
}

int64_t text_pass_bytes(const EncoderDims& d, const std::vector<MicroBatch>& mbs) {
  int64_t largest = 0;
  for (const auto& mb : mbs) largest = std::max(largest, layer_transient_bytes(d, mb));
  return pass_persistent_bytes(d, mbs) + largest;
}

int64_t connector_pass_bytes(const EncoderDims& d, const std::vector<MicroBatch>& mbs) {
  int64_t all_rows = 0, largest = 0;
  for (const auto& mb : mbs) {
    const int64_t b = static_cast<int64_t>(mb.prompts.size());
    const int64_t t = b * mb.max_length;
    all_rows += t;
    // Live at once in a block: ~8 width-sized temporaries (input, norm, q, k, v, rotated q/k,
    // attention output), fp32 where the norms upcast; the MLP's input and activation (+ an fp32
    // copy without fused norms); the attention scores only where the kernel stores them.
    const int64_t e = d.compute_bytes;
    const int64_t per_token = d.fused_norms ? 8 * d.connector_width * e + d.connector_mlp * 2 * e
                                            : 8 * d.connector_width * 4 + d.connector_mlp * (3 * e + 4);
    const int64_t attention =
        d.attention_stores_scores ? b * d.connector_heads * int64_t(mb.max_length) * mb.max_length * (4 + e) : 0;
    largest = std::max(largest, t * per_token + attention);
  }
  // inputs and outputs of every prompt (fp32 features, compute-dtype contexts)
  return all_rows * (d.video_dim + d.audio_dim) * (4 + d.compute_bytes) + largest;
}

}  // namespace ff::engine::encode
