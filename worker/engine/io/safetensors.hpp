// Reading safetensors files (https://github.com/huggingface/safetensors format):
// 8-byte little-endian header length N, N bytes of JSON header, then the raw tensor bytes.
// A file is memory-mapped once (read-only for others: private copy-on-write mapping) and its
// header is fully validated at open; tensors are returned as at::Tensor views over the mapping
// (zero copy; the view keeps the mapping alive) or as owned copies.
// Thread-safety: a SafetensorsFile is immutable after open(); all const methods may be called
// from any thread.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "worker/engine/io/checkpoint_error.hpp"

namespace ff::io {

// One header entry.
struct TensorInfo {
  std::string name;
  std::string dtype;            // safetensors spelling: "F32", "BF16", "F16", "I64", ...
  at::ScalarType scalar_type;   // the matching torch type
  std::vector<int64_t> shape;
  uint64_t begin = 0;           // byte offsets relative to the start of the data section
  uint64_t end = 0;
  int64_t numel() const;
};

// The safetensors dtype string for a torch type ("F32", ...); throws CheckpointError if none.
std::string safetensors_dtype(at::ScalarType t);
// The torch type for a safetensors dtype string; nullopt when unknown.
std::optional<at::ScalarType> scalar_type_from_safetensors(const std::string& dtype);
// Bytes per element of a safetensors dtype string (0 when unknown).
size_t safetensors_dtype_size(const std::string& dtype);
// "[2, 3]" for error messages.
std::string shape_string(at::IntArrayRef shape);

class SafetensorsFile : public std::enable_shared_from_this<SafetensorsFile> {
 public:
  // Maps and validates path. Throws CheckpointError naming the file (and tensor) on: missing or
  // unreadable file, file shorter than its header says (truncated), header that is not valid
  // JSON or not a safetensors header, unknown dtype, bad shape, data offsets out of range,
  // overlapping tensors, or a byte size that does not match shape x dtype.
  static std::shared_ptr<const SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Entries in header order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // The entry for name, or nullptr.
  const TensorInfo* find(const std::string& name) const;
  // The "__metadata__" map (string -> string); empty when absent.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Total size of the file in bytes.
  uint64_t file_size() const { return size_; }

  // A CPU tensor aliasing the mapped bytes (no copy). The tensor holds a reference to this file,
  // so the mapping outlives every view. Writes to the view change only this process's private
  // copy of the pages, never the file. If the bytes are not aligned to the element size, an
  // owned copy is returned instead. Throws CheckpointError when name is missing.
  at::Tensor view(const std::string& name) const;
  // An owned, contiguous CPU copy of the tensor (independent of the mapping).
  at::Tensor copy(const std::string& name) const;
  // The raw bytes of a tensor inside the mapping.
  const uint8_t* data(const TensorInfo& info) const { return data_ + info.begin; }

 private:
  SafetensorsFile() = default;
  const TensorInfo& require(const std::string& name) const;
  [[noreturn]] void fail(const std::string& what) const;

  std::string path_;
  void* map_ = nullptr;
  uint64_t size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section
  uint64_t data_size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace ff::io
