#include "worker/engine/app/tensor_blob.hpp"

#include <cstring>
#include <stdexcept>

namespace ff::engine {
namespace {

at::ScalarType dtype_of(const std::string& s, const std::string& what) {
  if (s == "bf16") return at::kBFloat16;
  if (s == "f16") return at::kHalf;
  if (s == "f32") return at::kFloat;
  throw std::invalid_argument(what + ": unsupported dtype '" + s + "' (expected bf16, f16 or f32)");
}

}  // namespace

at::Tensor tensor_from_blob(const proto::TensorBlob& blob, const std::string& what) {
  const auto st = dtype_of(blob.dtype, what);
  int64_t numel = 1;
  for (auto d : blob.shape) {
    if (d < 0 || d > (int64_t{1} << 40)) throw std::invalid_argument(what + ": bad dimension " + std::to_string(d));
    numel *= d;
    if (numel > (int64_t{1} << 40)) throw std::invalid_argument(what + ": tensor too large");
  }
  const size_t bytes = static_cast<size_t>(numel) * c10::elementSize(st);
  if (blob.data.size() != bytes)
    throw std::invalid_argument(what + ": " + std::to_string(blob.data.size()) + " data bytes, shape and dtype need " +
                                std::to_string(bytes));
  auto t = at::empty(blob.shape, at::TensorOptions().dtype(st));
  if (bytes) std::memcpy(t.data_ptr(), blob.data.data(), bytes);
  return t;
}

proto::TensorBlob blob_from_tensor(const at::Tensor& t) {
  proto::TensorBlob b;
  switch (t.scalar_type()) {
    case at::kBFloat16: b.dtype = "bf16"; break;
    case at::kHalf: b.dtype = "f16"; break;
    case at::kFloat: b.dtype = "f32"; break;
    default: throw std::invalid_argument("blob_from_tensor: unsupported dtype");
  }
  auto c = t.to(at::kCPU).contiguous();
  b.shape.assign(c.sizes().begin(), c.sizes().end());
  b.data.assign(static_cast<const char*>(c.data_ptr()), c.nbytes());
  return b;
}

}  // namespace ff::engine
