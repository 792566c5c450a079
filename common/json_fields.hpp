// Strict decoding of JSON text into plain structs, on top of nlohmann-json (3.11).
//
// Contract (pure functions, no shared state; thread-compatible):
// - parse() accepts exactly one RFC 8259 value: no comments, no trailing content. nlohmann already
//   refuses invalid UTF-8 (overlong forms and encoded surrogates included), lone \u surrogates,
//   trailing commas, NaN/Infinity literals and numbers beyond double range; parse() adds two
//   checks of its own: duplicate object keys and nesting deeper than max_depth are errors.
// - Every error is a json::Error (a std::invalid_argument) whose message names where the problem
//   is: "<what>: <problem>" from parse(), "<key path>: <problem>" from the readers, e.g.
//   "vae_tiling.long_side_tile_px: expected integer, got string".
// - Readers: a missing required key, a value of the wrong type (null included), an integer out of
//   the target type's range or of the caller's [lo, hi], and (with allow_only) a key outside the
//   allowed set are errors. Integers accept integral numbers written as floats (16000.0, 1e6),
//   as the readers this replaces did; floating-point targets accept any number.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

namespace ff::json {

// ordered_json, not json: objects keep document order. The configs and safetensors metadata we
// read are also written back out (the engine config handed to the engine, metadata of files we
// save, reports) and read by people and diffed by tests; a re-sorted object would change those
// bytes and the order in which errors and listings appear. Lookups are linear in the member
// count, which is fine for config-sized objects.
using Json = nlohmann::ordered_json;

struct Error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Parses `text` (see the contract above). `what` names the source in errors ("engine config
// /etc/x.json", "model.safetensors header"); nlohmann's message keeps its byte position.
Json parse(std::string_view text, const std::string& what, size_t max_depth = 256);

// "null", "boolean", "integer", "number", "string", "array" or "object".
const char* type_of(const Json& v);

// "<path>.<key>", or "<key>" when path is empty (the document root).
inline std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

template <class T>
struct is_vector : std::false_type {};
template <class U>
struct is_vector<std::vector<U>> : std::true_type {};
template <class T>
struct is_optional : std::false_type {};
template <class U>
struct is_optional<std::optional<U>> : std::true_type {};
template <class T>
struct is_string_map : std::false_type {};
template <class U>
struct is_string_map<std::map<std::string, U>> : std::true_type {};

[[noreturn]] inline void fail(const std::string& path, const std::string& problem) {
  throw Error((path.empty() ? std::string("(document)") : path) + ": " + problem);
}
// The same for the member `key` of the object at `path`: "<path>.<key>: <problem>".
[[noreturn]] inline void fail(const std::string& path, std::string_view key, const std::string& problem) {
  fail(join(path, key), problem);
}

// Decodes v as T or throws Error naming `path`. T: bool, std::string, any integer type (checked
// against T's range), float/double, Json (anything), std::optional<U> (null -> nullopt),
// std::vector<U> (elements named path[i]), std::map<std::string, U> (members named path.key).
template <class T>
T decode(const Json& v, const std::string& path) {
  if constexpr (std::is_same_v<T, Json>) {
    return v;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) fail(path, std::string("expected boolean, got ") + type_of(v));
    return v.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) fail(path, std::string("expected string, got ") + type_of(v));
    return v.get<std::string>();
  } else if constexpr (std::is_integral_v<T>) {
    const auto range = [&] {
      return "[" + std::to_string(std::numeric_limits<T>::min()) + ", " +
             std::to_string(std::numeric_limits<T>::max()) + "]";
    };
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max()))
        fail(path, "integer " + std::to_string(u) + " out of range " + range());
      return static_cast<T>(u);
    }
    if (v.is_number_integer()) {
      const int64_t i = v.get<int64_t>();
      if constexpr (std::is_signed_v<T>) {
        if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
            i > static_cast<int64_t>(std::numeric_limits<T>::max()))
          fail(path, "integer " + std::to_string(i) + " out of range " + range());
      } else {
        if (i < 0 || static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max()))
          fail(path, "integer " + std::to_string(i) + " out of range " + range());
      }
      return static_cast<T>(i);
    }
    if (v.is_number_float()) {
      const double d = v.get<double>();
      // 2^63 and -2^63 are exact doubles; the comparison below is exact for long double.
      if (d != std::floor(d)) fail(path, "expected integer, got " + v.dump());
      if (static_cast<long double>(d) < static_cast<long double>(std::numeric_limits<T>::min()) ||
          static_cast<long double>(d) > static_cast<long double>(std::numeric_limits<T>::max()))
        fail(path, "integer " + v.dump() + " out of range " + range());
      return static_cast<T>(d);
    }
    fail(path, std::string("expected integer, got ") + type_of(v));
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) fail(path, std::string("expected number, got ") + type_of(v));
    return v.get<T>();
  } else if constexpr (is_optional<T>::value) {
    if (v.is_null()) return std::nullopt;
    return decode<typename T::value_type>(v, path);
  } else if constexpr (is_vector<T>::value) {
    if (!v.is_array()) fail(path, std::string("expected array, got ") + type_of(v));
    T out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i)
      out.push_back(decode<typename T::value_type>(v[i], path + "[" + std::to_string(i) + "]"));
    return out;
  } else if constexpr (is_string_map<T>::value) {
    if (!v.is_object()) fail(path, std::string("expected object, got ") + type_of(v));
    T out;
    for (const auto& [k, e] : v.items()) out.emplace(k, decode<typename T::mapped_type>(e, join(path, k)));
    return out;
  } else {
    static_assert(sizeof(T) == 0, "json::decode: unsupported type");
  }
}

