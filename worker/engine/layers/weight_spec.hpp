// How a model's tensors are named, shaped and randomly initialised: one list drives both the
// loader (which checks every tensor against it) and the random-weight writer (make-weights).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/io/safetensors.hpp"

namespace ff::layers {

// How make-weights fills a tensor: normal(0, std) or a constant.
struct WeightInit {
  enum class Kind { kNormal, kConstant } kind = Kind::kNormal;
  double value = 0.0;  // std for kNormal, the value for kConstant

  static WeightInit normal(double std) { return {Kind::kNormal, std}; }
  static WeightInit constant(double v) { return {Kind::kConstant, v}; }
};

// The CPU random generator make-weights fills tensor `name` from: seeded with XXH3-64 of the name
// under `seed`, so a tensor's values depend only on (seed, name), not on the order of writing.
at::Generator tensor_generator(uint64_t seed, const std::string& name);

// One named tensor slot inside a weight struct.
struct WeightSlot {
  std::string name;            // full checkpoint name, e.g. "model.diffusion_model.proj_out.weight"
  std::vector<int64_t> shape;  // expected shape
  WeightInit init;
  at::Tensor* target;          // where the loaded tensor goes
};

// Fetches the tensor `name` (already checked to exist with `shape` by the implementation), on the
// device and dtype the caller wants. Throws std::runtime_error naming file and tensor on problems.
using TensorFetch = std::function<at::Tensor(const std::string& name, const std::vector<int64_t>& shape)>;

// Fills every slot's target from `fetch`.
void load_slots(const std::vector<WeightSlot>& slots, const TensorFetch& fetch);

// A fetch over one safetensors file: the tensor must exist with the slot's shape and a floating
// dtype (F32, BF16, F16); it comes back cast to `dtype` on `device`, contiguous. Throws
// io::CheckpointError naming the file and the tensor. `file` must outlive the fetch.
TensorFetch file_fetch(const io::SafetensorsFile& file, at::Device device, at::ScalarType dtype);

// Sum of bytes of the defined targets of `slots`.
int64_t slot_bytes(const std::vector<WeightSlot>& slots);

// A random tensor for `slot` drawn from `gen` (CPU, float32), per its init.
at::Tensor random_tensor(const WeightSlot& slot, at::Generator& gen);

// Draws every slot's target directly on `device` in `dtype` per its init (the device's default
// generator: a real-size model in seconds, for benchmarks); returns the bytes drawn.
int64_t randomize_slots(const std::vector<WeightSlot>& slots, at::Device device, at::ScalarType dtype);

}  // namespace ff::layers
