// Include this instead of <doctest/doctest.h> in tests that use torch: c10's logging header
// defines a glog-style CHECK(cond) macro that would silently replace doctest's CHECK. Torch is
// included first, its CHECK is removed, and doctest's macros are defined last.
#pragma once

#include <ATen/ATen.h>

#ifdef CHECK
#undef CHECK
#endif
#include <doctest/doctest.h>
