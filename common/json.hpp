// A small, strict, torch-free JSON value, parser and serializer (RFC 8259).
// - Objects keep their keys in insertion (document) order; duplicate keys are a parse error.
// - Numbers: an integer literal (no fraction, no exponent) that fits int64 is stored as Int,
//   every other number as Double. as_double() accepts both; as_int() accepts Int and integral
//   Doubles within int64 range.
// - Strings are UTF-8; the parser validates UTF-8 and decodes \uXXXX escapes (with surrogate
//   pairs). The serializer writes UTF-8 as is and escapes '"', '\\' and control characters.
// - Parse errors throw json::ParseError naming the problem and the byte offset.
// - Accessor misuse (wrong type, missing key) throws json::TypeError naming the key/type.
// All functions are pure and thread-compatible (no shared state).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ff::json {

class Value;

// Thrown by parse(): message is "json: <what> at byte <offset>".
struct ParseError : std::runtime_error {
  ParseError(const std::string& what, size_t offset);
  size_t offset;  // byte offset into the input where the problem was found
  std::string reason;  // the problem without the offset
};

// Thrown by accessors on type mismatch or missing key, and by dump() on non-finite numbers.
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Object;
using Array = std::vector<Value>;

enum class Type { Null, Bool, Int, Double, String, Array, Object };

// "null", "bool", "int", "double", "string", "array", "object".
const char* type_name(Type t);

class Value {
 public:
  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : type_(Type::Bool), b_(b) {}
  Value(int v) : type_(Type::Int), i_(v) {}
  Value(long v) : type_(Type::Int), i_(v) {}
  Value(long long v) : type_(Type::Int), i_(v) {}
  Value(unsigned v) : type_(Type::Int), i_(v) {}
  Value(unsigned long v);       // throws TypeError above INT64_MAX
  Value(unsigned long long v);  // throws TypeError above INT64_MAX
  Value(double v) : type_(Type::Double), d_(v) {}
  Value(std::string s);
  Value(std::string_view s) : Value(std::string(s)) {}
  Value(const char* s) : Value(std::string(s)) {}
  Value(Array a);
  Value(Object o);

  Value(const Value& o);
  Value(Value&& o) noexcept;
  Value& operator=(const Value& o);
  Value& operator=(Value&& o) noexcept;
  ~Value();

  Type type() const { return type_; }
  const char* type_name() const { return json::type_name(type_); }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_int() const { return type_ == Type::Int; }
  bool is_double() const { return type_ == Type::Double; }
  bool is_number() const { return type_ == Type::Int || type_ == Type::Double; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Typed access; each throws TypeError("expected X, got Y") on mismatch.
  bool as_bool() const;
  int64_t as_int() const;
  double as_double() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Object member access: throws TypeError when not an object or the key is missing.
  const Value& operator[](std::string_view key) const;
  // Object member lookup: nullptr when not an object or the key is missing.
  const Value* find(std::string_view key) const;
  // Array element access with bounds check (TypeError).
  const Value& operator[](size_t i) const;

  bool operator==(const Value& o) const;

 private:
  Type type_ = Type::Null;
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::unique_ptr<std::string> s_;
  std::unique_ptr<Array> a_;
  std::unique_ptr<Object> o_;
};

// An ordered map: keys keep insertion order; set() replaces an existing key in place.
class Object {
 public:
  Object() = default;
  Object(std::initializer_list<std::pair<std::string, Value>> items);
  // Pointer to the value under key, or nullptr.
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // The value under key; throws TypeError("missing key 'k'") when absent.
  const Value& at(std::string_view key) const;
  // Inserts or replaces key; returns the stored value.
  Value& set(std::string key, Value v);
  // Removes key if present; returns whether it was present.
  bool erase(std::string_view key);
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  auto begin() { return items_.begin(); }
  auto end() { return items_.end(); }
  bool operator==(const Object& o) const;

 private:
  std::vector<std::pair<std::string, Value>> items_;
};

struct ParseOptions {
  size_t max_depth = 256;  // nesting deeper than this is a ParseError (no stack overflow)
};

// Parses exactly one JSON value surrounded by optional whitespace. Throws ParseError.
Value parse(std::string_view text, const ParseOptions& opts = {});

// Serializes v. indent < 0: compact one line; indent >= 0: pretty, that many spaces per level.
// Doubles are written in the shortest form that round-trips, always distinguishable from
// integers ("1.0", "1e+20"). Throws TypeError on NaN or infinity (not representable in JSON).
std::string dump(const Value& v, int indent = -1);

}  // namespace ff::json
