// UTF-8 checks for strings that reach PostgreSQL `text` (which refuses ill-formed UTF-8 and NUL
// bytes, failing the whole statement): the one implementation; the dispatcher sanitises
// worker-supplied strings with it, the embedding cache checks prompts with it. Pure; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ff::utf8 {

// Bytes (1-4) of the well-formed UTF-8 character starting at s[i]; 0 when the bytes there are
// ill-formed: a stray continuation or invalid lead byte, a truncated or broken sequence, an
// overlong form, a surrogate (U+D800..U+DFFF) or a code point past U+10FFFF. A NUL byte is a
// well-formed 1-byte character. Requires i < s.size().
size_t sequence_length(std::string_view s, size_t i);

// True when `s` is well-formed UTF-8 without NUL bytes: a value PostgreSQL `text` accepts.
bool is_text(std::string_view s);

// `s` made into such a value: every byte that does not start a well-formed character, and every
// NUL, becomes U+FFFD; the result is cut at a character boundary to at most max_bytes.
std::string sanitize(std::string_view s, size_t max_bytes);

}  // namespace ff::utf8
