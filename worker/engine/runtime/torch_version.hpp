// FF_TORCH_AT_LEAST(major, minor): compile-time libtorch version test, one spelling for every
// version-dependent kernel choice (Debian's libtorch is 1.13; the GPU hosts run 2.x).
#pragma once

#include <torch/version.h>

#define FF_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))
