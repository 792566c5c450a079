// Sanitising worker-supplied strings before they reach PostgreSQL (a bad byte would make a whole
// batch statement fail). Pure; any thread.
#pragma once

#include <string>
#include <string_view>

namespace ff::dispatcher {

// Returns `s` as valid UTF-8 without NUL bytes: invalid sequences and NULs become U+FFFD; the
// result is cut (at a character boundary) to at most max_bytes.
inline std::string sanitize_text(std::string_view s, size_t max_bytes = 4096) {
  static const char kRepl[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c == 0) len = 0;
    else if (c < 0x80) { len = 1; cp = c; }
    else if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (cc & 0x3F);
    }
    if (ok) {
      if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
          cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        ok = false;
    }
    std::string_view piece = ok ? s.substr(i, len) : std::string_view(kRepl, 3);
    if (out.size() + piece.size() > max_bytes) break;
    out.append(piece);
    i += ok ? len : 1;
  }
  return out;
}

}  // namespace ff::dispatcher
