#include "common/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace ff::json {

ParseError::ParseError(const std::string& what, size_t off)
    : std::runtime_error("json: " + what + " at byte " + std::to_string(off)),
      offset(off),
      reason(what) {}

const char* type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "bool";
    case Type::Int: return "int";
    case Type::Double: return "double";
    case Type::String: return "string";
    case Type::Array: return "array";
    case Type::Object: return "object";
  }
  return "?";
}

// ---------------------------------------------------------------- Value

Value::Value(std::string s) : type_(Type::String), s_(std::make_unique<std::string>(std::move(s))) {}
Value::Value(Array a) : type_(Type::Array), a_(std::make_unique<Array>(std::move(a))) {}
Value::Value(Object o) : type_(Type::Object), o_(std::make_unique<Object>(std::move(o))) {}
static int64_t checked_u64(unsigned long long v) {
  if (v > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max()))
    throw TypeError("json: integer " + std::to_string(v) + " exceeds int64 range");
  return static_cast<int64_t>(v);
}
Value::Value(unsigned long v) : type_(Type::Int), i_(checked_u64(v)) {}
Value::Value(unsigned long long v) : type_(Type::Int), i_(checked_u64(v)) {}
Value::Value(Value&& o) noexcept = default;
Value& Value::operator=(Value&& o) noexcept = default;
Value::~Value() = default;

Value::Value(const Value& o) : type_(o.type_), b_(o.b_), i_(o.i_), d_(o.d_) {
  if (o.s_) s_ = std::make_unique<std::string>(*o.s_);
  if (o.a_) a_ = std::make_unique<Array>(*o.a_);
  if (o.o_) o_ = std::make_unique<Object>(*o.o_);
}

Value& Value::operator=(const Value& o) {
  if (this != &o) {
    Value tmp(o);
    *this = std::move(tmp);
  }
  return *this;
}

static TypeError mismatch(const char* want, Type got) {
  return TypeError(std::string("json: expected ") + want + ", got " + type_name(got));
}

bool Value::as_bool() const {
  if (type_ != Type::Bool) throw mismatch("bool", type_);
  return b_;
}

int64_t Value::as_int() const {
  if (type_ == Type::Int) return i_;
  if (type_ == Type::Double) {
    // 2^63 is exactly representable; values in [-2^63, 2^63) convert without overflow.
    if (std::isfinite(d_) && d_ == std::floor(d_) && d_ >= -9223372036854775808.0 &&
        d_ < 9223372036854775808.0)
      return static_cast<int64_t>(d_);
    throw TypeError("json: expected an integer, got non-integral number " + dump(*this));
  }
  throw mismatch("int", type_);
}

double Value::as_double() const {
  if (type_ == Type::Double) return d_;
  if (type_ == Type::Int) return static_cast<double>(i_);
  throw mismatch("number", type_);
}

const std::string& Value::as_string() const {
  if (type_ != Type::String) throw mismatch("string", type_);
  return *s_;
}
const Array& Value::as_array() const {
  if (type_ != Type::Array) throw mismatch("array", type_);
  return *a_;
}
Array& Value::as_array() {
  if (type_ != Type::Array) throw mismatch("array", type_);
  return *a_;
}
const Object& Value::as_object() const {
  if (type_ != Type::Object) throw mismatch("object", type_);
  return *o_;
}
Object& Value::as_object() {
  if (type_ != Type::Object) throw mismatch("object", type_);
  return *o_;
}

const Value& Value::operator[](std::string_view key) const { return as_object().at(key); }

const Value* Value::find(std::string_view key) const {
  if (type_ != Type::Object) return nullptr;
  return o_->find(key);
}

const Value& Value::operator[](size_t i) const {
  const Array& a = as_array();
  if (i >= a.size())
    throw TypeError("json: array index " + std::to_string(i) + " out of range (size " +
                    std::to_string(a.size()) + ")");
  return a[i];
}

bool Value::operator==(const Value& o) const {
  if (type_ != o.type_) return false;
  switch (type_) {
    case Type::Null: return true;
    case Type::Bool: return b_ == o.b_;
    case Type::Int: return i_ == o.i_;
    case Type::Double: return d_ == o.d_;
    case Type::String: return *s_ == *o.s_;
    case Type::Array: return *a_ == *o.a_;
    case Type::Object: return *o_ == *o.o_;
  }
  return false;
}

// ---------------------------------------------------------------- Object

Object::Object(std::initializer_list<std::pair<std::string, Value>> items) {
  for (const auto& kv : items) set(kv.first, kv.second);
}

