// The one exception type for bad checkpoint input (safetensors files, shard indexes, HF configs).
// Messages always name the file and, where there is one, the tensor or key: callers may show
// them to operators verbatim.
#pragma once

#include <stdexcept>
#include <string>

namespace ff::io {

struct CheckpointError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace ff::io