// Throws Error "<path>: must be in [lo, hi], got x" unless lo <= x <= hi.
template <class T>
T in_range(T x, T lo, T hi, const std::string& path) {
  if (!(x >= lo && x <= hi)) {
    auto s = [](T v) {
      if constexpr (std::is_integral_v<T>) return std::to_string(v);
      else return Json(v).dump();
    };
    fail(path, "must be in [" + s(lo) + ", " + s(hi) + "], got " + s(x));
  }
  return x;
}

// One JSON object being decoded, remembering its key path for errors. Holds a reference: the
// Json must outlive the Fields (do not build one from a temporary).
class Fields {
 public:
  // Throws Error "<path>: expected object, got <type>". An empty path is the document root.
  Fields(const Json& v, std::string path) : v_(v), path_(std::move(path)) {
    if (!v_.is_object()) fail(path_, std::string("expected object, got ") + type_of(v_));
  }

  // Throws Error "<path>.<k>: unknown key (allowed: a, b, c)" for the first member outside
  // `allowed`, in document order.
  const Fields& allow_only(std::initializer_list<std::string_view> allowed) const {
    for (const auto& [k, _] : v_.items()) {
      bool ok = false;
      for (auto a : allowed) ok = ok || a == k;
      if (ok) continue;
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      fail(path(k), "unknown key (allowed: " + list + ")");
    }
    return *this;
  }

  const Json& json() const { return v_; }
  const std::string& path() const { return path_; }
  std::string path(std::string_view key) const { return join(path_, key); }
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // The member under key, or nullptr.
  const Json* find(std::string_view key) const {
    auto it = v_.find(std::string(key));
    return it == v_.end() ? nullptr : &*it;
  }

  // The member under key decoded as T; Error "<path.key>: missing required key" when absent.
  template <class T>
  T required(std::string_view key) const {
    return decode<T>(at(key), path(key));
  }
  template <class T>
  T required(std::string_view key, T lo, T hi) const {
    return in_range<T>(required<T>(key), lo, hi, path(key));
  }
  // Sets out when key is present and returns true; out keeps its value (the default) otherwise.
  // A present null is a type error unless T is std::optional.
  template <class T>
  bool optional(std::string_view key, T& out) const {
    const Json* m = find(key);
    if (m) out = decode<T>(*m, path(key));
    return m != nullptr;
  }
  template <class T>
  bool optional(std::string_view key, T& out, T lo, T hi) const {
    const Json* m = find(key);
    if (m) out = in_range<T>(decode<T>(*m, path(key)), lo, hi, path(key));
    return m != nullptr;
  }
  // The member under key decoded as T, or `fallback` when absent.
  template <class T>
  T get_or(std::string_view key, T fallback) const {
    optional(key, fallback);
    return fallback;
  }
  // A required member that must itself be an object.
  Fields object(std::string_view key) const { return Fields(at(key), path(key)); }

 private:
  const Json& at(std::string_view key) const {
    const Json* m = find(key);
    if (!m) fail(path(key), "missing required key");
    return *m;
  }
  const Json& v_;
  std::string path_;
};

}  // namespace ff::json
