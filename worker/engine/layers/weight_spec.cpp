#include "worker/engine/layers/weight_spec.hpp"

#include <ATen/CPUGeneratorImpl.h>
#define XXH_INLINE_ALL  // header-only: no runtime library to ship with the engine
#include <xxhash.h>

namespace ff::layers {

at::Generator tensor_generator(uint64_t seed, const std::string& name) {
  return at::detail::createCPUGenerator(XXH3_64bits_withSeed(name.data(), name.size(), seed));
}

void load_slots(const std::vector<WeightSlot>& slots, const TensorFetch& fetch) {
  for (const auto& s : slots) *s.target = fetch(s.name, s.shape);
}

TensorFetch file_fetch(const io::SafetensorsFile& file, at::Device device, at::ScalarType dtype) {
  return [&file, device, dtype](const std::string& name, const std::vector<int64_t>& shape) {
    const io::TensorInfo* info = file.find(name);
    if (!info) throw io::CheckpointError(file.path() + ": missing tensor '" + name + "'");
    if (info->shape != shape)
      throw io::CheckpointError(file.path() + ": tensor '" + name + "' has shape " + io::shape_string(info->shape) +
                                ", expected " + io::shape_string(shape));
    const auto st = info->scalar_type;
    if (st != at::kFloat && st != at::kBFloat16 && st != at::kHalf)
      throw io::CheckpointError(file.path() + ": tensor '" + name + "' has dtype " + info->dtype +
                                ", expected F32, BF16 or F16");
    return file.view(name).to(device, dtype).contiguous();
  };
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

int64_t randomize_slots(const std::vector<WeightSlot>& slots, at::Device device, at::ScalarType dtype) {
  const auto opts = at::TensorOptions().dtype(dtype).device(device);
  int64_t bytes = 0;
  for (const auto& slot : slots) {
    at::Tensor t = at::empty(slot.shape, opts);
    if (slot.init.kind == WeightInit::Kind::kConstant) t.fill_(slot.init.value);
    else t.normal_(0.0, slot.init.value);
    *slot.target = t;
    bytes += t.numel() * static_cast<int64_t>(t.element_size());
  }
  return bytes;
}

}  // namespace ff::layers
