#include "bench/gpu/random_stage.hpp"

#include "worker/engine/app/video_models.hpp"

namespace ff::bench {

RandomStage make_random_stage(const video::TransformerConfig& config, at::Device device, at::ScalarType dtype) {
  RandomStage s;
  s.config = config;
  const auto opts = at::TensorOptions().dtype(dtype).device(device);
  for (const video::WeightSlot& slot : video::transformer_slots(s.weights, config, engine::kTransformerPrefix)) {
    at::Tensor t = at::empty(slot.shape, opts);
    if (slot.init.kind == video::WeightInit::Kind::kConstant) {
      t.fill_(slot.init.value);
    } else {
      t.normal_(0.0, slot.init.value);
    }
    *slot.target = t;
    s.bytes += t.numel() * t.element_size();
  }
  return s;
}

int64_t stage_bytes(const video::TransformerConfig& config, at::ScalarType dtype) {
  video::TransformerWeights w;
  int64_t n = 0;
  for (const video::WeightSlot& slot : video::transformer_slots(w, config, engine::kTransformerPrefix)) {
    int64_t k = 1;
    for (int64_t d : slot.shape) k *= d;
    n += k;
  }
  return n * static_cast<int64_t>(at::elementSize(dtype));
}

}  // namespace ff::bench
