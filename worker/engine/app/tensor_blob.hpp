// Conversion between wire TensorBlobs (common/protocol.hpp) and tensors.
#pragma once

#include <string>

#include <ATen/ATen.h>

#include "common/protocol.hpp"

namespace ff::engine {

// A CPU tensor owning a copy of the blob's bytes. Throws std::invalid_argument naming `what` when
// the dtype is not "bf16"/"f16"/"f32", a dimension is negative, or the byte count does not match.
at::Tensor tensor_from_blob(const proto::TensorBlob& blob, const std::string& what);

// The blob for a bf16/f16/f32 tensor (copied to the CPU, contiguous). Throws std::invalid_argument
// for other dtypes.
proto::TensorBlob blob_from_tensor(const at::Tensor& t);

}  // namespace ff::engine
