#include "worker/engine/ltx2/stage_denoiser.hpp"

#include <algorithm>
#include <stdexcept>

namespace ff::ltx2 {

int64_t first_perturbed_block(const PassConfig& pass, int64_t num_layers) {
  for (int64_t b = 0; b < num_layers; ++b) {
    if (pass.skips_video_self(b) || pass.skips_audio_self(b) || pass.skips_a2v(b) || pass.skips_v2a(b)) return b;
  }
  return num_layers;
}

DenoiseFn resident_denoiser(const AVTransformerWeights& w, const AVTransformerConfig& c) {
  return [&w, &c](const StepRequest& req) {
    const int64_t layers = static_cast<int64_t>(w.blocks.size());
    if (layers != c.num_layers) throw std::invalid_argument("resident_denoiser: weights have a different block count");
    std::vector<AVVelocity> out(req.passes.size());
    // Passes on the positive contexts share the prepared state and the unperturbed prefix.
    auto shares = [&](const PassRequest& p) {
      return p.video_context.is_same(req.video.context) && p.audio_context.is_same(req.audio.context);
    };
    std::vector<size_t> shared;
    for (size_t k = 0; k < req.passes.size(); ++k) {
      const PassRequest& p = req.passes[k];
      if (shares(p)) {
        shared.push_back(k);
        continue;
      }
      ModalityInput v = req.video, a = req.audio;
      v.context = p.video_context;
      a.context = p.audio_context;
      out[k] = av_transformer_forward(w, c, v, a, p.perturbation);
    }
    if (shared.empty()) return out;
    std::vector<int64_t> first(req.passes.size(), layers);
    for (size_t k : shared) first[k] = first_perturbed_block(req.passes[k].perturbation, layers);
    int64_t last = 0;  // the base runs only as far as the latest-diverging pass needs
    for (size_t k : shared) last = std::max(last, first[k]);
    const PassConfig none;
    AVState base = av_prepare(w.globals, c, req.video, req.audio);
    for (int64_t b = 0; b <= last; ++b) {
      for (size_t k : shared) {
        if (first[k] != b) continue;
        AVState s = base;  // shares the tensors; blocks replace, never write into them
        for (int64_t j = b; j < layers; ++j) {
          av_block_forward(w.blocks[static_cast<size_t>(j)], c, j, req.passes[k].perturbation, s);
        }
        out[k] = av_finish(w.globals, c, s);
      }
      if (b < last) av_block_forward(w.blocks[static_cast<size_t>(b)], c, b, none, base);
    }
    return out;
  };
}

}  // namespace ff::ltx2
