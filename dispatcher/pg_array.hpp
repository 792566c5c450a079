// PostgreSQL array literals for batch statements (libpqxx 6.4 has no array parameters):
// statements take `$n::bigint[]` / `$n::text[]` and UPDATE ... FROM unnest(...). Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ff::dispatcher {

// {1,2,3}
template <typename Int>
std::string int_array(const std::vector<Int>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "}";
}

// {"a","b\"c",NULL}: every element quoted, backslash and quote escaped; nullopt -> NULL.
inline std::string text_array(const std::vector<std::optional<std::string>>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    if (!v[i]) {
      s += "NULL";
      continue;
    }
    s += '"';
    for (char c : *v[i]) {
      if (c == '"' || c == '\\') s += '\\';
      s += c;
    }
    s += '"';
  }
  return s + "}";
}

inline std::string text_array(const std::vector<std::string>& v) {
  std::vector<std::optional<std::string>> o(v.begin(), v.end());
  return text_array(o);
}

}  // namespace ff::dispatcher
