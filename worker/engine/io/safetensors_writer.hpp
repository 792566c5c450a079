// Writing safetensors files. The header (tensor names, dtypes, shapes, offsets and a string
// metadata map such as {"config": "<json>"}) is written first, padded with spaces so the data
// section starts 8-byte aligned; tensors are then streamed one at a time, so a file far larger
// than memory can be produced. The file appears under its final name only after finish()
// (written to "<path>.partial" and renamed). Not thread-safe: one writer per thread.
#pragma once

#include <ATen/ATen.h>

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "worker/engine/io/checkpoint_error.hpp"

namespace ff::io {

struct TensorSpec {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t bytes() const;
};

class SafetensorsWriter {
 public:
  // Creates "<path>.partial" and writes the header for specs (in this order). Throws
  // CheckpointError on I/O errors or duplicate names.
  SafetensorsWriter(std::string path, std::vector<TensorSpec> specs,
                    const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsWriter();  // removes the partial file if finish() was not reached
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Appends the next tensor (spec order). t must match the spec's shape; it is converted to the
  // spec's dtype, moved to the CPU and made contiguous as needed. Throws CheckpointError.
  void write(const at::Tensor& t);
  // The name of the tensor write() expects next ("" when all are written).
  std::string next_name() const;
  // Flushes, closes and renames to the final path. Throws if tensors are missing.
  void finish();

 private:
  std::string path_;
  std::vector<TensorSpec> specs_;
  size_t next_ = 0;
  std::FILE* f_ = nullptr;
};

// Writes all tensors (in the given order) with metadata to path in one call.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ff::io
