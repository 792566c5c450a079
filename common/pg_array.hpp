// PostgreSQL array literals, the one implementation: statements take `$n::bigint[]` /
// `$n::text[]` parameters in text form (libpqxx 6.4 has no array parameters; the embedding
// cache's libpq statements send them as text too) and UPDATE ... FROM unnest(...), and read
// int8[] columns back as text. Pure; any thread.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ff::pg {

// {1,-2,3}
template <typename Int>
std::string int_array(const std::vector<Int>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "}";
}

namespace detail {
// Appends one element: quoted, backslash and quote escaped; nullopt -> NULL (unquoted).
inline void append_text_element(std::string& s, std::optional<std::string_view> v) {
  if (!v) {
    s += "NULL";
    return;
  }
  s += '"';
  for (char c : *v) {
    if (c == '"' || c == '\\') s += '\\';
    s += c;
  }
  s += '"';
}
inline std::optional<std::string_view> text_element(const std::string& v) { return v; }
inline std::optional<std::string_view> text_element(const std::optional<std::string>& v) {
  return v ? std::optional<std::string_view>(*v) : std::nullopt;
}
inline std::optional<std::string_view> text_element(const std::string* v) {
  return v ? std::optional<std::string_view>(*v) : std::nullopt;
}
}  // namespace detail

// {"a","b\"c",NULL}: every element quoted (so "NULL" and "" stay strings), nullopt or a null
// pointer -> NULL. Elements: std::string, std::optional<std::string> or const std::string*
// (no copies of large prompts).
template <typename T>
std::string text_array(const std::vector<T>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    detail::append_text_element(s, detail::text_element(v[i]));
  }
  return s + "}";
}

// Parses a one-dimensional int8[] as PostgreSQL prints it ("{1024,4096}", "{}"); nullopt for
// anything else (NULL elements, nesting, explicit bounds "[0:1]={..}", values outside int64).
inline std::optional<std::vector<int64_t>> parse_int_array(std::string_view text) {
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return std::nullopt;
  std::vector<int64_t> out;
  const std::string_view body = text.substr(1, text.size() - 2);
  if (body.empty()) return out;
  for (size_t pos = 0;;) {
    const size_t comma = body.find(',', pos);
    const std::string_view item = body.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size()) return std::nullopt;
    out.push_back(value);
    if (comma == std::string_view::npos) return out;
    pos = comma + 1;
  }
}

}  // namespace ff::pg
