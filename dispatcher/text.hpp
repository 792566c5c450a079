// Sanitising worker-supplied strings before they reach PostgreSQL (a bad byte would make a whole
// batch statement fail): common/utf8.hpp is the one implementation. Pure; any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/utf8.hpp"

namespace ff::dispatcher {

// `s` as valid UTF-8 without NUL bytes (ill-formed bytes and NULs become U+FFFD), cut at a
// character boundary to at most max_bytes.
inline std::string sanitize_text(std::string_view s, size_t max_bytes = 4096) {
  return utf8::sanitize(s, max_bytes);
}

}  // namespace ff::dispatcher
