// What a published file must hold, per component, and the check that its header holds exactly
// that: every expected tensor present with its exact shape and a floating dtype, nothing else.
// Only headers are read (files are memory-mapped by io::SafetensorsFile; no tensor page is
// touched), so checking a 46 GB checkpoint costs milliseconds.
//
// Dtypes: any floating dtype is accepted (F32, F16, BF16, F64): the published 2.3 checkpoint
// stores the *scale_shift_table* tensors in F32 among BF16, and loaders convert to the compute
// dtype. An integer or bool tensor is an error.
//
// Thread-safety: pure functions over immutable inputs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "worker/engine/io/checkpoint.hpp"
#include "worker/engine/ltx2/encoder_inventory.hpp"
#include "worker/engine/layers/weight_spec.hpp"

namespace ff::ltx2 {

// The tensors of one component inside a file.
struct ComponentInventory {
  std::string component;           // "transformer", "embeddings_processor", "video_encoder", ...
  std::vector<NamedShape> tensors;
  bool loaded = true;              // false: accepted in the file, never loaded (encoders, vision tower)
};

// Names and shapes of `slots` (their targets are not touched).
std::vector<NamedShape> shapes_of(const std::vector<layers::WeightSlot>& slots);

// Per-component totals as found in the file.
struct ComponentSummary {
  std::string component;
  int64_t tensors = 0;
  int64_t params = 0;  // elements
  int64_t bytes = 0;   // as stored (dtype of the file)
  bool loaded = true;
};

struct FileSummary {
  std::string file;  // the path checked (for a sharded checkpoint: its index)
  int64_t file_bytes = 0;  // all files together
  std::vector<ComponentSummary> components;
};

// True for F64, F32, F16, BF16 (and any other "F*" spelling the reader may learn later).
bool is_float_dtype(const std::string& safetensors_dtype);

// Checks that `ck` holds exactly the union of `components`' tensors, plus any number of tensors
// whose names start with one of `ignored_prefixes` (accepted unchecked and summarized as one
// component "ignored:<prefix>", loaded = false). Throws io::CheckpointError whose message starts
// with the file and names each offending tensor: missing (with its component), unexpected,
// mis-shaped (actual and expected shape), non-floating dtype; up to 12 problems are listed, then
// a count. Throws std::invalid_argument when `components` list one name twice (a caller bug).
FileSummary check_inventory(const io::Checkpoint& ck, const std::vector<ComponentInventory>& components,
                            const std::vector<std::string>& ignored_prefixes = {});

// The loader's fetch over a checkpoint (io::Checkpoint: a single file or an HF index), for
// layers::load_slots: each tensor must exist with the slot's shape and a floating dtype; it comes
// back on `device` converted to `dtype` (ltx-core casts every floating tensor of the checkpoint,
// the F32 scale_shift tables included, to the load dtype: pass the compute dtype, e.g. bf16).
// A zero-copy view over the mapping when device is the CPU and the dtype already matches.
// Throws io::CheckpointError naming the file and the tensor. `ck` must outlive the call only
// (views keep their mapping alive).
layers::TensorFetch checkpoint_fetch(const io::Checkpoint& ck, at::Device device, at::ScalarType dtype);

// Writes a safetensors file whose header declares `tensors` (name, dtype, shape) with `metadata`
// and whose data section is a hole of the right size (ftruncate): a sparse, header-exact copy
// of a published file for tests of the checks above. Throws io::CheckpointError on I/O errors.
struct DeclaredTensor {
  std::string name;
  std::string dtype;  // safetensors spelling, e.g. "BF16"
  std::vector<int64_t> shape;
};
void write_header_only_safetensors(const std::string& path, const std::vector<DeclaredTensor>& tensors,
                                   const std::map<std::string, std::string>& metadata);

}  // namespace ff::ltx2
