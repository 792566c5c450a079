#include "worker/engine/layers/weight_spec.hpp"

namespace ff::layers {

void load_slots(const std::vector<WeightSlot>& slots, const TensorFetch& fetch) {
  for (const auto& s : slots) *s.target = fetch(s.name, s.shape);
}

int64_t slot_bytes(const std::vector<WeightSlot>& slots) {
  int64_t n = 0;
  for (const auto& s : slots)
    if (s.target->defined()) n += static_cast<int64_t>(s.target->nbytes());
  return n;
}

at::Tensor random_tensor(const WeightSlot& slot, at::Generator& gen) {
  auto opts = at::TensorOptions().dtype(at::kFloat);
  if (slot.init.kind == WeightInit::Kind::kConstant) return at::full(slot.shape, slot.init.value, opts);
  return at::normal(0.0, slot.init.value, slot.shape, gen, opts);
}

}  // namespace ff::layers
