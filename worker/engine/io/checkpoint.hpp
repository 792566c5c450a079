// A checkpoint made of one or more safetensors files: a single file, or HF sharded layout with
// model.safetensors.index.json ({"metadata": {...}, "weight_map": {tensor: shard file}}).
// Every shard is mapped and validated at open; tensor lookups check names, shapes and dtypes
// and throw CheckpointError naming the file and tensor.
// Thread-safety: immutable after open(); const methods may be called from any thread.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "worker/engine/io/safetensors.hpp"

namespace ff::io {

class Checkpoint {
 public:
  // Opens path, which is either a .safetensors file, a *.safetensors.index.json file, or a
  // directory holding model.safetensors.index.json (preferred) or model.safetensors.
  // Throws CheckpointError on any bad input: missing files, an index that is not valid JSON or
  // lacks weight_map, a shard missing a tensor the index promises, bad shards.
  static Checkpoint open(const std::string& path);

  // A human-readable name of where this checkpoint came from (the index or file path).
  const std::string& source() const { return source_; }
  // All tensor names, sorted.
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  // Header entry of name; throws CheckpointError("<source>: missing tensor 'name'").
  const TensorInfo& info(const std::string& name) const;
  // The file holding name (for error messages).
  const std::string& file_of(const std::string& name) const;

  // Zero-copy CPU view over the mapping (see SafetensorsFile::view).
  at::Tensor view(const std::string& name) const;
  // Zero-copy view after checking shape and, when given, dtype. Throws CheckpointError naming
  // file, tensor, expected and actual shape/dtype on mismatch.
  at::Tensor get(const std::string& name, at::IntArrayRef expected_shape,
                 std::optional<at::ScalarType> expected_dtype = std::nullopt) const;
  // Metadata of the first file (single file) or the index's "metadata" values that are strings.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The shards, in the order first mentioned.
  const std::vector<std::shared_ptr<const SafetensorsFile>>& files() const { return files_; }

 private:
  std::string source_;
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // tensor -> index into files_
  std::map<std::string, std::string> metadata_;
};

}  // namespace ff::io
