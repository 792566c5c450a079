// What the parity tests share: the relative L2 error they assert on, and an exception's message.
#pragma once

#include <algorithm>
#include <exception>
#include <string>

#include "tests/worker/engine/doctest_torch.hpp"

namespace ff::test {

// ||a - b|| / ||b|| in double; the shapes must agree.
inline double rel_err(const at::Tensor& a, const at::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  const at::Tensor x = a.to(at::kDouble), y = b.to(at::kDouble);
  return (x - y).norm().item<double>() / std::max(y.norm().item<double>(), 1e-30);
}

// The message of what `f` throws ("" when it does not throw).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace ff::test