const Value* Object::find(std::string_view key) const {
  for (const auto& kv : items_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

Value* Object::find(std::string_view key) {
  for (auto& kv : items_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

const Value& Object::at(std::string_view key) const {
  if (const Value* v = find(key)) return *v;
  throw TypeError("json: missing key '" + std::string(key) + "'");
}

Value& Object::set(std::string key, Value v) {
  if (Value* old = find(key)) {
    *old = std::move(v);
    return *old;
  }
  items_.emplace_back(std::move(key), std::move(v));
  return items_.back().second;
}

bool Object::erase(std::string_view key) {
  for (auto it = items_.begin(); it != items_.end(); ++it) {
    if (it->first == key) {
      items_.erase(it);
      return true;
    }
  }
  return false;
}

bool Object::operator==(const Object& o) const { return items_ == o.items_; }

// ---------------------------------------------------------------- parser

namespace {

class Parser {
 public:
  Parser(std::string_view t, const ParseOptions& o) : s_(t), opts_(o) {}

  Value run() {
    skip_ws();
    Value v = value(0);
    skip_ws();
    if (p_ != s_.size()) fail("unexpected trailing characters after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw ParseError(what, p_); }
  [[noreturn]] void fail_at(const std::string& what, size_t at) const { throw ParseError(what, at); }

  bool eof() const { return p_ >= s_.size(); }
  char peek() const { return s_[p_]; }

  void skip_ws() {
    while (!eof()) {
      char c = peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        ++p_;
      else
        break;
    }
  }

  static std::string show(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", u);
    return buf;
  }

  void expect_literal(std::string_view lit) {
    if (s_.substr(p_, lit.size()) != lit) fail("invalid literal (expected '" + std::string(lit) + "')");
    p_ += lit.size();
  }

  Value value(size_t depth) {
    if (eof()) fail("unexpected end of input, expected a value");
    char c = peek();
    switch (c) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return Value(string());
      case 't': expect_literal("true"); return Value(true);
      case 'f': expect_literal("false"); return Value(false);
      case 'n': expect_literal("null"); return Value(nullptr);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        fail("unexpected character " + show(c) + ", expected a value");
    }
  }

  void check_depth(size_t depth) {
    if (depth > opts_.max_depth)
      fail("nesting deeper than " + std::to_string(opts_.max_depth) + " levels");
  }

  Value object(size_t depth) {
    check_depth(depth);
    ++p_;  // '{'
    Object obj;
    skip_ws();
    if (!eof() && peek() == '}') {
      ++p_;
      return Value(std::move(obj));
    }
    for (;;) {
      skip_ws();
      if (eof()) fail("unexpected end of input in object, expected a key");
      if (peek() != '"') fail("expected a string key in object, got " + show(peek()));
      size_t key_at = p_;
      std::string key = string();
      if (obj.contains(key)) fail_at("duplicate key '" + key + "'", key_at);
      skip_ws();
      if (eof()) fail("unexpected end of input in object, expected ':'");
      if (peek() != ':') fail("expected ':' after object key, got " + show(peek()));
      ++p_;
      skip_ws();
      obj.set(std::move(key), value(depth));
      skip_ws();
      if (eof()) fail("unexpected end of input in object, expected ',' or '}'");
      char c = peek();
      ++p_;
      if (c == '}') return Value(std::move(obj));
      if (c != ',') {
        --p_;
        fail("expected ',' or '}' in object, got " + show(c));
      }
      skip_ws();
      if (!eof() && peek() == '}') fail("trailing comma in object");
    }
  }

  Value array(size_t depth) {
    check_depth(depth);
    ++p_;  // '['
    Array arr;
    skip_ws();
    if (!eof() && peek() == ']') {
      ++p_;
      return Value(std::move(arr));
    }
    for (;;) {
      skip_ws();
      arr.push_back(value(depth));
      skip_ws();
      if (eof()) fail("unexpected end of input in array, expected ',' or ']'");
      char c = peek();
      ++p_;
      if (c == ']') return Value(std::move(arr));
      if (c != ',') {
        --p_;
        fail("expected ',' or ']' in array, got " + show(c));
      }
      skip_ws();
      if (!eof() && peek() == ']') fail("trailing comma in array");
    }
  }

  Value number() {
    size_t start = p_;
    bool integral = true;
    if (peek() == '-') ++p_;
    if (eof()) fail("unexpected end of input in number");
    if (peek() == '0') {
      ++p_;
      if (!eof() && peek() >= '0' && peek() <= '9') fail_at("leading zero in number", start);
    } else if (peek() >= '1' && peek() <= '9') {
      while (!eof() && peek() >= '0' && peek() <= '9') ++p_;
    } else {
      fail("expected a digit in number");
    }
    if (!eof() && peek() == '.') {
      integral = false;
      ++p_;
      if (eof() || !(peek() >= '0' && peek() <= '9')) fail("expected a digit after '.' in number");
      while (!eof() && peek() >= '0' && peek() <= '9') ++p_;
    }
    if (!eof() && (peek() == 'e' || peek() == 'E')) {
      integral = false;
      ++p_;
      if (!eof() && (peek() == '+' || peek() == '-')) ++p_;
      if (eof() || !(peek() >= '0' && peek() <= '9')) fail("expected a digit in number exponent");
      while (!eof() && peek() >= '0' && peek() <= '9') ++p_;
    }
    const char* b = s_.data() + start;
    const char* e = s_.data() + p_;
    if (integral) {
      int64_t v = 0;
      auto r = std::from_chars(b, e, v);
      if (r.ec == std::errc() && r.ptr == e) return Value(static_cast<long long>(v));
      // Out of int64 range: fall through to double.
    }
    double d = 0;
    auto r = std::from_chars(b, e, d);
    if (r.ec == std::errc::result_out_of_range) fail_at("number out of range", start);
    if (r.ec != std::errc() || r.ptr != e) fail_at("invalid number", start);
    return Value(d);
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  uint32_t hex4() {
    if (p_ + 4 > s_.size()) fail("unexpected end of input in \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[p_ + i];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else fail_at("invalid hex digit in \\u escape", p_ + i);
    }
    p_ += 4;
    return v;
  }

  // Validates one UTF-8 sequence starting at p_ (a byte >= 0x80) and copies it to out.
  void utf8_seq(std::string& out) {
    size_t at = p_;
    unsigned char c = static_cast<unsigned char>(s_[p_]);
    int n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
    else fail_at("invalid UTF-8 byte in string", at);
    if (p_ + n >= s_.size()) fail_at("truncated UTF-8 sequence in string", at);
    for (int i = 1; i <= n; ++i) {
      unsigned char cc = static_cast<unsigned char>(s_[p_ + i]);
      if ((cc & 0xC0) != 0x80) fail_at("invalid UTF-8 continuation byte in string", p_ + i);
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) fail_at("overlong UTF-8 sequence in string", at);
    if (cp >= 0xD800 && cp <= 0xDFFF) fail_at("UTF-8 encoded surrogate in string", at);
    if (cp > 0x10FFFF) fail_at("UTF-8 code point beyond U+10FFFF in string", at);
    out.append(s_.data() + p_, n + 1);
    p_ += n + 1;
  }

  std::string string() {
    size_t start = p_;
    ++p_;  // opening quote
    std::string out;
    for (;;) {
      if (eof()) fail_at("unterminated string", start);
      unsigned char c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++p_;
        return out;
      }
      if (c < 0x20) fail("unescaped control character " + show(static_cast<char>(c)) + " in string");
      if (c == '\\') {
        ++p_;
        if (eof()) fail_at("unterminated string", start);
        char e = peek();
        ++p_;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            size_t esc_at = p_ - 2;
            uint32_t cp = hex4();
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (s_.substr(p_, 2) != "\\u") fail_at("unpaired high surrogate in \\u escape", esc_at);
              p_ += 2;
              uint32_t lo = hex4();
              if (lo < 0xDC00 || lo > 0xDFFF) fail_at("invalid low surrogate in \\u escape", esc_at);
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              fail_at("unpaired low surrogate in \\u escape", esc_at);
            }
            append_utf8(out, cp);
            break;
          }
          default:
            --p_;
            fail("invalid escape '\\" + std::string(1, e) + "' in string");
        }
        continue;
      }
      if (c >= 0x80) {
        utf8_seq(out);
        continue;
      }
      out += static_cast<char>(c);
      ++p_;
    }
  }

  std::string_view s_;
  const ParseOptions& opts_;
  size_t p_ = 0;
};

void dump_string(std::string& out, const std::string& s) {
  out += '"';
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void dump_double(std::string& out, double d) {
  if (!std::isfinite(d)) throw TypeError("json: cannot serialize a non-finite number");
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string_view txt(buf, r.ptr - buf);
  out += txt;
  // Keep doubles distinguishable from integers so a round trip preserves the type.
  if (txt.find_first_of(".eE") == std::string_view::npos) out += ".0";
}

void newline(std::string& out, int indent, int level) {
  if (indent < 0) return;
  out += '\n';
  out.append(static_cast<size_t>(indent) * level, ' ');
}

void dump_value(std::string& out, const Value& v, int indent, int level) {
  switch (v.type()) {
    case Type::Null: out += "null"; break;
    case Type::Bool: out += v.as_bool() ? "true" : "false"; break;
    case Type::Int: out += std::to_string(v.as_int()); break;
    case Type::Double: dump_double(out, v.as_double()); break;
    case Type::String: dump_string(out, v.as_string()); break;
    case Type::Array: {
      const Array& a = v.as_array();
      out += '[';
      for (size_t i = 0; i < a.size(); ++i) {
        if (i) out += ',';
        newline(out, indent, level + 1);
        dump_value(out, a[i], indent, level + 1);
      }
      if (!a.empty()) newline(out, indent, level);
      out += ']';
      break;
    }
    case Type::Object: {
      const Object& o = v.as_object();
      out += '{';
      bool first = true;
      for (const auto& [k, val] : o) {
        if (!first) out += ',';
        first = false;
        newline(out, indent, level + 1);
        dump_string(out, k);
        out += indent < 0 ? ":" : ": ";
        dump_value(out, val, indent, level + 1);
      }
      if (!o.empty()) newline(out, indent, level);
      out += '}';
      break;
    }
  }
}

}  // namespace

Value parse(std::string_view text, const ParseOptions& opts) { return Parser(text, opts).run(); }

std::string dump(const Value& v, int indent) {
  std::string out;
  dump_value(out, v, indent, 0);
  return out;
}

}  // namespace ff::json
